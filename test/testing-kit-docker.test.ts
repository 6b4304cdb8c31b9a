// testRun with `containers: "docker"`: container tasks run for real on the local Docker engine
// (the locally built busybox image; nothing is pulled), sharing the run's workspace with run()
// tasks, their output in the task's log with secrets masked, their exit codes and timeouts.
import { describe, expect, it, setDefaultTimeout } from "bun:test";
import { container, definePipeline, run, secret } from "gantry";
import { testRun } from "gantry/testing";

setDefaultTimeout(60_000);

const IMAGE = "local/busybox:latest";

describe("testRun on Docker", () => {
  it("runs container tasks in the shared workspace, with their environment and masked secrets", async () => {
    const pipeline = definePipeline({
      id: "boxed",
      variables: { NAME: "box" },
      tasks: {
        make: container({
          image: IMAGE,
          pull: "never",
          command: ["sh", "-c", 'echo "made by $NAME" > /workspace/made.txt; echo "hello from $NAME in $(pwd)"; echo "token $TOKEN" >&2'],
          env: { TOKEN: secret("token") },
        }),
        read: run(async (ctx) => ctx.log(await Bun.file(`${ctx.workspace}/made.txt`).text()), { needs: { make: "success" } }),
        broken: container({ image: IMAGE, pull: "never", command: ["sh", "-c", "exit 3"] }),
        slow: container({ image: IMAGE, pull: "never", command: ["sleep", "30"], timeout: "1s" }),
      },
    });
    const result = await testRun(pipeline, { containers: "docker", secrets: { token: "hunter2-secret-value" } });
    expect(result.task("make")).toHaveSucceeded();
    expect(result.task("make").stdout).toBe("hello from box in /workspace");
    expect(result.task("make").stderr).toBe("token ***");
    expect(result.task("read").log).toBe("made by box");
    expect(result.task("broken").reason).toBe("exited with code 3");
    expect(result.task("broken").exitCode).toBe(3);
    expect(result.task("slow").reason).toBe("timed out after 1s");
    expect(result.log).not.toContain("hunter2");
    // Nothing is left behind on the engine.
    const left = Bun.spawnSync(["docker", "ps", "-aq", "--filter", "label=gantry.test=true"]).stdout.toString().trim();
    expect(left).toBe("");
  });

  it("says when the image is not on the engine, without pulling it", async () => {
    const pipeline = definePipeline({ id: "missing", tasks: { nope: container({ image: "local/not-built-here:latest", pull: "never", command: ["true"] }) } });
    const result = await testRun(pipeline, { containers: "docker" });
    expect(result.task("nope")).toHaveFailed();
    expect(result.task("nope").reason).toContain("the container could not start");
  });
});
