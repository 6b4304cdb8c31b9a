// What a deployment target must do, whatever it is (Docker Swarm here; a cloud's container
// service behind the same calls): check it can be reached, roll a service to a new image by a
// strategy (rolling back by itself when the new one is unhealthy), tell what runs now, and go
// back to the previous deployment.

import type { DeployStrategy, HealthCheck, PublishedPort } from "../../domain/deploy-tasks.ts";
import type { ImageOwner } from "../../domain/image-tasks.ts";

export type { DeployStrategy, HealthCheck };

export interface DeployRequest {
  /** The service's name on the target (unique there); Gantry labels it as its own. */
  service: string;
  image: string;
  replicas: number;
  strategy: DeployStrategy;
  healthCheck?: HealthCheck;
  env: Record<string, string>;
  /** Ports the service publishes; absent: the service's own are kept (a version stored before ports existed). */
  ports?: PublishedPort[];
  /** The registry's credentials (`user:password` or Docker's JSON auth) the target's nodes pull the image with, when it needs some. */
  registryAuth?: string;
  /** Labels put on the service (gantry.namespace, gantry.pipeline, gantry.run, gantry.environment...). */
  labels: Record<string, string>;
  /** Lines for the task's log: each step as it happens (tasks started, healthy, updated, rolled back). */
  log(line: string): void;
  /** Aborted when the deploy task is cancelled or times out: the update is rolled back. */
  signal: AbortSignal;
}

export type DeployResult =
  /** The service runs `image` on all its replicas. */
  | { ok: true; previousImage?: string; image: string }
  /**
   * The new image did not become healthy (or the update failed): the target rolled back to
   * `previousImage`; `unreachable` when the target could not be reached at all.
   */
  | { ok: false; reason: string; previousImage?: string; rolledBack: boolean; unreachable?: boolean };

export interface ServiceStatus {
  /** What runs on the target: the service itself, or its live color ("web-green") when it runs blue-green. */
  service: string;
  /** The live color of a blue-green service. */
  color?: "blue" | "green";
  image: string;
  /** Tasks running / wanted. */
  running: number;
  desired: number;
  /** The target's own word on the last update ("completed", "rollback_completed"...), if any. */
  updateState?: string;
  updateMessage?: string;
}

/** An image to put where the target's nodes can pull it. */
export interface PushRequest {
  /** The image as the server's engine knows it (built by a dockerBuild task). */
  image: string;
  /** The pipeline (and run) deploying: only an image that pipeline built is pushed, as dockerPush does. */
  owner: ImageOwner;
  /** The registry's credentials (`user:password` or Docker's JSON auth), from the environment's registryAuth secret. */
  registryAuth?: string;
  log(line: string): void;
  signal: AbortSignal;
}

export type PushResult =
  /** The reference the target's nodes pull (the registry's name for the image). */
  | { ok: true; image: string }
  | { ok: false; reason: string };

/** A rollback a person asked for: which service of which environment goes back to which image. */
export interface RollbackRequest {
  service: string;
  image: string;
  /** The environment's key: only a service it deployed is rolled back. */
  environment: string;
  /** The registry's credentials for the nodes that pull the image again. */
  registryAuth?: string;
  log(line: string): void;
}

export interface DeployProvider {
  /** The provider's id, as environments name it ("swarm"). */
  readonly id: string;
  /** Whether the target answers and can take deployments; `problem` says why not in a person's words. */
  testConnection(): Promise<{ ok: true; detail: string } | { ok: false; problem: string }>;
  /**
   * Puts the image where every node of the target can pull it (a swarm's registry, a cloud's
   * container registry) and answers the reference to deploy; a target without one (a one-node
   * swarm using the server's own engine) answers the image as it is.
   */
  pushImage(request: PushRequest): Promise<PushResult>;
  deploy(request: DeployRequest): Promise<DeployResult>;
  /** What runs as the service now; undefined when there is no such service. */
  status(service: string): Promise<ServiceStatus | undefined>;
  /**
   * Redeploys `image` (the previous successful deployment's) with the service's other settings
   * kept; refused for a service that is not `environment`'s (its gantry.environment label).
   */
  rollback(request: RollbackRequest): Promise<DeployResult>;
  /** Removes the service (an environment's clean-up, tests). */
  remove(service: string): Promise<void>;
}
