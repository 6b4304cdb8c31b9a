// Turns the Engine API's build stream into a readable task log and, when the build fails,
// the step that failed, its error and its last output. BuildKit's trace is written the way
// BuildKit's own plain progress reads ("#5 [2/3] RUN make", its output, "#5 DONE 0.4s");
// the classic builder's stream ("Step 2/3 : RUN make", output, errorDetail) is passed through.
import type { LogStream } from "../../stores/logs.ts";
import { decodeTrace, type TraceStatus, type TraceVertex } from "./buildkit-trace.ts";

/** One JSON message of POST /build's answer. */
export interface BuildMessage {
  id?: string;
  aux?: unknown;
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
}

export interface BuildFailure {
  /** The step that failed: "[3/4] RUN make" (BuildKit) or "Step 3/4 : RUN make" (classic); absent when none was running. */
  step?: string;
  error: string;
  /** The step's last output lines. */
  output: string[];
}

export interface BuildProgress {
  message(message: BuildMessage): void;
  /** The stream ended: writes output lines that had no newline yet. */
  end(): void;
  failure(): BuildFailure | undefined;
  /** The built image's id, once the engine has said it. */
  imageId(): string | undefined;
  /** Whether the engine sent BuildKit's trace (false: the classic builder). */
  usedBuildKit(): boolean;
}

export type LogLine = (stream: LogStream, text: string) => void;

/** How many output lines of a step are kept to explain its failure. */
const TAIL_LINES = 20;

const TRACE_ID = "moby.buildkit.trace";
const CANCELED = /context canceled/i;

interface Step {
  number: number;
  name: string;
  started?: number;
  completed?: number;
  cached: boolean;
  error?: string;
  shownStart: boolean;
  shownEnd: boolean;
  /** Output without its newline yet. */
  pending: string;
  tail: string[];
}

/** A line as a terminal would leave it: of a line rewritten with "\r" (progress bars), its last state. */
function lastState(line: string): string {
  if (!line.includes("\r")) return line;
  const parts = line.split("\r").filter((part) => part.length > 0);
  return parts.at(-1) ?? "";
}

function keep(tail: string[], line: string): void {
  tail.push(line);
  if (tail.length > TAIL_LINES) tail.shift();
}

export function createBuildProgress(log: LogLine): BuildProgress {
  const steps = new Map<string, Step>();
  const decoder = new TextDecoder();
  let buildKit = false;
  let failure: BuildFailure | undefined;
  let imageId: string | undefined;
  // The classic builder: the current step and its output.
  let classicPending = "";
  let classicStep: string | undefined;
  let classicTail: string[] = [];

  const stepOf = (digest: string): Step => {
    let step = steps.get(digest);
    if (!step) {
      step = { number: steps.size + 1, name: "", cached: false, shownStart: false, shownEnd: false, pending: "", tail: [] };
      steps.set(digest, step);
    }
    return step;
  };

  const showStart = (step: Step) => {
    if (step.shownStart) return;
    step.shownStart = true;
    log("out", `#${step.number} ${step.name}`);
  };

  const stepLines = (step: Step, text: string, stream: LogStream, final = false) => {
    step.pending += text;
    const lines = step.pending.split("\n");
    step.pending = final ? "" : lines.pop()!;
    for (const raw of lines) {
      if (final && raw === "") continue;
      const line = lastState(raw);
      keep(step.tail, line);
      log(stream, `#${step.number} ${line}`);
    }
  };

  const updateVertex = (vertex: TraceVertex) => {
    const step = stepOf(vertex.digest);
    if (vertex.name) step.name = vertex.name;
    if (vertex.cached) step.cached = true;
    if (vertex.started !== undefined) step.started = vertex.started;
    if (vertex.completed !== undefined) step.completed = vertex.completed;
    if (vertex.error) step.error = vertex.error;
    if (step.started === undefined && step.completed === undefined && !step.cached && !step.error) return;
    showStart(step);
    if (step.shownEnd) return;
    if (step.cached) {
      step.shownEnd = true;
      log("out", `#${step.number} CACHED`);
    } else if (step.error) {
      stepLines(step, "", "out", true);
      step.shownEnd = true;
      log("err", `#${step.number} ERROR: ${step.error}`);
      // The first real error: steps running beside it end "context canceled" after it.
      if (!failure || (CANCELED.test(failure.error) && !CANCELED.test(step.error))) {
        failure = { step: step.name, error: step.error, output: [...step.tail] };
      }
    } else if (step.completed !== undefined) {
      stepLines(step, "", "out", true);
      step.shownEnd = true;
      const seconds = step.started !== undefined ? ` ${Math.max(0, step.completed - step.started).toFixed(1)}s` : "";
      log("out", `#${step.number} DONE${seconds}`);
    }
  };

  const trace = (status: TraceStatus) => {
    for (const vertex of status.vertexes) updateVertex(vertex);
    for (const entry of status.logs) {
      const step = stepOf(entry.vertex);
      showStart(step);
      stepLines(step, decoder.decode(entry.data), entry.stream === 2 ? "err" : "out");
    }
    for (const warning of status.warnings) {
      const step = steps.get(warning.vertex);
      log("err", `${step ? `#${step.number} ` : ""}WARNING: ${warning.message.trim()}`);
    }
  };

  const classicLines = (text: string, final = false) => {
    classicPending += text;
    const lines = classicPending.split("\n");
    classicPending = final ? "" : lines.pop()!;
    for (const raw of lines) {
      if (final && raw === "") continue;
      const line = lastState(raw);
      if (/^Step \d+\/\d+ : /.test(line)) {
        classicStep = line;
        classicTail = [];
      } else if (!/^ ---> |^Removing intermediate container /.test(line)) {
        // The builder's own bookkeeping is not the step's output.
        keep(classicTail, line);
      }
      log("out", line);
    }
  };

  let lastStatus: string | undefined;

  return {
    message(message) {
      if (message.id === TRACE_ID && typeof message.aux === "string") {
        buildKit = true;
        try {
          trace(decodeTrace(message.aux));
        } catch (error) {
          log("gantry", `could not read a BuildKit progress message: ${(error as Error).message}`);
        }
        return;
      }
      const aux = message.aux as { ID?: string } | undefined;
      if (aux && typeof aux === "object" && typeof aux.ID === "string") {
        imageId = aux.ID;
        return;
      }
      if (typeof message.stream === "string") {
        classicLines(message.stream);
        return;
      }
      if (message.error !== undefined || message.errorDetail !== undefined) {
        const error = (message.errorDetail?.message ?? message.error ?? "the build failed").trim();
        classicLines("", true);
        // BuildKit said it already, at the step (the engine repeats the step's error here).
        if (failure && failure.error === error) return;
        log("err", `ERROR: ${error}`);
        if (!failure || CANCELED.test(failure.error)) failure = buildKit ? { error, output: [] } : { ...(classicStep && { step: classicStep }), error, output: [...classicTail] };
        return;
      }
      // Base image pulls of the classic builder: each state once, not every progress tick.
      if (typeof message.status === "string") {
        const line = message.id ? `${message.id}: ${message.status}` : message.status;
        if (line !== lastStatus && !/^(Downloading|Extracting|Waiting|Verifying Checksum)$/.test(message.status)) log("out", line);
        lastStatus = line;
      }
    },
    end() {
      for (const step of steps.values()) if (step.pending) stepLines(step, "", "out", true);
      classicLines("", true);
    },
    failure: () => failure,
    imageId: () => imageId,
    usedBuildKit: () => buildKit,
  };
}

/** At most `max` characters, with "..." where it was cut. */
function shorten(text: string, max: number): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}

/** The failed task's reason: which step failed and why. */
export function buildFailureReason(failure: BuildFailure): string {
  // The classic builder's steps name themselves ("Step 2/3 : RUN make"); BuildKit's do not ("[2/3] RUN make").
  const step = failure.step ? ` at ${failure.step.startsWith("Step ") ? "" : "step "}${shorten(failure.step, 200)}` : "";
  return `image build failed${step}: ${shorten(failure.error, 500)}`;
}

/** The lines that close a failed build's log: the step, its error and its last output, together. */
export function buildFailureSummary(failure: BuildFailure): string[] {
  const lines = [`build failed${failure.step ? ` at ${failure.step.startsWith("Step ") ? "" : "step "}${failure.step}` : ""}: ${failure.error}`];
  if (failure.output.length > 0) lines.push("its last output:", ...failure.output.map((line) => `  ${line}`));
  return lines;
}
