// Blue-green deploys on Swarm: a service's two colors are the services `<service>-blue` and
// `<service>-green` on an attachable overlay network `gantry-<service>`, where only the live
// color carries the network alias `<service>`. A new image starts as the idle color; once all
// its tasks run, the alias is the new color's and the old color goes.
//
// How Swarm behaves here (checked on the engine of DESIGN.md): two services may carry the same
// alias (a lookup then answers both VIPs); a task gets no DNS record until it is healthy, so the
// new color can carry the alias from its creation without taking traffic early; changing a
// service's aliases is a TaskTemplate update that replaces its tasks. So the new color is
// created with the alias, and the old one loses it by being removed (keepPrevious 0) or by an
// update that replaces its tasks with alias-less ones (start-first) before it is kept idle.
import type Docker from "dockerode";
import type { BlueGreenStrategy } from "../../domain/deploy-tasks.ts";
import type { DeployRequest, DeployResult, RollbackRequest, ServiceStatus } from "./provider.ts";
import {
  budgetMs,
  describeFailures,
  details,
  seconds,
  specFor,
  watchRollout,
  foreignServiceProblem,
  nodeAuth,
} from "./swarm-provider.ts";
import { inspectService, listTasks, removeService, submitUpdate, waitGone, createSwarmService, type ServiceSpec, type SwarmService } from "../executors/swarm-client.ts";
import { pause } from "../pause.ts";

type Color = "blue" | "green";
const COLORS: Color[] = ["blue", "green"];
/** Swarm's limit on a service name: the colors add "-green". */
const MAX_NAME = 63;
/** How long a rollback by blueGreenRollback watches the new color before switching, ms. */
const ROLLBACK_MONITOR_MS = 5_000;

interface NetworkAttachment {
  Target: string;
  Aliases?: string[];
  [field: string]: unknown;
}

interface Colors {
  live?: { color: Color; service: SwarmService };
  /** The other color when it exists: a color kept after a switch, or left by a crash. */
  idle?: { color: Color; service: SwarmService };
}

/** What a switch starts and how. */
interface Switch {
  service: string;
  image: string;
  replicas: number;
  /** The new color's spec (its name, image, networks and labels set). */
  spec(color: Color, networkId: string): ServiceSpec;
  keepPreviousMs: number;
  monitorMs: number;
  log(line: string): void;
  signal: AbortSignal;
  /** The registry's credentials for the nodes that pull the image. */
  auth?: Record<string, string>;
}

export const colorName = (service: string, color: Color) => `${service}-${color}`;
export const networkName = (service: string) => `gantry-${service}`;

/** A deploy by blueGreen(): the request's image started as the idle color, then switched to. */
export async function deployBlueGreen(docker: Docker, request: DeployRequest): Promise<DeployResult> {
  const strategy = request.strategy as BlueGreenStrategy;
  const { service } = request;
  if (request.signal.aborted) return { ok: false, reason: "cancelled before the deploy started", rolledBack: false };
  if (colorName(service, "green").length > MAX_NAME) return { ok: false, reason: `service name ${service} is too long for blue-green: ${service}-green must fit Swarm's ${MAX_NAME} characters`, rolledBack: false };
  // A service deployed by rolling() answers to the name itself; adopting it would mean two
  // services answering `<service>` on different networks, so it is refused with the way out.
  if (await inspectService(docker, service)) {
    return { ok: false, reason: `service ${service} exists as a plain (rolling) service; blue-green runs ${service}-blue and ${service}-green instead: remove ${service} first (or keep deploying it with rolling())`, rolledBack: false };
  }
  const { live } = await findColors(docker, service);
  const foreign = live && foreignServiceProblem(live.service, request);
  if (foreign) return { ok: false, reason: foreign, rolledBack: false };
  return switchTo(docker, {
    service,
    image: request.image,
    replicas: request.replicas,
    spec: (color, networkId) => {
      const name = colorName(service, color);
      const base: ServiceSpec = { Name: name, TaskTemplate: { ContainerSpec: { Image: request.image }, Networks: [{ Target: networkId, Aliases: [service] }] } };
      const spec = specFor(base, request);
      return { ...spec, Labels: { ...spec.Labels, "gantry.service": service, "gantry.color": color } };
    },
    keepPreviousMs: strategy.keepPreviousMs,
    monitorMs: strategy.monitorMs,
    log: request.log,
    signal: request.signal,
    ...(request.registryAuth !== undefined && { auth: nodeAuth(request) }),
  });
}

/** A rollback of a blue-green service: the live color's settings with `image`, switched to like a deploy; undefined when `service` has no color. */
export async function blueGreenRollback(docker: Docker, request: RollbackRequest): Promise<DeployResult | undefined> {
  const { service, image, log } = request;
  const { live } = await findColors(docker, service);
  if (!live) return undefined;
  const { Spec } = live.service;
  return switchTo(docker, {
    service,
    image,
    replicas: Spec.Mode?.Replicated?.Replicas ?? 1,
    spec: (color, networkId) => ({
      ...Spec,
      Name: colorName(service, color),
      Labels: { ...Spec.Labels, "gantry.color": color },
      TaskTemplate: {
        ...Spec.TaskTemplate,
        ContainerSpec: { ...Spec.TaskTemplate.ContainerSpec, Image: image },
        Networks: [{ Target: networkId, Aliases: [service] }],
      },
    }),
    keepPreviousMs: 0,
    monitorMs: ROLLBACK_MONITOR_MS,
    log,
    // A rollback is itself the way back and runs to its end (bounded by the budget).
    signal: new AbortController().signal,
    ...(request.registryAuth !== undefined && { auth: nodeAuth(request) }),
  });
}

/** The live color as the service's status; undefined when it has no color. */
export async function blueGreenStatus(docker: Docker, service: string): Promise<ServiceStatus | undefined> {
  const { live } = await findColors(docker, service);
  if (!live) return undefined;
  const tasks = await listTasks(docker, live.service.ID);
  const { State, Message } = live.service.UpdateStatus ?? {};
  return {
    service: live.service.Spec.Name,
    color: live.color,
    image: live.service.Spec.TaskTemplate.ContainerSpec.Image,
    running: tasks.filter((task) => task.DesiredState === "running" && task.Status.State === "running").length,
    desired: live.service.Spec.Mode?.Replicated?.Replicas ?? 0,
    ...(State && { updateState: State }),
    ...(Message && { updateMessage: Message }),
  };
}

/** Removes both colors and their network. */
export async function removeColors(docker: Docker, service: string): Promise<void> {
  for (const color of COLORS) await removeService(docker, colorName(service, color));
  await removeNetwork(docker, networkName(service));
}

async function switchTo(docker: Docker, change: Switch): Promise<DeployResult> {
  const { service, image, replicas, log, signal } = change;
  const networkId = await ensureNetwork(docker, service);
  const { live, idle } = await findColors(docker, service);
  const color: Color = live?.color === "blue" ? "green" : "blue";
  const name = colorName(service, color);
  const previousImage = live?.service.Spec.TaskTemplate.ContainerSpec.Image;
  if (idle) {
    log(`removing ${idle.service.Spec.Name}, left from an earlier deploy`);
    await removeService(docker, idle.service.Spec.Name);
    await waitGone(docker, idle.service.Spec.Name);
  }
  const spec = change.spec(color, networkId);
  log(`starting ${color} with image ${image} (${replicas} replicas${live ? `; ${live.service.Spec.Name} stays live` : ""})`);
  await createSwarmService(docker, spec, change.auth);
  // Swarm reports a task running only once it is healthy (with a health check), and only then
  // gives it a DNS record: the alias answers with the new color from that moment.
  const limit = budgetMs(spec) + change.monitorMs;
  let settled: Awaited<ReturnType<typeof watchRollout>>;
  try {
    settled = await watchRollout(docker, { service: name, image, replicas, log: (line) => log(`${color}: ${line}`), signal, deadline: Date.now() + limit, before: new Set(), holdMs: change.monitorMs, failFast: true });
  } catch (error) {
    // An unverified color must not stay beside the live one (a later deploy would take it for live).
    await removeService(docker, name).catch(() => undefined);
    throw error;
  }
  if (settled.how !== "converged") {
    const failures = await describeFailures(docker, settled.tasks, new Set(), image);
    log(`removing ${name}: it did not become healthy${live ? `; ${live.service.Spec.Name} stays live` : ""}`);
    await removeService(docker, name);
    const why = settled.how === "cancelled" ? "cancelled" : settled.how === "timeout" ? `${name} was not running after ${seconds(limit)} s` : `${image} did not start as ${name}`;
    const outcome = live ? `${name} was removed and ${live.service.Spec.Name} stays live on ${previousImage}` : `${name} was removed (nothing to roll back to)`;
    return { ok: false, reason: `${why}${details(failures)}; ${outcome}`, rolledBack: live !== undefined, ...(previousImage !== undefined && { previousImage }) };
  }
  log(`${color}: ${replicas}/${replicas} tasks running`);
  if (!live) {
    log(`alias ${service} is on ${color}`);
    return { ok: true, image };
  }
  const old = live.service.Spec.Name;
  if (change.keepPreviousMs <= 0) {
    // Removing the old color takes its alias with it: no update of its tasks needed.
    log(`switched alias ${service} to ${color}`);
    await removeService(docker, old);
    log(`removed ${live.color}`);
    return { ok: true, image, ...(previousImage !== undefined && { previousImage }) };
  }
  await dropAlias(docker, live.service, service, log);
  log(`switched alias ${service} to ${color}`);
  log(`keeping ${live.color} (${previousImage}) for ${seconds(change.keepPreviousMs)} s`);
  // A cancel in this window only ends the wait: the new color is live and healthy.
  await pause(change.keepPreviousMs, signal);
  await removeService(docker, old);
  log(`removed ${live.color}`);
  return { ok: true, image, ...(previousImage !== undefined && { previousImage }) };
}

/** Takes the alias off the old color: an update that replaces its tasks (start-first), watched until it is done. */
async function dropAlias(docker: Docker, current: SwarmService, alias: string, log: (line: string) => void): Promise<void> {
  const networks = ((current.Spec.TaskTemplate.Networks as NetworkAttachment[] | undefined) ?? []).map(({ Aliases, ...network }) => {
    const rest = (Aliases ?? []).filter((name) => name !== alias);
    return rest.length > 0 ? { ...network, Aliases: rest } : network;
  });
  const spec: ServiceSpec = { ...current.Spec, TaskTemplate: { ...current.Spec.TaskTemplate, Networks: networks, ForceUpdate: ((current.Spec.TaskTemplate.ForceUpdate as number | undefined) ?? 0) + 1 } };
  await submitUpdate(docker, current, spec);
  const image = current.Spec.TaskTemplate.ContainerSpec.Image;
  const replicas = current.Spec.Mode?.Replicated?.Replicas ?? 1;
  // Not failFast and no signal: whatever happens to the old color now, the new one is live.
  await watchRollout(docker, { service: current.Spec.Name, image, replicas, log: () => {}, deadline: Date.now() + budgetMs(spec), before: new Set(), holdMs: 0, failFast: false });
}

/** The service's colors; the live one carries the alias (both do mid-switch: the newer is live). */
async function findColors(docker: Docker, service: string): Promise<Colors> {
  const found = (await Promise.all(COLORS.map(async (color) => ({ color, service: await inspectService(docker, colorName(service, color)) })))).filter(
    (entry): entry is { color: Color; service: SwarmService } => entry.service !== undefined,
  );
  const aliased = found.filter((entry) => ((entry.service.Spec.TaskTemplate.Networks as NetworkAttachment[] | undefined) ?? []).some((network) => network.Aliases?.includes(service)));
  const byAge = (a: { service: SwarmService }, b: { service: SwarmService }) => created(b.service) - created(a.service);
  const live = [...aliased].sort(byAge)[0] ?? [...found].sort(byAge)[0];
  const idle = found.find((entry) => entry !== live);
  return { ...(live && { live }), ...(idle && { idle }) };
}

const created = (service: SwarmService) => Date.parse((service as { CreatedAt?: string }).CreatedAt ?? "") || 0;

/** The id of the colors' network, created (overlay, attachable) when missing. */
async function ensureNetwork(docker: Docker, service: string): Promise<string> {
  const name = networkName(service);
  const existing = await docker.getNetwork(name).inspect().catch(() => undefined) as { Id: string } | undefined;
  if (existing) return existing.Id;
  try {
    const network = await docker.createNetwork({ Name: name, Driver: "overlay", Attachable: true, Labels: { "gantry.service": service } });
    return network.id;
  } catch (error) {
    // Another deploy made it meanwhile.
    const raced = await docker.getNetwork(name).inspect().catch(() => undefined) as { Id: string } | undefined;
    if (raced) return raced.Id;
    throw error;
  }
}

async function removeNetwork(docker: Docker, name: string): Promise<void> {
  // Tasks leave the network a moment after their service is removed.
  for (let attempt = 0; attempt < 40; attempt++) {
    try {
      await docker.getNetwork(name).remove();
      return;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return;
      await Bun.sleep(250);
    }
  }
}

