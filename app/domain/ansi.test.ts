// ansiToHtml: colours become spans with fixed classes, text is always escaped, and every
// other escape or control sequence disappears, however hostile or broken the input.
import { describe, expect, it } from "bun:test";
import { ansiToHtml, escapeHtml, plainStyle } from "./ansi.ts";

const ESC = "\x1b";

/** What a browser would see as markup: every tag in the output. */
const tags = (html: string) => html.match(/<[^>]*>/g) ?? [];

/** The only tags the renderer may produce. */
function expectOnlySpans(html: string) {
  for (const tag of tags(html)) expect(tag).toMatch(/^(<span class="ansi-[a-z-]+(?: ansi-[a-z-]+)*">|<\/span>)$/);
  expect(html).not.toContain(ESC);
}

describe("ansiToHtml", () => {
  it("leaves plain text as escaped text", () => {
    expect(ansiToHtml("hello world")).toBe("hello world");
    expect(ansiToHtml("a & b < c > d \" e ' f")).toBe("a &amp; b &lt; c &gt; d &quot; e &#39; f");
    expect(ansiToHtml("")).toBe("");
  });

  it("renders basic, bright and background colours", () => {
    expect(ansiToHtml(`${ESC}[31mred${ESC}[0m`)).toBe('<span class="ansi-fg-red">red</span>');
    expect(ansiToHtml(`${ESC}[92mok${ESC}[39m done`)).toBe('<span class="ansi-fg-bright-green">ok</span> done');
    expect(ansiToHtml(`${ESC}[44;37mx${ESC}[49my`)).toBe('<span class="ansi-fg-white ansi-bg-blue">x</span><span class="ansi-fg-white">y</span>');
    expect(ansiToHtml(`${ESC}[103mhi`)).toBe('<span class="ansi-bg-bright-yellow">hi</span>');
  });

  it("renders weights and styles and turns them off again", () => {
    expect(ansiToHtml(`${ESC}[1mB${ESC}[22m ${ESC}[2mD${ESC}[22m`)).toBe('<span class="ansi-bold">B</span> <span class="ansi-dim">D</span>');
    expect(ansiToHtml(`${ESC}[3;4mIU${ESC}[23mU${ESC}[24mN`)).toBe(
      '<span class="ansi-italic ansi-underline">IU</span><span class="ansi-underline">U</span>N',
    );
    expect(ansiToHtml(`${ESC}[1;31mbold red${ESC}[m plain`)).toBe('<span class="ansi-fg-red ansi-bold">bold red</span> plain');
  });

  it("maps 256-colour and true-colour codes to the nearest basic colour", () => {
    expect(ansiToHtml(`${ESC}[38;5;196mx`)).toBe('<span class="ansi-fg-bright-red">x</span>');
    expect(ansiToHtml(`${ESC}[38;5;2mx`)).toBe('<span class="ansi-fg-green">x</span>');
    expect(ansiToHtml(`${ESC}[48;5;232mx`)).toBe('<span class="ansi-bg-black">x</span>');
    expect(ansiToHtml(`${ESC}[38;2;250;10;10mx`)).toBe('<span class="ansi-fg-bright-red">x</span>');
    expect(ansiToHtml(`${ESC}[38:2::0:0:200mx`)).toBe('<span class="ansi-fg-blue">x</span>');
    // The arguments of an extended colour are not read as codes of their own (1 is not bold here).
    expect(ansiToHtml(`${ESC}[38;2;1;1;1;4mx`)).toBe('<span class="ansi-fg-black ansi-underline">x</span>');
    // Out-of-range values are ignored, never turned into class names.
    expect(ansiToHtml(`${ESC}[38;5;999mx`)).toBe("x");
    expect(ansiToHtml(`${ESC}[38;2;300;0;0mx`)).toBe("x");
  });

  it("escapes hostile text inside colour codes", () => {
    const html = ansiToHtml(`${ESC}[31m<img src=x onerror=alert(1)>${ESC}[0m`);
    expect(html).toBe('<span class="ansi-fg-red">&lt;img src=x onerror=alert(1)&gt;</span>');
    expectOnlySpans(html);
  });

  it("cannot be made to close its own span or open a script", () => {
    const html = ansiToHtml(`${ESC}[31m</span><script>alert(1)</script>${ESC}[0m"><img src=x onerror=alert(1)>`);
    expectOnlySpans(html);
    expect(html).toContain("&lt;/span&gt;&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(html).toContain("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;");
  });

  it("does not let parameters reach the class attribute", () => {
    for (const params of ['31" onmouseover="alert(1)', "31;<x>", "38;5;1x", '"', "31:<b>"]) {
      expectOnlySpans(ansiToHtml(`${ESC}[${params}mtext`));
    }
  });

  it("drops unterminated and oddly split codes without losing the text around them", () => {
    expect(ansiToHtml(`before${ESC}[31`)).toBe("before");
    expect(ansiToHtml(`before${ESC}[`)).toBe("before");
    expect(ansiToHtml(`before${ESC}`)).toBe("before");
    expect(ansiToHtml(`[31mnot a code`)).toBe("[31mnot a code");
    expect(ansiToHtml(`${ESC}${ESC}[31mx`)).toBe('<span class="ansi-fg-red">x</span>');
    expectOnlySpans(ansiToHtml(`${ESC}[31<script>alert(1)</script>`));
    expectOnlySpans(ansiToHtml(`${ESC}]8;;javascript:alert(1)`));
  });

  it("strips cursor moves, erase codes, private modes and other sequences", () => {
    expect(ansiToHtml(`${ESC}[2K${ESC}[1Gdone${ESC}[?25h`)).toBe("done");
    expect(ansiToHtml(`${ESC}[>4;2mkeys`)).toBe("keys");
    expect(ansiToHtml(`${ESC}(Bcharset${ESC}7saved${ESC}8`)).toBe("charsetsaved");
    expect(ansiToHtml(`${ESC}P1$r0m${ESC}\\dcs`)).toBe("dcs");
    expect(ansiToHtml("bell\x07 back\x08space\x00null\x85next")).toBe("bell backspacenullnext");
    // The 8-bit CSI introducer is a CSI too.
    expect(ansiToHtml("\x9b31mred\x9b0m")).toBe('<span class="ansi-fg-red">red</span>');
    expect(ansiToHtml("tab\tkept")).toBe("tab\tkept");
  });

  it("keeps a hyperlink's text but not its target", () => {
    expect(ansiToHtml(`see ${ESC}]8;;https://evil.example/"><script>${ESC}\\the docs${ESC}]8;;${ESC}\\ now`)).toBe("see the docs now");
    expect(ansiToHtml(`${ESC}]8;;javascript:alert(1)\x07click${ESC}]8;;\x07`)).toBe("click");
    expect(ansiToHtml(`${ESC}]0;window title\x07text`)).toBe("text");
  });

  it("keeps only what follows the last carriage return, with the colour still set", () => {
    expect(ansiToHtml("10%\r50%\r100%")).toBe("100%");
    expect(ansiToHtml(`${ESC}[32m10%\r100%${ESC}[0m`)).toBe('<span class="ansi-fg-green">100%</span>');
    expect(ansiToHtml("done\r")).toBe("done");
    expect(ansiToHtml(`progress\r${ESC}[K`)).toBe("progress");
  });
});

describe("ansiToHtml on random input", () => {
  it("only ever produces balanced ansi spans around escaped text", () => {
    const alphabet = [ESC, "[", "]", ";", ":", "3", "1", "8", "5", "2", "m", "K", "<", ">", '"', "'", "&", "/", "\x07", "\r", "\x9b", "\\", "a", " ", "?"];
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 5000; round++) {
      let input = "";
      const length = Math.floor(random() * 40);
      for (let i = 0; i < length; i++) input += alphabet[Math.floor(random() * alphabet.length)];
      const html = ansiToHtml(input);
      expectOnlySpans(html);
      expect(tags(html).filter((tag) => tag === "</span>").length).toBe(tags(html).filter((tag) => tag !== "</span>").length);
      // Between tags there is nothing a browser could read as markup.
      expect(html.replace(/<[^>]*>/g, "")).not.toMatch(/[<>"']/);
    }
  });
});

describe("escapeHtml", () => {
  it("escapes every character that matters in text and attributes", () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe("&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
  });
});

describe("a style carried from line to line", () => {
  it("keeps a colour left open on the next lines until it is reset, as a terminal does", () => {
    const style = plainStyle();
    expect(ansiToHtml(`${ESC}[31mERROR: first`, style)).toBe('<span class="ansi-fg-red">ERROR: first</span>');
    expect(ansiToHtml("  still <red>", style)).toBe('<span class="ansi-fg-red">  still &lt;red&gt;</span>');
    expect(ansiToHtml(`and ${ESC}[1mbold${ESC}[0m plain`, style)).toBe('<span class="ansi-fg-red">and </span><span class="ansi-fg-red ansi-bold">bold</span> plain');
    expect(ansiToHtml("plain again", style)).toBe("plain again");
    // Without a carried style a line starts plain.
    expect(ansiToHtml("alone")).toBe("alone");
  });
});

