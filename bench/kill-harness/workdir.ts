// The harness's temp folder: the server's data dir and pipelines, the run() tasks' marker file
// (outside the data dir, so the server cannot lose it) and every start's output.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
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
  return paths;
}
