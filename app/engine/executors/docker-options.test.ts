// The Docker executor's create options for a representative container task, written out in
// full: they were made straight from the task before the container plan (container-plan.ts)
// was shared with the swarm executor, and must stay what they were (the same Cmd, binds,
// labels, limits, security options) whatever the plan's refactors.
import { describe, expect, it } from "bun:test";
import { toPipelineSpec } from "../../domain/pipeline-spec.ts";
import { containerOptions } from "./docker.ts";
import type { TaskLaunch } from "./executor.ts";

function launchOf(task: Record<string, unknown>): TaskLaunch {
  const result = toPipelineSpec({ id: "build", tasks: { unit: { kind: "container", ...task } } });
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return {
    namespace: "team",
    pipeline: "build",
    run: 42,
    task: result.spec.tasks[0]!,
    attempt: 2,
    ref: "gantry-team-build-42-unit-2-abcd1234",
    bundlePath: "/data/bundles/x.js",
    env: { CI: "1", GANTRY_RUN_ID: "42", TOKEN: "s3cret" },
    workspace: "/data/workspaces/team/build/42",
    log: {} as TaskLaunch["log"],
  };
}

const options = {
  instance: "0123456789abcdef",
  defaultNetwork: "bridge",
  limits: { defaults: { memoryBytes: 2 * 1024 ** 3, cpus: 2, pids: 1024 }, maxima: { memoryBytes: 8 * 1024 ** 3, cpus: 16, pids: 4096 } },
  workspaceGroup: 990,
};

describe("the Docker executor's container", () => {
  it("is created with the options it had before the container plan was shared", () => {
    const launch = launchOf({
      image: "registry.local/node:22",
      command: ["npm", "test"],
      entrypoint: ["/bin/sh", "-c"],
      user: "1000:1000",
      workdir: "app",
      mounts: [{ source: "/srv/cache", target: "/cache", readonly: true }, { source: "/srv/out", target: "/out" }],
      capabilities: ["CHOWN"],
      network: "backend",
      memory: "512m",
      cpus: 8,
      pids: 256,
      keepContainer: true,
    });
    // 8 CPUs asked for, capped at the engine's 4.
    expect(containerOptions(launch, options, 4)).toStrictEqual({
      name: "gantry-team-build-42-unit-2-abcd1234",
      Image: "registry.local/node:22",
      Cmd: ["npm", "test"],
      Entrypoint: ["/bin/sh", "-c"],
      User: "1000:1000",
      Env: ["CI=1", "GANTRY_RUN_ID=42", "TOKEN=s3cret", "GANTRY_WORKSPACE=/workspace"],
      WorkingDir: "/workspace/app",
      Labels: {
        "gantry.managed": "true",
        "gantry.instance": "0123456789abcdef",
        "gantry.namespace": "team",
        "gantry.pipeline": "build",
        "gantry.run": "42",
        "gantry.task": "unit",
        "gantry.attempt": "2",
        "gantry.keep": "true",
      },
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      HostConfig: {
        Binds: ["/data/workspaces/team/build/42:/workspace", "/srv/cache:/cache:ro", "/srv/out:/out"],
        NetworkMode: "backend",
        Privileged: false,
        SecurityOpt: ["no-new-privileges"],
        CapDrop: ["ALL"],
        CapAdd: ["CHOWN"],
        GroupAdd: ["990"],
        Memory: 536870912,
        MemorySwap: 536870912,
        NanoCpus: 4000000000,
        PidsLimit: 256,
      },
    });
  });

  it("leaves out what the task does not set, and takes the server's defaults", () => {
    const { workspaceGroup: _none, ...withoutGroup } = options;
    expect(containerOptions(launchOf({ image: "local/busybox:latest" }), withoutGroup, undefined)).toStrictEqual({
      name: "gantry-team-build-42-unit-2-abcd1234",
      Image: "local/busybox:latest",
      Env: ["CI=1", "GANTRY_RUN_ID=42", "TOKEN=s3cret", "GANTRY_WORKSPACE=/workspace"],
      WorkingDir: "/workspace",
      Labels: {
        "gantry.managed": "true",
        "gantry.instance": "0123456789abcdef",
        "gantry.namespace": "team",
        "gantry.pipeline": "build",
        "gantry.run": "42",
        "gantry.task": "unit",
        "gantry.attempt": "2",
        "gantry.keep": "false",
      },
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      HostConfig: {
        Binds: ["/data/workspaces/team/build/42:/workspace"],
        NetworkMode: "bridge",
        Privileged: false,
        SecurityOpt: ["no-new-privileges"],
        CapDrop: ["ALL"],
        Memory: 2147483648,
        MemorySwap: 2147483648,
        NanoCpus: 2000000000,
        PidsLimit: 1024,
      },
    });
  });
});
