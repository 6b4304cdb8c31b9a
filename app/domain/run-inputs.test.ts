import { describe, expect, it } from "bun:test";
import { checkInputs, formFieldSchema, fromText, type InputSpec } from "./run-inputs.ts";

const spec = (name: string, schema: InputSpec["schema"], required = true): InputSpec => ({ name, required, schema });

describe("input schemas", () => {
  it("take the form subset and refuse the rest, saying why", () => {
    expect(formFieldSchema({ type: "string", enum: ["a", "b"], default: "a" })).toEqual({ ok: true, schema: { type: "string", enum: ["a", "b"], default: "a" } });
    expect(formFieldSchema({ type: "object", properties: {} })).toMatchObject({ ok: false });
    expect(formFieldSchema({ anyOf: [{ type: "string" }, { type: "null" }] })).toMatchObject({ ok: false, message: expect.stringContaining('"anyOf"') });
    expect(formFieldSchema({ type: "integer", minimum: 1, default: 0 })).toMatchObject({ ok: false, message: 'its default 0 must be at least 1' });
    expect(formFieldSchema({ type: "string", format: "hostname" })).toMatchObject({ ok: false, message: expect.stringContaining("cannot be checked") });
  });

  it("refuse patterns that repeat a repeating group, which could stall the server", () => {
    expect(formFieldSchema({ type: "string", pattern: "^(\\w+\\s?)*$" })).toMatchObject({ ok: false, message: expect.stringContaining("nested repetition") });
    expect(formFieldSchema({ type: "string", pattern: "^(a+)+$" })).toMatchObject({ ok: false });
    expect(formFieldSchema({ type: "string", pattern: "^[a-z]+(-[a-z]+)*$" })).toMatchObject({ ok: true });
    expect(formFieldSchema({ type: "string", pattern: "^v\\d+\\.\\d+$" })).toMatchObject({ ok: true });
  });
});

describe("checking a run's inputs", () => {
  const inputs = [
    spec("env", { type: "string", enum: ["staging", "production"] }),
    spec("replicas", { type: "integer", minimum: 1, default: 2 }, false),
    spec("dryRun", { type: "boolean" }),
    spec("tag", { type: "string", pattern: "^v\\d+$" }, false),
  ];

  it("applies defaults and converts text by the schema", () => {
    expect(checkInputs(inputs, { env: "staging", dryRun: "yes", replicas: "3" }, { text: true })).toEqual({ ok: true, values: { env: "staging", replicas: 3, dryRun: true } });
    expect(checkInputs(inputs, { env: "production", dryRun: false })).toEqual({ ok: true, values: { env: "production", replicas: 2, dryRun: false } });
    expect(fromText({ type: "number" }, "1e3")).toBe(1000);
    expect(fromText({ type: "number" }, "ten")).toBe("ten");
  });

  it("names every problem by input", () => {
    const result = checkInputs(inputs, { env: "moon", replicas: 0, extra: 1, tag: "x" });
    expect(result).toEqual({
      ok: false,
      problems: [
        { input: "extra", message: "is not an input of this pipeline (its inputs: env, replicas, dryRun, tag)" },
        { input: "env", message: 'must be one of "staging", "production"' },
        { input: "replicas", message: "must be at least 1" },
        { input: "dryRun", message: "is required" },
        { input: "tag", message: "must match /^v\\d+$/" },
      ],
    });
  });

  it("checks a pattern only on values of a bounded length, and bounds the inputs' total size", () => {
    const long = checkInputs(inputs, { env: "staging", dryRun: true, tag: `v${"1".repeat(2000)}` });
    expect(long).toMatchObject({ ok: false, problems: [{ input: "tag", message: expect.stringContaining("too long to check") }] });
    const many = Array.from({ length: 6 }, (_, index) => spec(`text${index}`, { type: "string" }));
    const big = Object.fromEntries(many.map((input) => [input.name, "x".repeat(15_000)]));
    expect(checkInputs(many, big)).toMatchObject({ ok: false, problems: [{ message: expect.stringContaining("over the limit of 65536") }] });
  });
});
