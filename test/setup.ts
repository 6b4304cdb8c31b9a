// Preloaded by bun test (bunfig.toml): servers the tests start, in this process or as child
// processes (helpers/gantry.ts passes it on), check every JSON answer against its route's
// documented schema (app/http/api/route-doc.ts) and answer 500 naming the mismatch.
import { afterAll } from "bun:test";

process.env.GANTRY_CHECK_RESPONSES ??= "1";

// bun test runs no exit listeners: the helpers' temporary folders go after the last test of
// the run (the suite script also gives each of its runs a TMPDIR of its own, removed after).
afterAll(async () => (await import("./helpers/temp.ts")).removeTempDirs());
