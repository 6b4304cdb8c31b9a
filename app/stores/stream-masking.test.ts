import { describe, expect, it } from "bun:test";
import { MASK } from "../domain/secret-masking.ts";
import { createByteStreamMasker } from "./stream-masking.ts";

const SECRET = "tok-0123456789abcdef";
const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => Buffer.from(data).toString("latin1");

/** Everything `chunks` come out as, flushed at the end. */
function through(secrets: string[], chunks: (string | Uint8Array)[]): { parts: string[]; all: string } {
  const masker = createByteStreamMasker(secrets);
  const parts = chunks.map((chunk) => text(masker.push(typeof chunk === "string" ? bytes(chunk) : chunk)));
  parts.push(text(masker.flush()));
  return { parts, all: parts.join("") };
}

describe("createByteStreamMasker", () => {
  it("masks a secret split across chunks, and sends text that cannot begin one at once", () => {
    const { parts, all } = through([SECRET], ["$ echo $T\r\n", "tok-0123", "456789abcdef\r\n", "$ "]);
    expect(all).toBe(`$ echo $T\r\n${MASK}\r\n$ `);
    expect(parts[0]).toBe("$ echo $T\r\n");
    // The prompt does not wait for more output.
    expect(parts[3]).toBe("$ ");
  });

  it("holds back only the end that may begin a secret, until the flush", () => {
    const masker = createByteStreamMasker([SECRET]);
    expect(text(masker.push(bytes("abc tok-01")))).toBe("abc ");
    expect(masker.pending).toBe(true);
    // A piece that long of a secret is masked at a line's edge, as the log masks it.
    expect(text(masker.flush())).toBe(MASK);
    expect(masker.pending).toBe(false);
    expect(text(masker.push(bytes("x to")))).toBe("x ");
    expect(text(masker.flush())).toBe("to");
  });

  it("passes bytes that are not UTF-8 through unchanged, and masks a non-ASCII secret's UTF-8 bytes", () => {
    const binary = new Uint8Array([0, 255, 128, 10, 200, 1]);
    expect([...Buffer.from(through([SECRET], [binary]).all, "latin1")]).toEqual([...binary]);
    expect(through(["pässwörd-geheim"], ["x pässwörd-geheim y\n"]).all).toBe(`x ${MASK} y\n`);
  });

  it("masks nothing without secrets", () => {
    expect(through([], ["a", "b\n"]).all).toBe("ab\n");
  });
});
