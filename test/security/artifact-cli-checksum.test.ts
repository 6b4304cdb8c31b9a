// `gantry artifact get` checks what arrives against the sha256 the server sends with it; a
// download without that header (a proxy that drops it, something that is not the server) is
// refused rather than taken unchecked, and nothing is written.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { TAR_END, tarHeader, tarPadding } from "../../app/stores/tar.ts";
import { runCli } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";

setDefaultTimeout(30_000);

const content = new TextEncoder().encode("app one");
const TAR = Buffer.concat([tarHeader({ path: "app.js", type: "file", size: content.length, mode: 0o644, mtime: new Date(0) }), content, tarPadding(content.length), TAR_END]);
const SHA256 = new Bun.CryptoHasher("sha256").update(TAR).digest("hex");

/** What the stand-in server sends as the header: by artifact name. */
const HEADERS: Record<string, Record<string, string>> = {
  good: { "x-checksum-sha256": SHA256 },
  none: {},
  wrong: { "x-checksum-sha256": "0".repeat(64) },
  junk: { "x-checksum-sha256": "not-a-sha" },
};

let server: ReturnType<typeof Bun.serve>;
beforeAll(() => {
  server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(request) {
      const name = new URL(request.url).pathname.split("/").at(-1)!;
      return new Response(TAR, { headers: { "content-type": "application/x-tar", ...HEADERS[name] } });
    },
  });
});
afterAll(() => server?.stop(true));

const get = (name: string, out: string) => runCli(["artifact", "get", "default/relay", "1", name, "-o", out], { server: { url: `http://127.0.0.1:${server.port}`, token: "test-token" } });

describe("artifact get", () => {
  it("writes an artifact whose sha256 matches the header", async () => {
    const out = join(tempDir("gantry-cli-"), "good.tar");
    const result = await get("good", out);
    expect(result.exitCode).toBe(0);
    expect(readFileSync(out)).toEqual(TAR);
  });

  it("refuses a download without the x-checksum-sha256 header, or with a bad one, and writes nothing", async () => {
    for (const [name, message] of [
      ["none", 'artifact "none": the server sent no x-checksum-sha256 header, so the download cannot be checked; nothing was written'],
      ["junk", `artifact "junk": the server's x-checksum-sha256 header is not a sha256`],
      ["wrong", 'artifact "wrong" arrived damaged'],
    ] as const) {
      const out = join(tempDir("gantry-cli-"), `${name}.tar`);
      const result = await get(name, out);
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toContain(message);
      expect(existsSync(out)).toBe(false);
    }
  });
});
