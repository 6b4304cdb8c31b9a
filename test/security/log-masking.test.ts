// A secret never reaches a stored log: not XML-escaped, not as hex, not straddling the
// 64 KiB point where a line without a newline is flushed, not split in halves between
// stdout and stderr (plus the JSON, URL and base64 forms masked before).
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { readLog, startRun, startWithPipelines, waitForRun, type TestGantry } from "../helpers/gantry.ts";

setDefaultTimeout(60_000);

const unique = crypto.randomUUID().replace(/-/g, "").slice(0, 16);
// Every escaping scheme changes it: & < > " ' all appear.
const SECRET = `Zq7&<k>"p'-${unique}`;

const xml = (value: string, quot: string, apos: string) =>
  value.replace(/[&<>"']/g, (char) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': quot, "'": apos })[char]!);

/** The forms a task might print, each of which must be masked. */
const FORMS: Record<string, string> = {
  plain: SECRET,
  json: JSON.stringify(SECRET).slice(1, -1),
  url: encodeURIComponent(SECRET),
  base64: Buffer.from(SECRET).toString("base64"),
  "xml &quot; &apos;": xml(SECRET, "&quot;", "&apos;"),
  "xml &quot; &#39;": xml(SECRET, "&quot;", "&#39;"),
  "html &#34; &#x27;": xml(SECRET, "&#34;", "&#x27;"),
  hex: Buffer.from(SECRET).toString("hex"),
  HEX: Buffer.from(SECRET).toString("hex").toUpperCase(),
};

/** Which forms leak into a text: any 10 characters in a row of one of them (the random part makes that unmistakable). */
function leaks(text: string): string[] {
  return Object.entries(FORMS)
    .filter(([, form]) => {
      for (let at = 0; at + 10 <= form.length; at++) if (text.includes(form.slice(at, at + 10))) return true;
      return false;
    })
    .map(([name]) => name);
}

const PIPELINE = `import { definePipeline, run, secret } from "gantry";
const FORMS = ${JSON.stringify(Object.keys(FORMS))};
export default definePipeline({
  id: "leaky",
  tasks: {
    leak: run(async (ctx) => {
      const s = ctx.env.TOKEN;
      const hex = Buffer.from(s).toString("hex");
      const xml = (quot, apos) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': quot, "'": apos })[c]);
      const forms = [s, JSON.stringify(s).slice(1, -1), encodeURIComponent(s), Buffer.from(s).toString("base64"),
        xml("&quot;", "&apos;"), xml("&quot;", "&#39;"), xml("&#34;", "&#x27;"), hex, hex.toUpperCase()];
      forms.forEach((form, i) => {
        process.stdout.write(\`out \${FORMS[i]}: \${form}\\n\`);
        process.stderr.write(\`err \${FORMS[i]}: <v>\${form}</v>\\n\`);
      });
      // Lines without a newline for far past 64 KiB, written in parts the server reads one by
      // one, the value every few characters: wherever the line is flushed in pieces, the
      // cut falls next to or inside an occurrence.
      for (let part = 0; part < 8; part++) {
        process.stdout.write((s + " ").repeat(700));
        process.stderr.write((hex + ".").repeat(400));
        await Bun.sleep(30);
      }
      process.stdout.write("\\n");
      process.stderr.write("\\n");
      // One half on each stream.
      const half = s.length >> 1;
      process.stdout.write(s.slice(0, half));
      process.stderr.write(s.slice(half) + "\\n");
      process.stdout.write("\\n");
      ctx.log("done");
    }, { env: { TOKEN: secret("leaky_token") } }),
  },
});
`;

describe("masking a secret in task output", () => {
  let gantry: TestGantry;
  beforeAll(async () => {
    gantry = await startWithPipelines({ "leaky.ts": PIPELINE });
    const put = await gantry.api("/secrets/leaky_token", { method: "PUT", body: JSON.stringify({ value: SECRET }) });
    expect(put.status).toBe(201);
  });
  afterAll(() => gantry?.stop());

  it("stores no form of it, on either stream, across the 64 KiB flush, or split in halves between the streams", async () => {
    const run = await waitForRun(gantry.api, "default/leaky", (await startRun(gantry.api, "default/leaky")).id, 30_000);
    expect(run.state).toBe("successful");
    const log = await readLog(gantry.api, "default/leaky", run.id, "leak");
    expect(log).toContain("done");
    expect({ leaks: leaks(log) }).toEqual({ leaks: [] });
    // Each form was there, masked, on both streams.
    for (const name of Object.keys(FORMS)) {
      expect(log).toContain(`out ${name}: ***`);
      expect(log).toContain(`[err] err ${name}: <v>***</v>`);
    }
    // The long lines were cut into pieces, each occurrence masked whole.
    const pieces = log.split("\n").filter((line) => line.includes("*** *** ***"));
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.map((piece) => piece.replace(/^\S+ /, "")).join("")).toBe("*** ".repeat(5600));
    const hexPieces = log.split("\n").filter((line) => line.includes("***.***.***"));
    expect(hexPieces.length).toBeGreaterThan(1);
    expect(hexPieces.map((piece) => piece.replace(/^\S+ \[err\] /, "")).join("")).toBe("***.".repeat(3200));
  });
});
