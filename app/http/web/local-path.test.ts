import { describe, expect, it } from "bun:test";
import { localPath } from "./local-path.ts";

describe("localPath", () => {
  it("keeps a path of this site, with its query and fragment", () => {
    expect(localPath("/pipelines/default/hello?tab=runs#run-3")).toBe("/pipelines/default/hello?tab=runs#run-3");
    expect(localPath(undefined)).toBe("/");
  });

  it("sends anything a browser would read as another site home instead", () => {
    for (const next of ["//evil.com", "/\\evil.com", "/\t/evil.com", "/\n/evil.com", "/\r\n/evil.com", "https://evil.com", "javascript:alert(1)", " /x", "/ /evil.com"]) {
      expect({ next, to: localPath(next) }).toEqual({ next, to: "/" });
    }
  });

  it("leaves an encoded tab encoded: the browser does not strip it, so it stays a path here", () => {
    expect(localPath("/%09/evil.com")).toBe("/%09/evil.com");
  });
});
