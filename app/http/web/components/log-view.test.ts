// A log's lines as markup: a colour a line leaves open carries on to the next lines of the
// same stream (as a terminal shows them), and not into another stream's lines.
import { describe, expect, it } from "bun:test";
import { logLinesHtml } from "./log-view.tsx";

const ESC = "\x1b";
const at = "2026-12-07T05:00:00.000Z";
const textOf = (html: string) => [...html.matchAll(/<span class="log-text">([\s\S]*?)<\/span><\/li>/g)].map((match) => match[1]);

describe("logLinesHtml", () => {
  it("carries an open colour to the next lines of its stream only", () => {
    const html = logLinesHtml(
      "build",
      [`${at} ${ESC}[33mwarning: deprecated`, `${at} [err] an error line`, `${at}   at step 2`, `${at} done${ESC}[0m`, `${at} plain`],
      1,
    );
    expect(textOf(html)).toEqual([
      '<span class="ansi-fg-yellow">warning: deprecated</span>',
      "an error line",
      '<span class="ansi-fg-yellow">  at step 2</span>',
      '<span class="ansi-fg-yellow">done</span>',
      "plain",
    ]);
  });
});
