// Security scans for pipeline files: scan() runs a scanner that writes a SARIF 2.1.0 report
// (in a container, or as a run() task in the sandbox), and presets build it for eslint +
// eslint-plugin-security, secretlint, flawfinder, semgrep, trivy and grype. The server reads
// the report after the task succeeds (TaskOptions.sarif) and gates on its findings.
// No node: imports at the top: every run() task loads the SDK, and only scans need them.
import type { ContainerOptions, ContainerTask, RunTask, TaskContext, TaskOptions } from "./index.ts";

/** A level a finding has, or `"none"`: the task never fails on its findings. */
export type ScanFailOn = "error" | "warning" | "note" | "none";

/** A command line for `sh -c`, an argv, or an argv with extra environment (and files to remove after it ran). */
export type ScanCommandLine = string | string[] | { argv: string[]; env?: Record<string, string>; cleanup?: string[] };

/** What a scan runs: a command line, or (in a `run()` scan) a function of the task's context returning one. */
export type ScanCommand = string | string[] | ((ctx: TaskContext<any>) => ScanCommandLine | Promise<ScanCommandLine>);

/** Options of {@link scan}: the scanner, its report, and any option of a task (needs, timeout, retries, env...). */
export interface ScanOptions extends Omit<TaskOptions, "sarif">, Partial<Omit<ContainerOptions, keyof TaskOptions | "image" | "command" | "network">> {
  /** The scanner's name, shown with its findings when the report does not name it. */
  tool: string;
  /** Run the scanner in this image (a container task); without it, `command` runs as a `run()` task in the sandbox. */
  image?: string;
  /**
   * The scanner's command. A string runs with `sh -c`. In a container the workspace is the
   * working directory, at `/workspace`; in a `run()` scan it is the workspace on the host
   * (`$GANTRY_WORKSPACE`), and the command may be a function of the task's context.
   */
  command?: ScanCommand;
  /** Where the scanner writes its SARIF 2.1.0 report, relative to the workspace. */
  sarif: string;
  /** The task fails when a finding at or above this level exists; `"error"` by default. */
  failOn?: ScanFailOn;
  /**
   * A `run()` scan's exit codes that mean "the scan ran" (its findings are then judged from
   * the report): `[0, 1]` by default, since most scanners exit 1 when they find something.
   */
  exitCodes?: number[];
  /** A container's network (`"bridge"`, `"none"`, ...); for a `run()` scan only `"none"` (no network at all). */
  network?: string;
}

/** Options every preset takes: where its report goes, when it fails, and any option of a task. */
export interface ScanPresetOptions extends Omit<TaskOptions, "sarif"> {
  /** The report's path in the workspace; `<tool>.sarif` by default. */
  sarif?: string;
  /** The task fails when a finding at or above this level exists; `"error"` by default. */
  failOn?: ScanFailOn;
}

/** Options of a preset that runs in the `run()` sandbox. */
export interface SandboxScanOptions extends ScanPresetOptions {
  /** `"none"`: the scanner gets no network at all. */
  network?: "none";
}

/** Options of a preset that runs a scanner image. */
export interface ContainerScanOptions extends ScanPresetOptions, Partial<Omit<ContainerOptions, keyof TaskOptions | "image" | "command" | "entrypoint">> {}

/** Keys of scan() that are not task options, and those only a container takes. */
const SCAN_KEYS = ["tool", "image", "command", "sarif", "failOn", "exitCodes"] as const;
const CONTAINER_ONLY = ["entrypoint", "pull", "memory", "cpus", "pids", "user", "capabilities", "mounts", "keepContainer", "pullSecret"] as const;
/** Where containers see the workspace (the docker executor mounts it there). */
const CONTAINER_WORKSPACE = "/workspace";

/**
 * A task that runs a security scanner writing a SARIF 2.1.0 report. After it succeeds the
 * server reads the report from the workspace, stores its findings with the run (rule,
 * level, message, file, line; shown on the run page and at `GET .../runs/:run/findings`)
 * and fails the task when a finding is at or above `failOn`, counting them by level. A
 * missing or broken report fails it too, naming the path.
 *
 * With `image` the scanner runs in a container (the workspace is its working directory, at
 * `/workspace`); without, `command` runs in the `run()` sandbox, where the workspace is
 * writable and the system (`/usr`) read-only.
 *
 * @example
 * ```ts
 * // Any scanner image that writes SARIF:
 * vulns: scan({
 *   tool: "trivy",
 *   image: "aquasec/trivy:latest",
 *   command: ["trivy", "fs", "--format", "sarif", "--output", "/workspace/trivy.sarif", "."],
 *   sarif: "trivy.sarif",
 *   failOn: "error",
 * }),
 * // A scanner installed on the server, in the sandbox:
 * c: scan({ tool: "flawfinder", command: "flawfinder --sarif src > flawfinder.sarif", sarif: "flawfinder.sarif", failOn: "warning" }),
 * ```
 */
export function scan(options: ScanOptions): RunTask | ContainerTask {
  const { tool, image, command, sarif, failOn = "error", exitCodes = [0, 1] } = options;
  if (typeof tool !== "string" || tool.trim() === "") throw new Error("scan: tool must name the scanner, e.g. \"eslint\"");
  if (typeof sarif !== "string" || sarif === "") throw new Error("scan: sarif must be the path of the report in the workspace, e.g. \"reports/eslint.sarif\"");
  if (!image && command === undefined) throw new Error(`scan (${tool}): give a command (run in the sandbox) or an image (run as a container)`);
  const rest: Record<string, unknown> = { ...options };
  for (const key of SCAN_KEYS) delete rest[key];
  const report = { path: sarif, failOn, tool };
  if (image) {
    if (typeof command === "function") throw new Error(`scan (${tool}): a container's command is a string or an argv, not a function`);
    return {
      ...(rest as Omit<ContainerOptions, "image">),
      image,
      ...(command !== undefined && { command: typeof command === "string" ? ["sh", "-c", command] : command }),
      sarif: report,
      kind: "container",
    };
  }
  const containerOnly = CONTAINER_ONLY.filter((key) => rest[key] !== undefined);
  if (containerOnly.length) throw new Error(`scan (${tool}): ${containerOnly.join(", ")} apply to a container; give an image, or leave them out`);
  if (rest.network !== undefined && rest.network !== "none") throw new Error(`scan (${tool}): without an image, network may only be "none"`);
  const spec: SandboxScan = { tool, command: command!, sarif, exitCodes };
  return { ...(rest as TaskOptions), sarif: report, kind: "run", fn: (ctx: TaskContext<any>) => runSandboxScan(ctx, spec) } as RunTask;
}

interface SandboxScan {
  tool: string;
  command: ScanCommand;
  sarif: string;
  exitCodes: number[];
}

/** Runs a scanner in the task's process: an earlier attempt's report goes first, so a stale one is never read. */
async function runSandboxScan(ctx: TaskContext<any>, spec: SandboxScan): Promise<void> {
  const { mkdir, rm } = await import("node:fs/promises");
  const report = `${ctx.workspace}/${spec.sarif}`;
  await rm(report, { force: true });
  await mkdir(report.slice(0, report.lastIndexOf("/")), { recursive: true });
  const command = typeof spec.command === "function" ? await spec.command(ctx) : spec.command;
  const { argv, env, cleanup = [] } = typeof command === "string" ? { argv: ["sh", "-c", command] } : Array.isArray(command) ? { argv: command } : command;
  if (argv.length === 0) throw new Error(`scan (${spec.tool}): the command is empty`);
  const shell = ctx.$`${argv}`;
  let result;
  try {
    result = await (env ? shell.env({ ...ctx.env, ...env }) : shell).nothrow();
  } finally {
    for (const path of cleanup) await rm(path, { force: true });
  }
  if (!spec.exitCodes.includes(result.exitCode)) {
    throw new Error(`scan (${spec.tool}): the scanner exited with code ${result.exitCode} (${spec.exitCodes.join(" or ")} means it ran; see its output above)`);
  }
  if (!(await Bun.file(report).exists())) throw new Error(`scan (${spec.tool}): the scanner exited with code ${result.exitCode} but wrote no report at ${spec.sarif}`);
}

// --- presets in the sandbox -----------------------------------------------------------

/** A JavaScript scanner's packages: found in the project's node_modules, then Gantry's. */
interface ToolPackages {
  /** node_modules folder → the packages are in it. */
  modules: string;
}

/** Where the SDK's own node_modules are when the server runs from source (bound into every sandbox). */
const SDK_DIR = import.meta.dir;

/**
 * The node_modules folder holding all these packages: the workspace's own (the project's
 * pinned versions), then the server's (Gantry installs them as dev dependencies), then a
 * fresh install into the task's temp folder with npm (needs the network).
 */
async function findPackages(ctx: TaskContext<any>, tool: string, packages: string[], usable: (modules: string) => Promise<boolean> = async () => true): Promise<ToolPackages> {
  for (const start of [process.cwd(), ctx.workspace, SDK_DIR]) {
    let dir = start;
    for (;;) {
      const modules = `${dir === "/" ? "" : dir}/node_modules`;
      const found = await Promise.all(packages.map((name) => Bun.file(`${modules}/${name}/package.json`).exists()));
      if (found.every(Boolean) && (await usable(modules))) return { modules };
      if (dir === "/" || dir === "") break;
      dir = dir.slice(0, dir.lastIndexOf("/")) || "/";
    }
  }
  const npm = Bun.which("npm");
  if (!npm) {
    throw new Error(`scan (${tool}): ${packages.join(", ")} are not installed in the workspace's node_modules or the server's, and npm is not here to install them: add them to the project (npm i -D ${packages.join(" ")})`);
  }
  const prefix = `${ctx.env.TMPDIR || "/tmp"}/gantry-scan-${tool}`;
  ctx.log(`scan (${tool}): installing ${packages.join(", ")} with npm (not found in the workspace's node_modules or the server's)`);
  // The majors these presets are written for: a later one may change its command line.
  const specs = packages.map((name) => (INSTALL_RANGES[name] ? `${name}@${INSTALL_RANGES[name]}` : name));
  const installed = await ctx.$`${npm} install --no-save --no-audit --no-fund --no-package-lock --prefix ${prefix} ${specs}`.quiet().nothrow();
  if (installed.exitCode !== 0) {
    throw new Error(`scan (${tool}): npm could not install ${packages.join(", ")}: ${installed.stderr.toString().trim().split("\n").slice(-3).join(" ")}`);
  }
  return { modules: `${prefix}/node_modules` };
}

/** What npm installs when neither the project nor the server has a scanner (the versions Gantry is tested with). */
const INSTALL_RANGES: Record<string, string> = {
  eslint: "^10",
  "eslint-plugin-security": "^4",
  "@microsoft/eslint-formatter-sarif": "^3",
  secretlint: "^13",
  "@secretlint/secretlint-rule-preset-recommend": "^13",
  "@secretlint/secretlint-formatter-sarif": "^13",
};

/** The script a package's bin entry names. */
async function binOf(modules: string, name: string, bin = name): Promise<string> {
  const manifest = (await Bun.file(`${modules}/${name}/package.json`).json()) as { bin?: string | Record<string, string> };
  const entry = typeof manifest.bin === "string" ? manifest.bin : manifest.bin?.[bin];
  if (!entry) throw new Error(`${name} in ${modules} has no "${bin}" command`);
  return `${modules}/${name}/${entry}`;
}

async function versionOf(modules: string, name: string): Promise<number[]> {
  const manifest = (await Bun.file(`${modules}/${name}/package.json`).json()) as { version?: string };
  return (manifest.version ?? "0").split(/[.-]/).map((part) => Number(part) || 0);
}

/**
 * The JavaScript runtime for a scanner's CLI: the Bun running this task (a compiled Gantry
 * acts as Bun when BUN_BE_BUN is set), so no Node.js needs to be installed.
 */
const JAVASCRIPT_RUNTIME = { argv: [process.execPath], env: { BUN_BE_BUN: "1" } };

/** `'text'` for sh, whatever it holds. */
function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

const defaultSarif = (tool: string, sarif: string | undefined) => sarif ?? `${tool}.sarif`;

/** Options of {@link eslintSecurity}. */
export interface EslintSecurityOptions extends SandboxScanOptions {
  /** What to lint, relative to the task's working directory; `["."]` by default. */
  paths?: string[];
  /** Globs of the files linted; JavaScript by default (`**\/*.{js,mjs,cjs,jsx}`), TypeScript too when the project has typescript-eslint. */
  files?: string[];
  /** Globs left out, beside ESLint's own (`node_modules`, `.git`). */
  ignores?: string[];
  /** How the plugin's rules report: `"warn"` (its recommendation: a finding of level warning) or `"error"`. */
  severity?: "warn" | "error";
}

const ESLINT_PACKAGES = ["eslint", "eslint-plugin-security", "@microsoft/eslint-formatter-sarif"];
const JS_FILES = ["**/*.js", "**/*.mjs", "**/*.cjs", "**/*.jsx"];
const TS_FILES = ["**/*.ts", "**/*.mts", "**/*.cts", "**/*.tsx"];

/**
 * ESLint with eslint-plugin-security's recommended rules, reported as SARIF through
 * `@microsoft/eslint-formatter-sarif`, in the `run()` sandbox. The rules come from a flat
 * config of their own (written to a temp file), so the project's ESLint config is neither
 * needed nor used. The packages are taken from the project's node_modules (ESLint 9.30 or
 * later), else from the server's, else installed with npm. The plugin's rules report
 * warnings: gate on them with `failOn: "warning"`, or set `severity: "error"`.
 *
 * @example
 * ```ts
 * security: eslintSecurity({ paths: ["src"], failOn: "warning", needs: { checkout: "success" } }),
 * ```
 */
export function eslintSecurity(options: EslintSecurityOptions = {}): RunTask {
  const { paths = ["."], files, ignores = [], severity = "warn", sarif, failOn, ...taskOptions } = options;
  const report = defaultSarif("eslint-security", sarif);
  return scan({
    ...taskOptions,
    tool: "eslint",
    sarif: report,
    ...(failOn !== undefined && { failOn }),
    // 0: no errors; 1: errors found (judged from the report); 2: ESLint itself failed.
    exitCodes: [0, 1],
    command: async (ctx) => {
      const { modules } = await findPackages(ctx, "eslint", ESLINT_PACKAGES, async (candidate) => {
        // basePath (9.30) lets a config outside the project lint it.
        const [major = 0, minor = 0] = await versionOf(candidate, "eslint");
        return major > 9 || (major === 9 && minor >= 30);
      });
      const cwd = process.cwd();
      const from = modules.slice(0, -"/node_modules".length) || "/";
      const plugin = Bun.resolveSync("eslint-plugin-security", from);
      // TypeScript too when typescript-eslint is at hand (beside ESLint, or in the project).
      const typescript = files === undefined ? [from, cwd, ctx.workspace].map((dir) => resolveOrUndefined("typescript-eslint", dir)).find(Boolean) : undefined;
      const config = eslintConfig({ plugin, typescript, cwd, files: files ?? JS_FILES, ignores, severity });
      const configFile = `${ctx.env.TMPDIR || "/tmp"}/gantry-eslint-${crypto.randomUUID()}.config.mjs`;
      await Bun.write(configFile, config);
      const argv = [
        ...JAVASCRIPT_RUNTIME.argv,
        await binOf(modules, "eslint"),
        "--config",
        configFile,
        "--format",
        `${modules}/@microsoft/eslint-formatter-sarif/sarif.js`,
        "--output-file",
        `${ctx.workspace}/${report}`,
        "--no-error-on-unmatched-pattern",
        "--no-warn-ignored",
        ...paths,
      ];
      return { argv, env: JAVASCRIPT_RUNTIME.env, cleanup: [configFile] };
    },
  }) as RunTask;
}

function resolveOrUndefined(name: string, from: string): string | undefined {
  try {
    return Bun.resolveSync(name, from);
  } catch {
    return undefined;
  }
}

/** A flat config importing the plugin (and typescript-eslint's parser) by absolute URL, so it works from a temp file. */
function eslintConfig(options: { plugin: string; typescript: string | undefined; cwd: string; files: string[]; ignores: string[]; severity: "warn" | "error" }): string {
  const { plugin, typescript, cwd, files, ignores, severity } = options;
  const url = (path: string) => JSON.stringify(`file://${encodeURI(path)}`);
  return [
    `import security from ${url(plugin)};`,
    typescript ? `import tseslint from ${url(typescript)};` : "",
    `const rules = Object.fromEntries(Object.keys(security.configs.recommended.rules).map((rule) => [rule, ${JSON.stringify(severity)}]));`,
    `const basePath = ${JSON.stringify(cwd)};`,
    "export default [",
    `  { basePath, ignores: ${JSON.stringify(ignores)} },`,
    `  { basePath, files: ${JSON.stringify(files)}, plugins: { security }, rules },`,
    typescript ? `  { basePath, files: ${JSON.stringify(TS_FILES)}, languageOptions: { parser: tseslint.parser }, plugins: { security }, rules },` : "",
    "];",
    "",
  ].join("\n");
}

/** Options of {@link secretlint}. */
export interface SecretlintOptions extends SandboxScanOptions {
  /** Files or folders (or globs) to check, relative to the task's working directory; everything (`**\/*`) by default. */
  paths?: string[];
  /** A `.secretlintrc.json` of the project to use instead of the recommended rules. */
  config?: string;
}

const SECRETLINT_PACKAGES = ["secretlint", "@secretlint/secretlint-rule-preset-recommend", "@secretlint/secretlint-formatter-sarif"];

/**
 * secretlint with its recommended rules (cloud keys, private keys, tokens...), reported as
 * SARIF, in the `run()` sandbox. Secrets found are masked in the messages stored. Files
 * `.gitignore` and `.secretlintignore` name are skipped. The packages come from the project's
 * node_modules, else the server's, else npm.
 *
 * @example
 * ```ts
 * secrets: secretlint({ paths: ["src", "config"], needs: { checkout: "success" } }),
 * ```
 */
export function secretlint(options: SecretlintOptions = {}): RunTask {
  const { paths = ["**/*"], config, sarif, failOn, ...taskOptions } = options;
  const report = defaultSarif("secretlint", sarif);
  return scan({
    ...taskOptions,
    tool: "secretlint",
    sarif: report,
    ...(failOn !== undefined && { failOn }),
    exitCodes: [0, 1],
    command: async (ctx) => {
      const { stat } = await import("node:fs/promises");
      const { modules } = await findPackages(ctx, "secretlint", SECRETLINT_PACKAGES);
      // secretlint takes globs: a folder stands for everything in it.
      const globs = await Promise.all(
        paths.map(async (path) => {
          if (/[*?[\]{}]/.test(path)) return path;
          const found = await stat(path).catch(() => undefined);
          return found?.isDirectory() ? `${path.replace(/\/+$/, "")}/**/*` : path;
        }),
      );
      const argv = [
        ...JAVASCRIPT_RUNTIME.argv,
        await binOf(modules, "secretlint"),
        ...globs,
        ...(config !== undefined ? ["--secretlintrc", config] : ["--secretlintrcJSON", JSON.stringify({ rules: [{ id: "@secretlint/secretlint-rule-preset-recommend" }] })]),
        "--format",
        "@secretlint/secretlint-formatter-sarif",
        "--output",
        `${ctx.workspace}/${report}`,
        "--no-color",
      ];
      return { argv, env: JAVASCRIPT_RUNTIME.env };
    },
  }) as RunTask;
}

/** Options of {@link flawfinder}. */
export interface FlawfinderOptions extends SandboxScanOptions {
  /** C/C++ files or folders to check, relative to the task's working directory; `["."]` by default. */
  paths?: string[];
  /** The lowest risk level reported, 0 to 5 (flawfinder's `--minlevel`; 1 by default). */
  minLevel?: number;
}

/**
 * flawfinder (C and C++: buffer overflows, format strings, races...), with its own SARIF
 * output, in the `run()` sandbox. It must be installed on the server (Debian:
 * `apt-get install flawfinder`). Its risk levels 4-5 are errors, 2-3 warnings, 0-1 notes.
 *
 * @example
 * ```ts
 * c: flawfinder({ paths: ["src"], failOn: "error", needs: { checkout: "success" } }),
 * ```
 */
export function flawfinder(options: FlawfinderOptions = {}): RunTask {
  const { paths = ["."], minLevel, sarif, failOn, ...taskOptions } = options;
  if (minLevel !== undefined && (!Number.isInteger(minLevel) || minLevel < 0 || minLevel > 5)) throw new Error(`flawfinder: minLevel must be 0 to 5 (got ${String(minLevel)})`);
  const report = defaultSarif("flawfinder", sarif);
  return scan({
    ...taskOptions,
    tool: "flawfinder",
    sarif: report,
    ...(failOn !== undefined && { failOn }),
    exitCodes: [0],
    command: (ctx) => {
      if (!Bun.which("flawfinder")) throw new Error("scan (flawfinder): flawfinder is not installed on this server (Debian: apt-get install flawfinder)");
      // flawfinder writes SARIF to stdout.
      const args = ["flawfinder", "--sarif", ...(minLevel !== undefined ? [`--minlevel=${minLevel}`] : []), "--", ...paths];
      return `${args.map(shellQuote).join(" ")} > ${shellQuote(`${ctx.workspace}/${report}`)}`;
    },
  }) as RunTask;
}

// --- presets in a container -----------------------------------------------------------

/** Options of {@link semgrep}. */
export interface SemgrepOptions extends ContainerScanOptions {
  /** Rules: registry rulesets (`"p/default"`, `"p/owasp-top-ten"`) or rule files in the workspace; `"p/default"` by default. */
  config?: string | string[];
  /** What to scan, relative to the workspace; `["."]` by default. */
  paths?: string[];
  /** The semgrep image; `"semgrep/semgrep:latest"` by default. */
  scanner?: string;
}

/**
 * Semgrep in its official image (`semgrep/semgrep`), as its docs run it:
 * `semgrep scan --config <rules> --sarif --output <report> --metrics off <paths>`. Registry
 * rulesets (`p/...`) are downloaded at each run, so the container needs the network.
 * Semgrep exits 0 when it finds something; the findings decide through `failOn`.
 *
 * @example
 * ```ts
 * sast: semgrep({ config: ["p/default", "p/secrets"], failOn: "error", needs: { checkout: "success" } }),
 * ```
 */
export function semgrep(options: SemgrepOptions = {}): ContainerTask {
  const { config = "p/default", paths = ["."], scanner = "semgrep/semgrep:latest", sarif, failOn, ...taskOptions } = options;
  const report = defaultSarif("semgrep", sarif);
  const configs = Array.isArray(config) ? config : [config];
  return scan({
    ...taskOptions,
    tool: "semgrep",
    image: scanner,
    sarif: report,
    ...(failOn !== undefined && { failOn }),
    command: ["semgrep", "scan", ...configs.flatMap((rules) => ["--config", rules]), "--sarif", "--output", `${CONTAINER_WORKSPACE}/${report}`, "--metrics", "off", ...paths],
  }) as ContainerTask;
}

/** Options of {@link trivy}. */
export interface TrivyOptions extends ContainerScanOptions {
  /** The image to scan, e.g. `"registry.example.com/app:1.4"`. */
  image: string;
  /** Only these severities, e.g. `["CRITICAL", "HIGH"]`. */
  severity?: ("UNKNOWN" | "LOW" | "MEDIUM" | "HIGH" | "CRITICAL")[];
  /** Leave out vulnerabilities that have no fixed version yet. */
  ignoreUnfixed?: boolean;
  /**
   * Mount the Docker socket, so trivy scans an image of this server's engine (one a task
   * built) rather than pulling it from its registry. The admin must allow that mount
   * (`container_allowed_mounts`).
   */
  dockerSocket?: boolean;
  /** The trivy image; `"aquasec/trivy:latest"` by default. */
  scanner?: string;
}

/**
 * Trivy's image scan in its official image (`aquasec/trivy`), as its docs run it:
 * `trivy image --format sarif --output <report> --exit-code 0 <image>`. It downloads its
 * vulnerability database, so the container needs the network. Critical and high
 * vulnerabilities are errors in its SARIF, medium warnings, low notes.
 *
 * @example
 * ```ts
 * vulns: trivy({ image: "127.0.0.1:5000/app:${GANTRY_RUN_ID}", severity: ["CRITICAL", "HIGH"], needs: { push: "success" } }),
 * ```
 */
export function trivy(options: TrivyOptions): ContainerTask {
  const { image, severity, ignoreUnfixed, dockerSocket, scanner = "aquasec/trivy:latest", sarif, failOn, ...taskOptions } = options;
  if (typeof image !== "string" || image === "") throw new Error("trivy: image must name the image to scan");
  const report = defaultSarif("trivy", sarif);
  return scan({
    ...withDockerSocket(taskOptions, dockerSocket),
    tool: "trivy",
    image: scanner,
    entrypoint: ["trivy"],
    sarif: report,
    ...(failOn !== undefined && { failOn }),
    command: [
      "image",
      "--format",
      "sarif",
      "--output",
      `${CONTAINER_WORKSPACE}/${report}`,
      "--exit-code",
      "0",
      ...(severity?.length ? ["--severity", severity.join(",")] : []),
      ...(ignoreUnfixed ? ["--ignore-unfixed"] : []),
      image,
    ],
  }) as ContainerTask;
}

/** Options of {@link grype}. */
export interface GrypeOptions extends ContainerScanOptions {
  /** The image to scan (grype's source, e.g. `"alpine:3.20"`, `"registry:host/app:1"`, `"docker:app:dev"`). */
  image: string;
  /** Leave out vulnerabilities that have no fix. */
  onlyFixed?: boolean;
  /** Mount the Docker socket, so `docker:` images of this server's engine can be scanned (the admin must allow the mount). */
  dockerSocket?: boolean;
  /** The grype image; `"anchore/grype:latest"` by default. */
  scanner?: string;
}

/**
 * Grype in its official image (`anchore/grype`), as its docs run it:
 * `grype <image> -o sarif --file <report>`. It downloads its vulnerability database, so the
 * container needs the network; it exits 0 on findings (no `--fail-on`), so `failOn` decides.
 *
 * @example
 * ```ts
 * vulns: grype({ image: "registry:127.0.0.1:5000/app:latest", onlyFixed: true, failOn: "error" }),
 * ```
 */
export function grype(options: GrypeOptions): ContainerTask {
  const { image, onlyFixed, dockerSocket, scanner = "anchore/grype:latest", sarif, failOn, ...taskOptions } = options;
  if (typeof image !== "string" || image === "") throw new Error("grype: image must name the image to scan");
  const report = defaultSarif("grype", sarif);
  return scan({
    ...withDockerSocket(taskOptions, dockerSocket),
    tool: "grype",
    image: scanner,
    entrypoint: ["/grype"],
    sarif: report,
    ...(failOn !== undefined && { failOn }),
    command: [image, "-o", "sarif", "--file", `${CONTAINER_WORKSPACE}/${report}`, ...(onlyFixed ? ["--only-fixed"] : [])],
  }) as ContainerTask;
}

const DOCKER_SOCKET = "/var/run/docker.sock";

function withDockerSocket<T extends { mounts?: ContainerOptions["mounts"] }>(options: T, socket: boolean | undefined): T {
  if (!socket) return options;
  return { ...options, mounts: [...(options.mounts ?? []), { source: DOCKER_SOCKET, target: DOCKER_SOCKET, readonly: true }] };
}
