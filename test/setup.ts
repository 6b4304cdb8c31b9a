// Preloaded by bun test (bunfig.toml): servers the tests start, in this process or as child
// processes (helpers/gantry.ts passes it on), check every JSON answer against its route's
// documented schema (app/http/api/route-doc.ts) and answer 500 naming the mismatch.
process.env.GANTRY_CHECK_RESPONSES ??= "1";
