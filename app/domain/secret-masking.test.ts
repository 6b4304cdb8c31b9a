import { describe, expect, it } from "bun:test";
import { createLineSplitter } from "./line-splitter.ts";
import { createMasker, MASK, secretWarning } from "./secret-masking.ts";

// Quotes, ampersand and angle brackets: every escaping scheme changes this value.
const SECRET = `p4ss&<w0rd>"q'-${"k".repeat(8)}`;

describe("createMasker", () => {
  const masker = createMasker([SECRET]);
  const hidden = (text: string) => {
    const masked = masker.mask(text);
    expect(masked).toContain(MASK);
    return masked;
  };

  it("masks the value and its JSON-, URL-, base64-escaped forms", () => {
    expect(hidden(`token=${SECRET};`)).toBe(`token=${MASK};`);
    expect(hidden(JSON.stringify({ token: SECRET }))).toBe(`{"token":"${MASK}"}`);
    expect(hidden(`?t=${encodeURIComponent(SECRET)}&x=1`)).toBe(`?t=${MASK}&x=1`);
    expect(hidden(Buffer.from(SECRET).toString("base64"))).not.toContain(Buffer.from(SECRET).toString("base64").slice(4, 20));
  });

  it("masks every common XML/HTML escaping of the value", () => {
    const escape = (quot: string, apos: string, gt: string) =>
      SECRET.replace(/[&<>"']/g, (char) => ({ "&": "&amp;", "<": "&lt;", ">": gt, '"': quot, "'": apos })[char]!);
    for (const quot of ["&quot;", "&#34;", "&#x22;"]) {
      for (const apos of ["&apos;", "&#39;", "&#039;", "&#x27;"]) {
        for (const gt of ["&gt;", ">"]) expect(hidden(`<v a="${escape(quot, apos, gt)}"/>`)).toBe(`<v a="${MASK}"/>`);
      }
    }
    // Text content: only & < > escaped.
    expect(hidden(`<v>${escape('"', "'", "&gt;")}</v>`)).toBe(`<v>${MASK}</v>`);
  });

  it("masks the value's bytes as lowercase and uppercase hex", () => {
    const hex = Buffer.from(SECRET).toString("hex");
    expect(hidden(`dump: ${hex} end`)).toBe(`dump: ${MASK} end`);
    expect(hidden(`dump: ${hex.toUpperCase()} end`)).toBe(`dump: ${MASK} end`);
    // Inside a longer hex blob too.
    expect(hidden(`00ff${hex}ff00`)).toBe(`00ff${MASK}ff00`);
  });

  it("masks a piece of the value left at a line's start or end (a value split over streams or lines)", () => {
    const half = Math.floor(SECRET.length / 2);
    expect(hidden(`first half: ${SECRET.slice(0, half)}`)).toBe(`first half: ${MASK}`);
    expect(hidden(`${SECRET.slice(half)} was the second`)).toBe(`${MASK} was the second`);
    expect(hidden(`  ${SECRET.slice(0, 9)}  `)).toBe(`  ${MASK}  `);
    // A piece in the middle of a line, or too short to mean anything, is ordinary text.
    expect(masker.mask(`x ${SECRET.slice(0, 9)} y`)).toBe(`x ${SECRET.slice(0, 9)} y`);
    expect(masker.mask(`ends with ${SECRET.slice(0, 5)}`)).toBe(`ends with ${SECRET.slice(0, 5)}`);
  });

  it("leaves text without a secret alone", () => {
    expect(masker.mask("nothing to see here")).toBe("nothing to see here");
    expect(createMasker([]).mask(SECRET)).toBe(SECRET);
  });

  it("never cuts an over-long line inside a secret, in any form", () => {
    for (const form of [SECRET, Buffer.from(SECRET).toString("hex"), JSON.stringify(SECRET).slice(1, -1)]) {
      // The secret straddles the 64 KiB point at which the splitter flushes a line without "\n".
      for (const before of [64 * 1024 - 3, 64 * 1024 - form.length + 1, 64 * 1024 + 2]) {
        const pieces: string[] = [];
        const splitter = createLineSplitter((line) => pieces.push(masker.mask(line)), masker.cutPoint);
        const text = `${"a".repeat(before)}${form}${"b".repeat(70 * 1024)}`;
        for (let at = 0; at < text.length; at += 4096) splitter.push(new TextEncoder().encode(text.slice(at, at + 4096)));
        splitter.end();
        expect(pieces.length).toBeGreaterThan(1);
        expect(pieces.join("")).toBe(`${"a".repeat(before)}${MASK}${"b".repeat(70 * 1024)}`);
      }
    }
  });
});

describe("secretWarning", () => {
  it("says nothing of a value that looks like one token", () => {
    expect(secretWarning("ghp_0123456789abcdefABCDEF")).toBeNull();
  });

  it("warns of JSON, PEM keys, several lines and short values", () => {
    expect(secretWarning('{"client_id":"abc","client_secret":"0123456789"}')).toContain("JSON");
    expect(secretWarning("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n")).toContain("PEM");
    expect(secretWarning("first-line-value\nsecond-line-value")).toContain("spans 2 lines");
    expect(secretWarning("hunter2")).toContain("only 7 characters");
  });
});
