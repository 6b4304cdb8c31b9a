import { describe, expect, it } from "bun:test";
import { dockerBuild, dockerPush, secret } from "../sdk/index.ts";
import { expandImageBuild, expandImagePush, imageReferenceProblem, pushTarget } from "./image-tasks.ts";
import { toPipelineSpec, type SpecIssue } from "./pipeline-spec.ts";

function issuesOf(tasks: Record<string, unknown>): SpecIssue[] {
  const result = toPipelineSpec({ id: "images", tasks });
  if (result.ok) throw new Error(`expected issues, got a valid spec: ${JSON.stringify(result.spec)}`);
  return result.issues;
}

describe("dockerBuild and dockerPush as pipeline data", () => {
  it("compile to container tasks with the build or push, the push's auth as the task's registry secret", () => {
    const result = toPipelineSpec({
      id: "images",
      tasks: {
        image: dockerBuild({ context: "app/", tags: ["app:${GANTRY_RUN_ID}", "app:latest"], buildArgs: { MODE: "release" }, target: "runtime", timeout: "10m" }),
        publish: dockerPush({ image: "app:latest", registry: "127.0.0.1:5000", auth: secret("registry_login"), needs: { image: "success" } }),
      },
    });
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    const [image, publish] = result.spec.tasks;
    expect(image).toMatchObject({
      kind: "container",
      timeoutMs: 600_000,
      container: { image: "app:${GANTRY_RUN_ID}", pull: "if-missing", build: { context: "app", tags: ["app:${GANTRY_RUN_ID}", "app:latest"], buildArgs: { MODE: "release" }, target: "runtime" } },
    });
    expect(publish).toMatchObject({
      kind: "container",
      needs: { image: "success" },
      container: { image: "app:latest", pullSecret: "registry_login", push: { image: "app:latest", registry: "127.0.0.1:5000" } },
    });
  });

  it("refuse a context or Dockerfile outside the workspace when the file loads", () => {
    expect(issuesOf({ image: dockerBuild({ context: "../outside", tags: ["app:1"] }) })).toEqual([
      { path: "tasks.image.build.context", message: "must stay inside the workspace (no .. segments)" },
    ]);
    expect(issuesOf({ image: dockerBuild({ context: "/etc", tags: ["app:1"] }) })[0]!.path).toBe("tasks.image.build.context");
    expect(issuesOf({ image: dockerBuild({ context: ".", dockerfile: "../Dockerfile", tags: ["app:1"] }) })[0]!.path).toBe("tasks.image.build.dockerfile");
  });

  it("refuse bad tags, registries and a push naming its registry twice", () => {
    expect(issuesOf({ image: dockerBuild({ context: ".", tags: [] }) }).map((issue) => issue.path)).toContain("tasks.image.build.tags");
    expect(issuesOf({ image: dockerBuild({ context: ".", tags: ["App:1"] }) })[0]!.path).toBe("tasks.image.build.tags.0");
    expect(issuesOf({ push: dockerPush({ image: "app:1", registry: "http://registry" }) })[0]!.path).toBe("tasks.push.push.registry");
    expect(issuesOf({ push: dockerPush({ image: "127.0.0.1:5000/app:1", registry: "127.0.0.1:5001" }) })[0]!.message).toContain("names a registry already");
  });
});

describe("image references", () => {
  it("take names with registries, paths and tags, and ${NAME} references", () => {
    for (const ok of ["app", "app:1", "team/app:1.2-rc_3", "127.0.0.1:5000/team/app:latest", "registry.example.com/a/b/c", "app:${GANTRY_RUN_ID}"]) {
      expect(imageReferenceProblem(ok)).toBeUndefined();
    }
    for (const bad of ["App", "app:", "app@sha256:abc", "-app", "app:${", "a b"]) expect(imageReferenceProblem(bad)).toBeDefined();
  });

  it("push to <registry>/<image>, tag latest when none is named", () => {
    expect(pushTarget({ image: "app", registry: "127.0.0.1:5000" })).toEqual({ repository: "127.0.0.1:5000/app", tag: "latest", reference: "127.0.0.1:5000/app:latest" });
    expect(pushTarget({ image: "127.0.0.1:5000/team/app:2" })).toEqual({ repository: "127.0.0.1:5000/team/app", tag: "2", reference: "127.0.0.1:5000/team/app:2" });
  });

  it("fill in ${NAME} from the task's variables when it starts, refusing unknown ones and invalid results", () => {
    const build = { context: ".", tags: ["app:${GANTRY_RUN_ID}"], labels: { run: "${GANTRY_RUN_ID}" } };
    expect(expandImageBuild(build, { GANTRY_RUN_ID: "7" })).toEqual({ context: ".", tags: ["app:7"], labels: { run: "7" } });
    expect(expandImageBuild(build, {})).toBe("the build uses ${GANTRY_RUN_ID}, which the task's variables do not have");
    expect(expandImageBuild({ context: ".", tags: ["app:${TAG}"] }, { TAG: "Not Valid" })).toStartWith('tag "app:Not Valid" (from "app:${TAG}") is not a valid image reference');
    expect(expandImagePush({ image: "app:${V}", registry: "${REGISTRY}" }, { V: "1", REGISTRY: "127.0.0.1:5000" })).toEqual({ image: "app:1", registry: "127.0.0.1:5000" });
  });
});
