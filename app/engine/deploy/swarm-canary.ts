// Canary deploys on Swarm: the new image runs as a separate service `<service>-canary` (the
// main service's settings, the new image) beside the main service, which keeps the old image.
// Each step scales the canary to its share and watches it; a canary task that ends (fails, or
// is killed for an unhealthy health check) removes the canary and leaves the main service as it
// was. After the last step the main service is rolled to the image by the rolling path (Swarm's
// own FailureAction rollback) and the canary goes.
//
// Task health always counts: Swarm reports a task running only once its health check passes.
// With an HTTP analysis, each step then probes every canary task from inside it (swarm-probe.ts),
// because on this machine kind (no IPVS) no routing mesh, VIP or published port answers; its
// success rate and latency percentile must meet the thresholds or the step fails as an
// unhealthy task does. The canary takes no share of real traffic: that needs a load balancer
// or mesh in front that splits requests by weight.
import type Docker from "dockerode";
import { formatDuration } from "../../domain/duration.ts";
import { describeHttpAnalysisReport, judgeHttpAnalysis } from "../../domain/canary-analysis.ts";
import { canaryReplicas, DEFAULT_ROLLING, type CanaryStep, type CanaryStrategy, type HttpAnalysis } from "../../domain/deploy-tasks.ts";
import type { DeployRequest, DeployResult } from "./provider.ts";
import { blueGreenStatus } from "./swarm-blue-green.ts";
import { describeClock, probeTask } from "./swarm-probe.ts";
import {
  budgetMs,
  createService,
  describeFailures,
  details,
  specFor,
  nodeAuth,
  updateService,
  watchRollout,
  foreignServiceProblem,
} from "./swarm-provider.ts";
import { inspectService, removeService, submitUpdate, createSwarmService, waitGone, type ServiceSpec, type SwarmService, type SwarmTask } from "../executors/swarm-client.ts";

/** Swarm's limit on a service name: the canary adds "-canary". */
const MAX_NAME = 63;

export const canaryName = (service: string) => `${service}-canary`;

/** A deploy by canary(): steps of a canary service, then the main service promoted to the image. */
export async function deployCanary(docker: Docker, request: DeployRequest): Promise<DeployResult> {
  const { steps, analysis } = request.strategy as CanaryStrategy;
  const { service, image, log, signal } = request;
  const canary = canaryName(service);
  if (signal.aborted) return { ok: false, reason: "cancelled before the deploy started", rolledBack: false };
  if (canary.length > MAX_NAME) return { ok: false, reason: `service name ${service} is too long for a canary: ${canary} must fit Swarm's ${MAX_NAME} characters`, rolledBack: false };
  // The main service's own updates (its first creation, the promotion) roll as rolling() does by default.
  const rolling = { ...request, strategy: { ...DEFAULT_ROLLING } };
  const main = await inspectService(docker, service);
  if (!main) {
    const colors = await blueGreenStatus(docker, service);
    if (colors) return { ok: false, reason: `service ${service} runs blue-green (${colors.service} is live): deploy it with blueGreen(), or remove it first`, rolledBack: false };
    log(`no service ${service} yet: nothing to compare a canary against, so it is created as rolling() does`);
    return createService(docker, rolling);
  }
  const foreign = foreignServiceProblem(main, request);
  if (foreign) return { ok: false, reason: foreign, rolledBack: false };
  const previousImage = main.Spec.TaskTemplate.ContainerSpec.Image;
  const mainReplicas = main.Spec.Mode?.Replicated?.Replicas ?? 1;
  if (await inspectService(docker, canary)) {
    log(`removing ${canary}, left from an earlier deploy`);
    await removeService(docker, canary);
    await waitGone(docker, canary);
  }
  const stepped = { ...rolling, spec: canarySpec(main, request) };
  for (const [index, step] of steps.entries()) {
    const failed = await runStep(docker, { ...stepped, index, step, steps: steps.length, mainReplicas, previousImage, ...(analysis && { http: analysis.http }), ...(request.registryAuth !== undefined && { auth: nodeAuth(request) }) }).catch(async (error: Error) => {
      // The engine failed mid-step: the canary goes, the main service stays as it was.
      await removeService(docker, canary).catch(() => undefined);
      throw error;
    });
    if (failed) {
      log(`removing ${canary}; ${service} stays on ${previousImage}`);
      await removeService(docker, canary);
      log(`removed ${canary}`);
      return { ok: false, reason: `${failed}; ${canary} was removed and ${service} stays on ${previousImage}`, previousImage, rolledBack: true };
    }
  }
  // The promotion: the main service read again (its version may have moved), rolled start-first one at a time.
  const current = (await inspectService(docker, service)) ?? main;
  log(`promoting: rolling ${service} to ${image} (${DEFAULT_ROLLING.order}, ${DEFAULT_ROLLING.parallelism} at a time)`);
  const promoted = await updateService(docker, current, { service, image, replicas: request.replicas, spec: specFor(current.Spec, rolling), log, signal, ...(request.registryAuth !== undefined && { registryAuth: request.registryAuth }) });
  await removeService(docker, canary);
  log(`removed ${canary}`);
  if (promoted.ok) return promoted;
  return { ...promoted, reason: `promoting ${service} after the canary: ${promoted.reason}` };
}

/** The canary: the main service's settings with the request's image, labels and health check, and no published ports. */
function canarySpec(main: SwarmService, request: DeployRequest): ServiceSpec {
  const { EndpointSpec: _ports, ...spec } = specFor(main.Spec, { ...request, strategy: { ...DEFAULT_ROLLING } });
  return { ...spec, Name: canaryName(request.service), Labels: { ...spec.Labels, "gantry.service": request.service, "gantry.canary": "true" } };
}

interface Step {
  service: string;
  image: string;
  spec: ServiceSpec;
  index: number;
  step: CanaryStep;
  steps: number;
  mainReplicas: number;
  previousImage: string;
  /** The step's HTTP analysis, once its tasks have held healthy through the pause. */
  http?: HttpAnalysis;
  log(line: string): void;
  signal: AbortSignal;
  /** The registry's credentials for the nodes that pull the image. */
  auth?: Record<string, string>;
}

/** Scales the canary to the step's share and watches it through the pause; why it failed, or undefined. */
async function runStep(docker: Docker, run: Step): Promise<string | undefined> {
  const { service, image, step, log, signal } = run;
  const canary = canaryName(service);
  const label = `canary step ${run.index + 1}/${run.steps}`;
  const replicas = canaryReplicas(step, run.mainReplicas);
  const share = step.percent !== undefined ? `${step.percent}%` : `${Math.round((100 * replicas) / run.mainReplicas)}%`;
  log(`${label}: ${replicas} of ${run.mainReplicas} replicas (${share})`);
  if (signal.aborted) return `cancelled at ${label}`;
  const spec: ServiceSpec = { ...run.spec, Mode: { Replicated: { Replicas: replicas } } };
  const existing = await inspectService(docker, canary);
  if (!existing) await createSwarmService(docker, spec, run.auth);
  // A scale-only update: Swarm keeps the running canary tasks and adds (or stops) the difference.
  else await submitUpdate(docker, existing, { ...existing.Spec, Mode: { Replicated: { Replicas: replicas } } }, undefined, run.auth);
  // Swarm reports a task running only once it is healthy; a canary task that ends at any point
  // (failed, or killed for its health check) is a failure (failFast, no task counted as earlier).
  const limit = budgetMs(spec) + step.pauseMs;
  const settled = await watchRollout(docker, { service: canary, image, replicas, log: (line) => log(`canary: ${line}`), signal, deadline: Date.now() + limit, before: new Set(), holdMs: step.pauseMs, failFast: true });
  if (settled.how === "converged") {
    log(`canary healthy through ${formatDuration(step.pauseMs)}`);
    return run.http ? analyseStep(docker, { http: run.http, tasks: settled.tasks, image, label, log, signal }) : undefined;
  }
  if (settled.how === "cancelled") return `cancelled at ${label}`;
  const failures = await describeFailures(docker, settled.tasks, new Set(), image);
  if (settled.how === "timeout") return `${label}: ${canary} did not keep ${replicas} tasks running for ${formatDuration(step.pauseMs)} within ${formatDuration(limit)}${details(failures)}`;
  return `${label}: a task of ${canary} (${image}) failed${details(failures)}`;
}

interface StepAnalysis {
  http: HttpAnalysis;
  /** The canary's tasks as the watch last saw them. */
  tasks: SwarmTask[];
  image: string;
  /** "canary step 1/3", for the log and the reason. */
  label: string;
  log(line: string): void;
  signal: AbortSignal;
}

/** Probes every running canary task over HTTP (from inside it) and holds the step's requests to the thresholds; why it failed, or undefined. */
async function analyseStep(docker: Docker, analysis: StepAnalysis): Promise<string | undefined> {
  const { http, label, log, signal } = analysis;
  const running = analysis.tasks.filter((task) => task.DesiredState === "running" && task.Status.State === "running" && task.Spec.ContainerSpec.Image === analysis.image);
  log(`${label}: HTTP analysis: ${http.requests} requests to http://127.0.0.1:${http.port}${http.path} inside each of ${running.length} canary ${running.length === 1 ? "task" : "tasks"}`);
  const outcomes = await Promise.all(
    running.map((task) => {
      const containerId = task.Status.ContainerStatus?.ContainerID;
      if (!containerId) return { ok: false as const, cancelled: false, problem: `task ${task.ID.slice(0, 12)} has no container yet` };
      return probeTask(docker, { containerId, task: task.ID.slice(0, 12), http, signal });
    }),
  );
  if (signal.aborted) return `cancelled at ${label}`;
  for (const outcome of outcomes) if (!outcome.ok) return outcome.cancelled ? `cancelled at ${label}` : `${label}: ${outcome.problem}`;
  const report = judgeHttpAnalysis(
    outcomes.flatMap((outcome) => (outcome.ok ? outcome.requests : [])),
    http,
  );
  const clocks = [...new Set(outcomes.flatMap((outcome) => (outcome.ok ? [describeClock(outcome.clock)] : [])))].join("; ");
  log(`${label}: HTTP analysis ${report.breach ? "failed" : "passed"}: ${describeHttpAnalysisReport(report, http)}${clocks ? `; ${clocks}` : ""}`);
  return report.breach ? `${label}: ${report.breach}` : undefined;
}
