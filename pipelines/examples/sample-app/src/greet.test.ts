import { describe, expect, it } from "bun:test";
import { greet } from "./greet.ts";

describe("greet", () => {
  it("greets by name", () => {
    expect(greet("Ada")).toBe("Hello, Ada!");
  });

  it("greets the world when the name is blank", () => {
    expect(greet("  ")).toBe("Hello, world!");
  });
});
