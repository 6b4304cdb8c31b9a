// The [extension_versions] edit of gantry.toml: only the table's lines change, every other
// byte (comments, order, line ends) stays; the file is replaced whole, with its mode, and only
// when the result reads as the old settings plus the one pin.
import { describe, expect, it } from "bun:test";
import { chmodSync, chownSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../config.ts";
import { tempDir } from "../../test/helpers/temp.ts";
import { ConfigFilePinError, configFilePin, withVersionPin, writeVersionPin } from "./config-file-pins.ts";

const CONFIG = `# Gantry on the build box
port = 9000   # behind the proxy

[extensions.hello]
greeting = "hi" # said on every hook

[extension_versions]   # managed by gantry extension install
# the team's pinned tools
"gantry-ext-hello" = "1.0.0" # keep: 1.1 breaks the hook
gantry-ext-bare = '2.0.0'

[sources.ops]
repo = "https://git.example.com/ops.git"
`;

describe("withVersionPin", () => {
  it("rewrites a pin's line in place, keeping its key, comment and every other line", () => {
    const edited = withVersionPin(CONFIG, "gantry-ext-hello", "1.2.0");
    expect(edited).toBe(CONFIG.replace('"gantry-ext-hello" = "1.0.0" # keep', '"gantry-ext-hello" = "1.2.0" # keep'));
    expect(withVersionPin(CONFIG, "gantry-ext-bare", "2.1.0")).toBe(CONFIG.replace("gantry-ext-bare = '2.0.0'", 'gantry-ext-bare = "2.1.0"'));
  });

  it("adds a new pin after the table's last pin, not into the next table", () => {
    const edited = withVersionPin(CONFIG, "@acme/gantry-ext-deploy", "0.3.1");
    expect(edited).toBe(CONFIG.replace("gantry-ext-bare = '2.0.0'\n", "gantry-ext-bare = '2.0.0'\n\"@acme/gantry-ext-deploy\" = \"0.3.1\"\n"));
    expect((Bun.TOML.parse(edited) as { extension_versions: Record<string, string> }).extension_versions).toEqual({
      "gantry-ext-hello": "1.0.0",
      "gantry-ext-bare": "2.0.0",
      "@acme/gantry-ext-deploy": "0.3.1",
    });
  });

  it("removes a pin's line alone, and keeps an emptied table's header", () => {
    const once = withVersionPin(CONFIG, "gantry-ext-hello", undefined);
    expect(once).toBe(CONFIG.replace('"gantry-ext-hello" = "1.0.0" # keep: 1.1 breaks the hook\n', ""));
    const twice = withVersionPin(once, "gantry-ext-bare", undefined);
    expect(twice).toContain("[extension_versions]   # managed by gantry extension install\n# the team's pinned tools\n\n[sources.ops]");
    expect(withVersionPin(CONFIG, "not-pinned", undefined)).toBe(CONFIG);
  });

  it("appends the table when the file has none, and keeps CRLF line ends", () => {
    expect(withVersionPin('port = 9000\n', "gantry-ext-hello", "1.0.0")).toBe(
      'port = 9000\n\n# Extensions installed from the npm registry, pinned (gantry extension install|upgrade|uninstall edit this table).\n[extension_versions]\n"gantry-ext-hello" = "1.0.0"\n',
    );
    expect(withVersionPin("port = 9000", "a", "1.0.0")).toStartWith("port = 9000\n\n# Extensions");
    expect(withVersionPin("", "a", "1.0.0")).toStartWith("# Extensions");
    const crlf = 'port = 9000\r\n[extension_versions]\r\n"a" = "1.0.0"';
    expect(withVersionPin(crlf, "b", "2.0.0")).toBe('port = 9000\r\n[extension_versions]\r\n"a" = "1.0.0"\r\n"b" = "2.0.0"\r\n');
    expect(withVersionPin(crlf, "a", "1.1.0")).toBe('port = 9000\r\n[extension_versions]\r\n"a" = "1.1.0"');
  });
});

describe("writeVersionPin", () => {
  const configFile = (text: string, mode = 0o640) => {
    const dir = tempDir("gantry-pins-");
    const file = join(dir, "gantry.toml");
    writeFileSync(file, text);
    chmodSync(file, mode);
    return { dir, file };
  };

  it("replaces the file with the edited text, with the same mode (and owner), and leaves no temp file", () => {
    const { dir, file } = configFile(CONFIG, 0o640);
    const root = process.getuid?.() === 0;
    if (root) chownSync(file, 4242, 4243);
    expect(writeVersionPin(file, "gantry-ext-hello", "1.2.0")).toBe(true);
    expect(readFileSync(file, "utf8")).toBe(withVersionPin(CONFIG, "gantry-ext-hello", "1.2.0"));
    expect(statSync(file).mode & 0o777).toBe(0o640);
    if (root) expect([statSync(file).uid, statSync(file).gid]).toEqual([4242, 4243]);
    expect(readdirSync(dir)).toEqual(["gantry.toml"]);
    expect(configFilePin(file, "gantry-ext-hello")).toBe("1.2.0");
    // The same pin again changes nothing.
    expect(writeVersionPin(file, "gantry-ext-hello", "1.2.0")).toBe(false);
  });

  it("edits the file a symlink points to, and keeps the link", () => {
    const { dir, file } = configFile(CONFIG);
    const link = join(tempDir("gantry-pins-link-"), "gantry.toml");
    symlinkSync(file, link);
    writeVersionPin(link, "gantry-ext-new", "1.0.0");
    expect(configFilePin(file, "gantry-ext-new")).toBe("1.0.0");
    expect(readdirSync(dir)).toEqual(["gantry.toml"]);
  });

  it("refuses, the file untouched, a table it cannot edit by lines, invalid TOML, or a folder it cannot write", () => {
    const inline = 'extension_versions = { "gantry-ext-hello" = "1.0.0" }\n';
    const { file } = configFile(inline);
    expect(() => writeVersionPin(file, "gantry-ext-other", "1.0.0")).toThrow(ConfigFilePinError);
    expect(() => writeVersionPin(file, "gantry-ext-other", "1.0.0")).toThrow('is not written as one "[extension_versions]" header');
    expect(readFileSync(file, "utf8")).toBe(inline);

    for (const other of ["extension_versions = { }\n", 'extension_versions."gantry-ext-hello" = "1.0.0"\n']) {
      const written = configFile(other);
      expect(() => writeVersionPin(written.file, "gantry-ext-other", "1.0.0")).toThrow("so it was not edited");
      expect(readFileSync(written.file, "utf8")).toBe(other);
    }

    const broken = configFile("port = = 1\n");
    expect(() => writeVersionPin(broken.file, "a", "1.0.0")).toThrow("is not valid TOML");

    // A name so long the temp file beside it (".<name>.<uuid>.tmp") passes the file system's
    // 255-byte limit: the write fails for root too, which a read-only folder would not make it.
    const dir = tempDir("gantry-pins-");
    const long = join(dir, `${"g".repeat(220)}.toml`);
    writeFileSync(long, CONFIG);
    let refusal: unknown;
    try {
      writeVersionPin(long, "a", "1.0.0");
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(ConfigFilePinError);
    expect((refusal as ConfigFilePinError).code).toBe("unwritable");
    expect((refusal as ConfigFilePinError).message).toContain(`${long} cannot be written (ENAMETOOLONG`);
    expect(readFileSync(long, "utf8")).toBe(CONFIG);
    expect(readdirSync(dir)).toEqual([`${"g".repeat(220)}.toml`]);
  });

  it("refuses a pin the config loader would refuse, so the next start still reads the file", () => {
    const { file } = configFile("[extension_versions]\n");
    for (const [name, version, problem] of [
      ["gantry-ext-x", "1.0.0 beta", "must be an exact version"],
      ["gantry-ext-x", "latest", "must be an exact version"],
      ["gantry-ext-x", "^1.0.0", "must be an exact version"],
      ["Not A Package", "1.0.0", "must be an npm package name"],
    ] as const) {
      let refusal: unknown;
      try {
        writeVersionPin(file, name, version);
      } catch (error) {
        refusal = error;
      }
      expect(refusal).toBeInstanceOf(ConfigFilePinError);
      expect((refusal as ConfigFilePinError).code).toBe("invalid");
      expect((refusal as ConfigFilePinError).message).toContain(`${JSON.stringify(name)} = ${JSON.stringify(version)} is not a pin ${file} may hold: ${problem}`);
    }
    expect(readFileSync(file, "utf8")).toBe("[extension_versions]\n");
    expect(writeVersionPin(file, "gantry-ext-x", "1.0.0-beta.1")).toBe(true);
    expect(loadConfig({ env: {}, file, cwd: tempDir("gantry-pins-cwd-") }).extensionVersions).toEqual({ "gantry-ext-x": "1.0.0-beta.1" });
  });
});
