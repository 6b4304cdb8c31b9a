// Handing a workspace back to the sandbox user after a container wrote it: root walks it
// through open folders, so a link (to a folder or a file outside) is never followed and
// nothing outside the workspace changes owner or mode (nor a hard link's file of someone
// else), while everything the run made is handed over.
import { describe, expect, it } from "bun:test";
import { chownSync, linkSync, mkdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { prepareRunSandbox } from "../../app/engine/executors/run-sandbox.ts";
import { tempDir } from "../helpers/temp.ts";

describe("reclaiming a workspace", () => {
  it("hands over what is inside and follows no link out of it", async () => {
    const sandbox = prepareRunSandbox("on");
    if (sandbox.status.state !== "on" || !sandbox.status.user || process.getuid?.() !== 0) {
      console.warn("skipped: needs the sandbox as root");
      return;
    }
    const { uid, gid } = sandbox.status.user;
    const outside = tempDir("gantry-outside-");
    writeFileSync(join(outside, "precious"), "root's\n", { mode: 0o600 });
    chownSync(outside, 0, 0);
    const workspace = tempDir("gantry-ws-");
    mkdirSync(join(workspace, "build/deep"), { recursive: true });
    writeFileSync(join(workspace, "build/deep/out.txt"), "built\n", { mode: 0o644 });
    symlinkSync(outside, join(workspace, "build/escape"));
    symlinkSync(join(outside, "precious"), join(workspace, "build/deep/precious-link"));
    // A second name of root's file, as a task could make where the host allows it.
    linkSync(join(outside, "precious"), join(workspace, "build/hard-link"));

    await sandbox.reclaim(join(workspace, "build"));

    const inside = statSync(join(workspace, "build/deep/out.txt"));
    expect([inside.uid, inside.gid]).toEqual([uid, gid]);
    expect(inside.mode & 0o060).toBe(0o060);
    expect(statSync(join(workspace, "build/deep")).mode & 0o2070).toBe(0o2070);
    const precious = statSync(join(outside, "precious"));
    expect([precious.uid, precious.gid, precious.mode & 0o777]).toEqual([0, 0, 0o600]);
    expect(statSync(outside).uid).toBe(0);
  });
});
