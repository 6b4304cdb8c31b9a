// The harness's temp folder: the server's data dir and pipelines, the run() tasks' marker file
// (outside the data dir, so the server cannot lose it) and every start's output.
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Paths {
  root: string;
  dataDir: string;
  pipelinesDir: string;
  marksFile: string;
  outputFile: string;
}

export function createWorkdir(): Paths {
  const root = mkdtempSync(join(tmpdir(), "gantry-kill-"));
  const paths: Paths = {
    root,
    dataDir: join(root, "data"),
    pipelinesDir: join(root, "pipelines"),
    marksFile: join(root, "marks", "run-tasks.txt"),
    outputFile: join(root, "servers.log"),
  };
  mkdirSync(paths.pipelinesDir, { recursive: true });
  mkdirSync(join(root, "marks"));
  writeFileSync(paths.marksFile, "");
  // run() tasks append their marks from the sandbox, as its unprivileged user (the folder is
  // bound into every sandbox: GANTRY_RUN_SANDBOX_PATHS), and reach their workspace through root.
  chmodSync(root, 0o711);
  chmodSync(join(root, "marks"), 0o777);
  chmodSync(paths.marksFile, 0o666);
  return paths;
}
