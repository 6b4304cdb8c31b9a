// The trigger panel's example webhook body: every mapped path filled in, built from the
// pipeline file's paths without ever writing to an object's prototype.
import { describe, expect, it } from "bun:test";
import { exampleBody, signedCurl } from "./pipeline-triggers.tsx";

describe("exampleBody", () => {
  it("fills in each mapped path", () => {
    expect(JSON.parse(JSON.stringify(exampleBody({ REF: "ref", WHO: "pusher.name", SHA: "head_commit.id" })))).toEqual({
      ref: "example-ref",
      pusher: { name: "example-who" },
      head_commit: { id: "example-sha" },
    });
  });

  it("leaves out a path through a prototype key, and keeps the first of two paths that overlap", () => {
    const body = exampleBody({ A: "__proto__.polluted", B: "constructor.prototype.polluted", C: "prototype.x", D: "a", E: "a.b", F: "x..y" });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty("polluted");
    expect(JSON.parse(JSON.stringify(body))).toEqual({ a: "example-d" });
  });
});

describe("signedCurl", () => {
  it("quotes a URL and a body with single quotes for the shell", () => {
    const command = signedCurl("http://example.com/it's", "hook", { note: "it's" });
    expect(command).toContain(`BODY='{"note":"it'\\''s"}'`);
    expect(command).toContain(`curl -fsS -X POST 'http://example.com/it'\\''s' \\`);
  });
});
