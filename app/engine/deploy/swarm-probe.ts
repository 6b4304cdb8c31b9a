// The canary analysis's HTTP probe: requests made from inside a task's container (an exec of
// sh running the image's curl, else its wget, against 127.0.0.1), timed there so the exec's own
// start-up is not counted. From inside because no routing mesh, VIP or published port answers
// on a machine without IPVS; the task's loopback always does.
import type Docker from "dockerode";
import { Writable, type Duplex } from "node:stream";
import type { ProbeRequest } from "../../domain/canary-analysis.ts";
import type { HttpAnalysis } from "../../domain/deploy-tasks.ts";
import { dockerMessage } from "../executors/docker-client.ts";

/** Beyond each request's timeout and interval: the exec's start, the tools' detection, each request's fork. */
const SLACK_MS = 10_000;
const PER_REQUEST_SLACK_MS = 250;
/** The marker of the script's own lines, apart from anything else the image prints. */
const MARK = "gantry-probe";

/** Which clock timed the requests, in the image's tools. */
export type ProbeClock = "curl" | "date" | "uptime";

export type ProbeOutcome =
  /** Every request made (or counted as timed out when the probe ran past its time). */
  | { ok: true; requests: ProbeRequest[]; clock: ProbeClock }
  | { ok: false; cancelled: boolean; problem: string };

/** The clock in words for the step's log. */
export const describeClock = (clock: ProbeClock): string =>
  clock === "curl" ? "timed by curl in the task" : clock === "date" ? "timed in the task by date +%s%N" : "timed in the task by /proc/uptime, in 10ms steps";

/**
 * The script run by `sh -c` in the task: `$1` the URL, `$2` requests, `$3` seconds between
 * them, `$4` each request's timeout in seconds. It prints `gantry-probe using <client> <clock>
 * <cut>`, then per request `gantry-probe curl <exit> <status> <seconds>` or `gantry-probe wget
 * <exit> <start> <end> <wget -S output...>`, then `gantry-probe done`; or `gantry-probe
 * no-client`. Busybox's date has no %N where it is built without it, so /proc/uptime (10 ms
 * steps) is the last clock. Busybox's wget has no working -T here (it crashes), so the cut is
 * the `timeout` command, or GNU wget's own -T.
 */
const SCRIPT = String.raw`
set -f
url=$1 requests=$2 gap=$3 limit=$4
if command -v curl >/dev/null 2>&1; then client=curl
elif command -v wget >/dev/null 2>&1; then client=wget
else echo "${MARK} no-client"; exit 0; fi
clock=uptime
case $(date +%s%N 2>/dev/null) in *[!0-9]*|"") ;; *) clock=date ;; esac
[ "$client" = curl ] && clock=curl
cut=none
if [ "$client" = wget ]; then
  case $(wget --version 2>&1) in *"GNU Wget"*) cut=gnu ;; esac
  [ "$cut" = none ] && command -v timeout >/dev/null 2>&1 && cut=timeout
fi
echo "${MARK} using $client $clock $cut"
now() { if [ "$clock" = date ]; then date +%s%N; else read -r up rest </proc/uptime; echo "$up"; fi; }
i=0
while [ "$i" -lt "$requests" ]; do
  i=$((i + 1))
  if [ "$client" = curl ]; then
    out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time "$limit" "$url" 2>/dev/null)
    code=$?
    printf '%s\n' "${MARK} curl $code $out"
  else
    start=$(now)
    case $cut in
      gnu) out=$(wget -S -q -O /dev/null -T "$limit" -t 1 "$url" 2>&1) ;;
      timeout) out=$(timeout "$limit" wget -S -q -O /dev/null "$url" 2>&1) ;;
      *) out=$(wget -S -q -O /dev/null "$url" 2>&1) ;;
    esac
    code=$?
    end=$(now)
    set -- $out
    printf '%s\n' "${MARK} wget $code $start $end $*"
  fi
  if [ "$i" -lt "$requests" ] && [ "$gap" != 0 ]; then sleep "$gap"; fi
done
echo "${MARK} done"
`;

/** What to probe: the analysis's settings, in the container `containerId` of task `task`. */
export interface TaskProbe {
  containerId: string;
  /** The task's short id, for messages. */
  task: string;
  http: HttpAnalysis;
  signal: AbortSignal;
}

/** Makes the analysis's requests in one task's container; a problem when they cannot be made there. */
export async function probeTask(docker: Docker, probe: TaskProbe): Promise<ProbeOutcome> {
  const { http, signal } = probe;
  const url = `http://127.0.0.1:${http.port}${http.path}`;
  const args = [url, String(http.requests), seconds(http.intervalMs), seconds(http.timeoutMs)];
  const limitMs = http.requests * (http.timeoutMs + http.intervalMs + PER_REQUEST_SLACK_MS) + SLACK_MS;
  if (signal.aborted) return { ok: false, cancelled: true, problem: "cancelled" };
  let ran: ExecRun;
  try {
    ran = await execInContainer(docker, probe.containerId, ["sh", "-c", SCRIPT, MARK, ...args], signal, limitMs);
  } catch (error) {
    return { ok: false, cancelled: false, problem: execProblem(error, probe.task) };
  }
  if (ran.how === "cancelled") return { ok: false, cancelled: true, problem: "cancelled" };
  const lines = ran.output.split("\n").filter((line) => line.startsWith(`${MARK} `));
  if (lines.some((line) => line === `${MARK} no-client`)) {
    return { ok: false, cancelled: false, problem: "the canary image has neither curl nor wget, which the HTTP analysis needs; use a health check instead" };
  }
  const using = lines.find((line) => line.startsWith(`${MARK} using `));
  if (!using) {
    // The script never started: no sh (the engine says so in the output, exit 126 or 127), or something else.
    if (/executable file not found|no such file or directory/i.test(ran.output)) {
      return { ok: false, cancelled: false, problem: "the canary image has no sh, which the HTTP analysis needs to run curl or wget in its tasks; use a health check instead" };
    }
    return { ok: false, cancelled: false, problem: `the HTTP probe could not run in task ${probe.task} (exit ${ran.exitCode ?? "?"}): ${ran.output.trim().slice(0, 200) || "no output"}` };
  }
  const clock = using.split(" ")[3] as ProbeClock;
  const requests = lines.map((line) => parseRequest(line, http)).filter((request) => request !== undefined);
  // The script did not get to its end (past its time with a request hanging where the image has no
  // way to cut it, or the stream broke off): the requests not told count as timed out, never as none.
  const finished = lines.includes(`${MARK} done`);
  const missing = finished ? 0 : Math.max(0, http.requests - requests.length);
  for (let index = 0; index < missing; index++) requests.push({ latencyMs: http.timeoutMs, timedOut: true });
  return { ok: true, requests, clock };
}

/** One request's line of the script, or undefined for its other lines. */
export function parseRequest(line: string, http: Pick<HttpAnalysis, "timeoutMs">): ProbeRequest | undefined {
  const [mark, client, exitText, ...rest] = line.split(" ");
  if (mark !== MARK || (client !== "curl" && client !== "wget")) return undefined;
  const exit = Number(exitText);
  if (client === "curl") {
    const status = Number(rest[0]);
    const latencyMs = Math.round(Number(rest[1]) * 1000) || 0;
    // 28: curl's --max-time cut it.
    const timedOut = exit === 28 || latencyMs >= http.timeoutMs;
    const answered = status >= 100 ? status : undefined;
    return { latencyMs, timedOut, ...(answered !== undefined && { status: answered }), ...(exit !== 0 && !timedOut && { error: curlError(exit, answered) }) };
  }
  const [start = "", end = "", ...said] = rest;
  const latencyMs = elapsedMs(start, end);
  // 124: GNU timeout cut it; 143: busybox's timeout (killed by TERM).
  const timedOut = exit === 124 || exit === 143 || latencyMs >= http.timeoutMs;
  // wget -S prints each answer's status line; after a redirect the last is the final answer's.
  const statuses = [...said.join(" ").matchAll(/HTTP\/[\d.]+ (\d{3})/g)].map((match) => Number(match[1]));
  const status = statuses.at(-1);
  const words = said.join(" ");
  const error =
    exit === 0 || timedOut
      ? undefined
      : /connection refused/i.test(words)
        ? "were refused"
        : status === undefined
          ? "got no answer"
          : // wget exits 0 on any 2xx after following redirects: a failure with one broke off mid-answer.
            status < 400
            ? `broke off after answering ${status}`
            : undefined;
  return { latencyMs, timedOut, ...(status !== undefined && { status }), ...(error !== undefined && { error }) };
}

function curlError(exit: number, status: number | undefined): string {
  if (exit === 7) return "were refused";
  if (exit === 52) return "got an empty reply";
  return status === undefined ? `got no answer (curl exit ${exit})` : `broke off after answering ${status} (curl exit ${exit})`;
}

/** Between two stamps of the script's clock: nanoseconds since the epoch (date) or seconds since boot (/proc/uptime). */
function elapsedMs(start: string, end: string): number {
  if (/^\d+$/.test(start) && /^\d+$/.test(end) && start.length > 12) return Number((BigInt(end) - BigInt(start)) / 1_000_000n);
  const ms = Math.round((Number(end) - Number(start)) * 1000);
  return Number.isFinite(ms) && ms >= 0 ? ms : 0;
}

interface ExecRun {
  how: "exited" | "cancelled" | "deadline";
  /** Stdout and stderr together. */
  output: string;
  exitCode?: number;
}

/**
 * Runs `cmd` in the container and collects its output until it exits, `signal` aborts or
 * `limitMs` passes. On abort the stream is closed at once; the engine cannot kill an exec, so
 * the process may finish in the container (a canary being removed takes it along).
 */
async function execInContainer(docker: Docker, containerId: string, cmd: string[], signal: AbortSignal, limitMs: number): Promise<ExecRun> {
  const exec = await docker.getContainer(containerId).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream: Duplex = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  docker.modem.demuxStream(stream, sink, sink);
  const how = await new Promise<ExecRun["how"]>((resolve) => {
    const finish = (how: ExecRun["how"]) => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      resolve(how);
    };
    const onAbort = () => finish("cancelled");
    const timer = setTimeout(() => finish("deadline"), limitMs);
    signal.addEventListener("abort", onAbort, { once: true });
    stream.once("end", () => finish("exited"));
    stream.once("close", () => finish("exited"));
    stream.once("error", () => finish("exited"));
  });
  stream.destroy();
  const output = Buffer.concat(chunks).toString("utf8");
  if (how !== "exited") return { how, output };
  const inspected = (await exec.inspect().catch(() => undefined)) as { ExitCode?: number | null } | undefined;
  return { how, output, ...(typeof inspected?.ExitCode === "number" && { exitCode: inspected.ExitCode }) };
}

/** Why the engine would not run the probe in the task's container. */
function execProblem(error: unknown, task: string): string {
  const statusCode = (error as { statusCode?: number }).statusCode;
  if (statusCode === 404) return `task ${task}'s container is not on this engine (it runs on another node): the HTTP analysis probes only tasks on the engine the environment names`;
  if (statusCode === 409) return `task ${task} stopped before it could be probed`;
  return `the HTTP probe could not start in task ${task}: ${dockerMessage(error)}`;
}

/** Milliseconds as the seconds sleep, timeout, curl and wget take ("0.5", "2"). */
const seconds = (ms: number): string => String(ms / 1000);
