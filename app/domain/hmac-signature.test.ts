// verifySignature: GitHub's documented test vector, and malformed headers of every shape
// and length are a plain `false`, never an exception.
import { describe, expect, it } from "bun:test";
import { signBody, verifySignature } from "./hmac-signature.ts";

const encode = (text: string) => new TextEncoder().encode(text);

// https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
const GITHUB = {
  secret: "It's a Secret to Everybody",
  body: encode("Hello, World!"),
  signature: "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
};

describe("verifySignature", () => {
  it("accepts GitHub's documented test vector", () => {
    expect(verifySignature(GITHUB.secret, GITHUB.body, GITHUB.signature)).toBe(true);
    expect(signBody(GITHUB.secret, GITHUB.body)).toBe(GITHUB.signature);
  });

  it("rejects upper-case and mixed-case hex digits: GitHub sends lowercase only", () => {
    const hex = GITHUB.signature.slice(7);
    expect(verifySignature(GITHUB.secret, GITHUB.body, `sha256=${hex.toUpperCase()}`)).toBe(false);
    expect(verifySignature(GITHUB.secret, GITHUB.body, `sha256=${hex.replace("b", "B")}`)).toBe(false);
  });

  it("rejects another secret, another body and a changed digit", () => {
    expect(verifySignature("It's a secret to everybody", GITHUB.body, GITHUB.signature)).toBe(false);
    expect(verifySignature(GITHUB.secret, encode("Hello, World?"), GITHUB.signature)).toBe(false);
    expect(verifySignature(GITHUB.secret, encode("Hello, World! "), GITHUB.signature)).toBe(false);
    expect(verifySignature(GITHUB.secret, GITHUB.body, `${GITHUB.signature.slice(0, -1)}f`)).toBe(false);
  });

  it("checks the exact bytes, not a decoded string", () => {
    const bytes = new Uint8Array([0xff, 0xfe, 0x00, 0x41]);
    const signature = signBody("secret", bytes);
    expect(verifySignature("secret", bytes, signature)).toBe(true);
    // The same bytes decoded and re-encoded as UTF-8 are different bytes.
    expect(verifySignature("secret", encode(new TextDecoder().decode(bytes)), signature)).toBe(false);
  });

  it("answers false for a missing header and malformed headers of any length", () => {
    const hex = GITHUB.signature.slice(7);
    const malformed = [
      undefined,
      "",
      " ",
      "sha256",
      "sha256=",
      "sha256= ",
      "sha1=" + hex.slice(0, 40),
      "sha512=" + hex + hex,
      hex,
      "SHA256=" + hex,
      "sha256:" + hex,
      " sha256=" + hex,
      "sha256=" + hex + " ",
      "sha256=" + hex + "\n",
      "sha256=" + hex.slice(0, 63),
      "sha256=" + hex + "0",
      "sha256=" + hex + hex,
      "sha256=" + hex.slice(0, 63) + "g",
      "sha256=" + "zz".repeat(32),
      "sha256=" + "é".repeat(64),
      "sha256=" + hex.replace(/./g, "０"),
      "sha256=\u0000" + hex.slice(1),
      "x".repeat(1000),
      "sha256=" + "a".repeat(993),
      "sha256=" + "a".repeat(1_000_000),
    ];
    // Every length from 0 to 80, the well-formed 71 included (a wrong digest is false too).
    for (let length = 0; length <= 80; length++) malformed.push("sha256=".slice(0, length) + "0".repeat(Math.max(0, length - 7)));
    for (const header of malformed) {
      expect(() => verifySignature(GITHUB.secret, GITHUB.body, header)).not.toThrow();
      expect(verifySignature(GITHUB.secret, GITHUB.body, header)).toBe(false);
    }
  });

  it("answers false for values that are not strings at all", () => {
    for (const header of [null, 42, ["sha256=" + GITHUB.signature.slice(7)], {}]) {
      expect(verifySignature(GITHUB.secret, GITHUB.body, header as unknown as string)).toBe(false);
    }
  });

  it("works with an empty body and an empty secret", () => {
    expect(verifySignature("", new Uint8Array(), signBody("", new Uint8Array()))).toBe(true);
    expect(verifySignature("k", new Uint8Array(), signBody("", new Uint8Array()))).toBe(false);
  });
});
