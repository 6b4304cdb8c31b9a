// Canary deploys on Swarm: the new image runs as a separate service `<service>-canary` (the
// main service's settings, the new image) beside the main service, which keeps the old image.
// Each step scales the canary to its share and watches it; a canary task that ends (fails, or
// is killed for an unhealthy health check) removes the canary and leaves the main service as it
// was. After the last step the main service is rolled to the image by the rolling path (Swarm's
// own FailureAction rollback) and the canary goes.
//
// Analysis is task health only. An HTTP probe's success rate and latency against the canary are
// not possible here: this machine kind has no IPVS, so no routing mesh or published port answers
// (DESIGN.md), and Swarm reports a task running only once its health check passes — that state
// is what counts.
import type Docker from "dockerode";
import { canaryReplicas, DEFAULT_ROLLING, type CanaryStep, type CanaryStrategy } from "../../domain/deploy-tasks.ts";
import type { DeployRequest, DeployResult } from "./provider.ts";
import { blueGreenStatus } from "./swarm-blue-green.ts";
import {
  budgetMs,
  createService,
  describeFailures,
  details,
  inspectService,
  removeService,
  specFor,
  submitUpdate,
  updateService,
  watchRollout,
  waitGone,
  foreignServiceProblem,
  type ServiceSpec,
  type SwarmService,
} from "./swarm-provider.ts";

/** Swarm's limit on a service name: the canary adds "-canary". */
const MAX_NAME = 63;

export const canaryName = (service: string) => `${service}-canary`;

/** A deploy by canary(): steps of a canary service, then the main service promoted to the image. */
export async function deployCanary(docker: Docker, request: DeployRequest): Promise<DeployResult> {
  const { steps } = request.strategy as CanaryStrategy;
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
    const failed = await runStep(docker, { ...stepped, index, step, steps: steps.length, mainReplicas, previousImage }).catch(async (error: Error) => {
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
  const promoted = await updateService(docker, current, { service, image, replicas: request.replicas, spec: specFor(current.Spec, rolling), log, signal });
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
  log(line: string): void;
  signal: AbortSignal;
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
  // The cast: @types/dockerode's ContainerSpec names the health check "HealthCheck"; the engine answers "Healthcheck".
  if (!existing) await docker.createService(spec as unknown as Docker.CreateServiceOptions);
  // A scale-only update: Swarm keeps the running canary tasks and adds (or stops) the difference.
  else await submitUpdate(docker, existing, { ...existing.Spec, Mode: { Replicated: { Replicas: replicas } } });
  // Swarm reports a task running only once it is healthy; a canary task that ends at any point
  // (failed, or killed for its health check) is a failure (failFast, no task counted as earlier).
  const limit = budgetMs(spec) + step.pauseMs;
  const settled = await watchRollout(docker, { service: canary, image, replicas, log: (line) => log(`canary: ${line}`), signal, deadline: Date.now() + limit, before: new Set(), holdMs: step.pauseMs, failFast: true });
  if (settled.how === "converged") {
    log(`canary healthy through ${duration(step.pauseMs)}`);
    return undefined;
  }
  if (settled.how === "cancelled") return `cancelled at ${label}`;
  const failures = await describeFailures(docker, settled.tasks, new Set(), image);
  if (settled.how === "timeout") return `${label}: ${canary} did not keep ${replicas} tasks running for ${duration(step.pauseMs)} within ${duration(limit)}${details(failures)}`;
  return `${label}: a task of ${canary} (${image}) failed${details(failures)}`;
}

const duration = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : ms < 1000 ? `${ms}ms` : `${(ms / 1000).toFixed(1)}s`);

