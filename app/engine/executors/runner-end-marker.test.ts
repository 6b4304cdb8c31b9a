// The runner's end marker as the server reads it: the task's output before it intact,
// however the pipe cut the bytes into chunks; the exit code in it; nothing after it; and
// anything that only looks like it (another key, a cut-off start) left as output.
import { describe, expect, it } from "bun:test";
import { END_MARKER } from "../task-runner/command.ts";
import { createEndScanner } from "./runner-end-marker.ts";

const KEY = "0123456789abcdef0123456789abcdef";
const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

/** Feeds the chunks in order: the output passed on (and flushed at the end when no marker came), and the code. */
function scan(chunks: string[], key = KEY): { output: string; code?: number } {
  const scanner = createEndScanner(key);
  let output = "";
  for (const chunk of chunks) {
    const found = scanner.push(bytes(chunk));
    output += text(found.output);
    if (found.code !== undefined) return { output, code: found.code };
  }
  return { output: output + text(scanner.flush()) };
}

/** Every way of cutting `whole` into two chunks. */
const cuts = (whole: string) => Array.from({ length: whole.length + 1 }, (_, at) => [whole.slice(0, at), whole.slice(at)]);

describe("the runner's end marker", () => {
  it("ends the output with the runner's exit code, however the chunks fall", () => {
    const whole = `line one\nno newline at the end${END_MARKER}${KEY} 137\nwritten after the end\n`;
    for (const chunks of cuts(whole)) expect(scan(chunks)).toEqual({ output: "line one\nno newline at the end", code: 137 });
    // One byte at a time.
    expect(scan([...whole])).toEqual({ output: "line one\nno newline at the end", code: 137 });
    expect(scan([`${END_MARKER}${KEY} 0\n`])).toEqual({ output: "", code: 0 });
  });

  it("leaves a marker with another key, a bad code or a cut-off start as output", () => {
    const other = `${END_MARKER}${"f".repeat(32)} 0\n`;
    for (const chunks of cuts(`${other}more`)) expect(scan(chunks)).toEqual({ output: `${other}more` });
    for (const code of ["256", "1234", "x", ""]) expect(scan([`${END_MARKER}${KEY} ${code}\nafter`])).toEqual({ output: `${END_MARKER}${KEY} ${code}\nafter` });
    // The stream ends inside what could have been the marker: those bytes were output.
    const start = `${END_MARKER}${KEY.slice(0, 10)}`;
    for (const chunks of cuts(`text${start}`)) expect(scan(chunks)).toEqual({ output: `text${start}` });
    // A NUL of the output's own, then the real marker.
    expect(scan(["a\u0000b", `${END_MARKER}${KEY} 3\n`])).toEqual({ output: "a\u0000b", code: 3 });
  });

  it("keeps multi-byte characters whole across chunks", () => {
    const whole = `héllo wörld ✓${END_MARKER}${KEY} 1\n`;
    const data = bytes(whole);
    for (let at = 0; at <= data.length; at++) {
      const scanner = createEndScanner(KEY);
      const first = scanner.push(data.subarray(0, at));
      const second = first.code === undefined ? scanner.push(data.subarray(at)) : { output: new Uint8Array(0), code: first.code };
      expect(text(new Uint8Array([...first.output, ...second.output]))).toBe("héllo wörld ✓");
      expect(second.code).toBe(1);
    }
  });
});
