// gantry/testing: pipelines run in the test's process with the engine's planner and rules:
// needs and skips, parallelism, retries and their delays and timeouts on the run's own clock,
// approval gates, secrets masked, inputs checked, triggers mapped, run() code captured (its
// console, its process.exit, its throw), mocks as results or functions, and the matchers'
// failure messages.
import { describe, expect, it } from "bun:test";
import { approval, container, definePipeline, github, run, secret, webhook } from "gantry";
import { testRun } from "gantry/testing";
import * as v from "valibot";

const mocked = (log: string, extra: object = {}) => ({ log, ...extra });

describe("testRun", () => {
  it("decides needs, skips and failure handlers as the planner does, mocks standing in for code", async () => {
    const pipeline = definePipeline({
      id: "shapes",
      tasks: {
        build: run(() => {}),
        test: run(() => {}, { needs: { build: "success" } }),
        deploy: run(() => {}, { needs: { test: "success" } }),
        notify: run(() => {}, { needs: { test: "failure" } }),
        always: run(() => {}, { needs: { deploy: "any", notify: "any" } }),
      },
    });
    const passing = await testRun(pipeline, { mocks: { build: mocked("built") } });
    expect(passing).toHaveSucceeded();
    expect(passing).toHaveTaskStates({ build: "successful", test: "successful", deploy: "successful", notify: "skipped", always: "successful" });
    expect(passing.task("build").log).toBe("built");
    expect(passing.task("build").attempts[0]!.mocked).toBe(true);
    expect(passing.task("test").attempts[0]!.mocked).toBe(false);

    const failing = await testRun(pipeline, { mocks: { test: { exitCode: 2, stderr: "1 failing" } } });
    expect(failing).toHaveFailed();
    expect(failing.reason).toBe("task test failed");
    expect(failing.task("test").reason).toBe("exited with code 2");
    expect(failing.task("test").stderr).toBe("1 failing");
    expect(failing.task("deploy")).toBeSkipped();
    expect(failing.task("deploy").reason).toBe("needs test to be successful, but it was failed");
    expect(failing.task("notify")).toHaveSucceeded();
    expect(failing).toHaveRunInOrder(["build", "test", "notify", "always"]);
    expect(failing.order).not.toContain("deploy");
  });

  it("keeps to the pipeline's parallelism, on the run's clock", async () => {
    const slow = { delayMs: 1_000 };
    const pipeline = definePipeline({ id: "fan", parallelism: 2, tasks: { a: run(() => {}), b: run(() => {}), c: run(() => {}), d: run(() => {}) } });
    const started = performance.now();
    const fan = await testRun(pipeline, { mocks: { a: slow, b: slow, c: slow, d: slow } });
    expect(performance.now() - started).toBeLessThan(500);
    expect(fan.starts.map((start) => [start.task, start.at])).toEqual([
      ["a", 0],
      ["b", 0],
      ["c", 1_000],
      ["d", 1_000],
    ]);
    expect(fan.durationMs).toBe(2_000);
  });

  it("retries after the task's retry delay and times out past its timeout, without waiting for either", async () => {
    let calls = 0;
    const pipeline = definePipeline({
      id: "flaky",
      tasks: {
        flaky: run(() => {}, { retries: 2, retryDelay: "10m" }),
        slow: run(() => {}, { timeout: "30s" }),
        patient: run(async (ctx) => {
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
          console.log(`stopped: ${(ctx.signal.reason as DOMException).name}`);
        }, { timeout: "200ms" }),
      },
    });
    const started = performance.now();
    const result = await testRun(pipeline, {
      mocks: {
        flaky: (ctx) => {
          calls++;
          ctx.log(`attempt ${ctx.attempt}`);
          return ctx.attempt < 3 ? 1 : 0;
        },
        slow: { delayMs: 3_600_000 },
      },
    });
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(calls).toBe(3);
    expect(result.task("flaky")).toHaveSucceeded();
    expect(result.task("flaky")).toHaveAttempts(3);
    expect(result.task("flaky").log).toContain("attempt 1 failed: exited with code 1; retrying in 10m");
    expect(result.task("flaky").log).toContain("attempt 3 of 3");
    // Two waits of ten minutes on the run's clock (a mock function's own run takes its real time).
    expect(result.task("flaky").attempts[2]!.startedAt).toBeGreaterThanOrEqual(1_200_000);
    expect(result.task("flaky").attempts[2]!.startedAt).toBeLessThan(1_200_100);
    expect(result.task("slow").reason).toBe("timed out after 30s");
    expect(result.task("slow").endedAt).toBe(30_000);
    expect(result.task("patient").reason).toBe("timed out after 200ms");
    expect(result.task("patient").stdout).toBe("stopped: TimeoutError");
  });

  it("captures each run() task's console, exit code and throw apart while they run side by side", async () => {
    const pipeline = definePipeline({
      id: "code",
      tasks: {
        chatty: run(async () => {
          for (let i = 1; i <= 3; i++) {
            console.log(`chatty ${i}`);
            await Bun.sleep(5);
          }
        }),
        other: run(async () => {
          for (let i = 1; i <= 3; i++) {
            console.error(`other ${i}`);
            await Bun.sleep(5);
          }
          process.exit(3);
        }),
        thrower: run(() => {
          throw new Error("no database");
        }),
        shell: run(async (ctx) => {
          await ctx.$`echo from the shell $GREETING`;
          return { answer: 42 };
        }),
      },
      variables: { GREETING: "hi" },
    });
    const result = await testRun(pipeline);
    expect(result.task("chatty").stdout).toBe("chatty 1\nchatty 2\nchatty 3");
    expect(result.task("other").stderr).toBe("other 1\nother 2\nother 3");
    expect(result.task("other").exitCode).toBe(3);
    expect(result.task("other").reason).toBe("exited with code 3");
    expect(result.task("thrower").reason).toBe("threw: no database");
    expect(result.task("thrower").stderr).toContain("Error: no database");
    expect(result.task("thrower").stderr).not.toContain("app/testing");
    expect(result.task("shell").output).toEqual({ answer: 42 });
    expect(result.task("shell")).toHaveSucceeded();
  });

  it("gives tasks their environment and a shared workspace, and masks secrets in every log", async () => {
    const pipeline = definePipeline({
      id: "env",
      variables: { WHERE: "pipeline", KEEP: "pipeline" },
      inputs: { target: v.picklist(["staging", "production"]), count: v.optional(v.pipe(v.number(), v.integer()), 2) },
      tasks: {
        write: run(async (ctx) => {
          await Bun.write(`${ctx.workspace}/built.txt`, `built for ${ctx.inputs.target}`);
          ctx.log(`token is ${ctx.env.TOKEN}`);
          ctx.log(`${ctx.env.WHERE} ${ctx.env.KEEP} ${ctx.env.INPUT_TARGET} ${ctx.env.INPUT_COUNT} ${ctx.env.GANTRY_PIPELINE_ID} ${ctx.env.GANTRY_TASK_ID}`);
        }, { env: { TOKEN: secret("deploy-token") } }),
        read: run(async (ctx) => ctx.log(await Bun.file(`${ctx.workspace}/built.txt`).text()), { needs: { write: "success" } }),
        missing: run(() => {}, { env: { OTHER: secret("not-given") } }),
      },
    });
    const result = await testRun(pipeline, { inputs: { target: "staging" }, variables: { WHERE: "run" }, secrets: { "deploy-token": "s3cr3t-value-123" } });
    expect(result.task("write").log).toBe("token is ***\nrun pipeline staging 2 env write");
    expect(result.task("read").log).toBe("built for staging");
    expect(result.task("missing").reason).toBe('secret "not-given" (for OTHER) does not exist');
    expect(result.task("missing").log).toContain("a test gives secrets in testRun's options");
    expect(result.log).not.toContain("s3cr3t");
    await expect(testRun(pipeline, { inputs: { target: "moon" } })).rejects.toThrow(/the inputs are not valid:\n {2}target: /);
  });

  it("decides approval gates as the test says, by autoApprove, or by their timeout", async () => {
    const pipeline = definePipeline({
      id: "gates",
      variables: { ENV: "staging" },
      tasks: {
        release: approval({ message: "ship to ${ENV}?", timeout: "4h" }),
        auto: approval({ autoApprove: (ctx) => ctx.env.ENV === "staging" }),
        lapse: approval({ timeout: "1h", onTimeout: "approve" }),
        ship: run((ctx) => ctx.log("shipped"), { needs: { release: "success" } }),
        rollback: run(() => {}, { needs: { release: "failure" } }),
      },
    });
    const approved = await testRun(pipeline, { approvals: { release: "approve" } });
    expect(approved).toHaveSucceeded();
    expect(approved.task("release").reason).toBe("approved by the test");
    expect(approved.task("release").log).toContain("waiting for approval: ship to staging?");
    expect(approved.task("auto").reason).toBe("approved by autoApprove: autoApprove returned true");
    expect(approved.task("lapse").reason).toBe('approved: nobody decided after 1h (onTimeout: "approve")');
    expect(approved.task("lapse").endedAt).toBe(3_600_000);
    expect(approved.task("ship").log).toBe("shipped");

    const rejected = await testRun(pipeline, { approvals: { release: { outcome: "reject", by: "ada", comment: "not today" } } });
    expect(rejected.task("release").reason).toBe("rejected by ada: not today");
    expect(rejected.task("ship")).toBeSkipped();
    expect(rejected.task("rollback")).toHaveSucceeded();

    const nobody = await testRun(pipeline);
    expect(nobody.task("release").reason).toBe("rejected: nobody decided after 4h");
  });

  it("starts as a webhook body or a GitHub delivery would, and says when the trigger would not start it", async () => {
    const pipeline = definePipeline({
      id: "triggered",
      triggers: [webhook({ secret: secret("hook"), variables: { REF: "ref", WHO: "pusher.name" } }), github({ repo: "acme/app", events: ["push"], branches: ["main"] })],
      tasks: { show: run((ctx) => ctx.log(`${ctx.env.REF ?? ctx.env.GANTRY_GITHUB_REF} ${ctx.env.WHO ?? ""} ${ctx.env.GANTRY_GITHUB_SHA ?? ""}`)) },
    });
    const hooked = await testRun(pipeline, { trigger: { webhook: { ref: "refs/heads/dev", pusher: { name: "ada" } } } });
    expect(hooked.task("show").log).toBe("refs/heads/dev ada ");
    const push = { ref: "refs/heads/main", after: "abc123", repository: { full_name: "acme/app" }, sender: { login: "ada" } };
    const pushed = await testRun(pipeline, { trigger: { github: { event: "push", payload: push } } });
    expect(pushed.task("show").log).toBe("refs/heads/main  abc123");
    await expect(testRun(pipeline, { trigger: { github: { event: "push", payload: { ...push, ref: "refs/heads/dev" } } } })).rejects.toThrow(
      "triggered's github() trigger would not start a run for this push to dev of acme/app (it listens to acme/app push on main)",
    );
  });

  it("mocks container tasks unless asked for Docker, and refuses what cannot be run", async () => {
    const pipeline = definePipeline({
      id: "boxes",
      tasks: { image: container({ image: "local/busybox:latest", command: ["sh", "-c", "exit 3"] }), after: run(() => {}, { needs: { image: "success" } }) },
    });
    const result = await testRun(pipeline);
    expect(result).toHaveSucceeded();
    expect(result.task("image").log).toBe('container local/busybox:latest not run: mocked (testRun containers: "docker" runs containers)');
    await expect(testRun(pipeline, { mocks: { nope: {} } })).rejects.toThrow('"nope" is not a task of boxes (its tasks: image, after)');
    await expect(testRun(definePipeline({ id: "Bad Id", tasks: {} }))).rejects.toThrow(/the pipeline is not valid:\n {2}id: /);
    expect(() => result.task("other")).toThrow('"other" is not a task of boxes (its tasks: image, after)');
  });

  it("stores artifacts from the workspace and hands them on; one another run stored is not there", async () => {
    const pipeline = definePipeline({
      id: "files",
      tasks: {
        build: run(async (ctx) => {
          await Bun.write(`${ctx.workspace}/build/dist/app.js`, "console.log(1)");
        }, { artifacts: { out: { dist: "build/dist" } } }),
        ship: run(async (ctx) => ctx.log(await Bun.file(`${ctx.workspace}/build/dist/app.js`).text()), { needs: { build: "success" }, artifacts: { in: { dist: "build" } } }),
        forgetful: run(() => {}, { artifacts: { out: { report: "report.html" } } }),
        compare: run(() => {}, { artifacts: { in: { previous: { run: "latest-successful", name: "dist" } } } }),
      },
    });
    const result = await testRun(pipeline);
    expect(result.task("build").artifacts).toEqual(["dist"]);
    expect(result.task("ship").log).toBe("console.log(1)");
    expect(result.task("forgetful").reason).toBe('artifact "report": report.html does not exist in the workspace');
    expect(result.task("compare").reason).toBe('artifact "dist" of the latest successful run does not exist: a test run has only its own run\'s artifacts (mock task compare)');
    const mockedBuild = await testRun(pipeline, { mocks: { build: {}, compare: {} } });
    // A mocked task's artifacts count as stored; the files are the test's to provide.
    expect(mockedBuild.task("ship")).toHaveFailed();
    expect(mockedBuild.task("ship").reason).toContain("ENOENT");
  });

  it("gives run() tasks a ctx.$ that logs what it prints unless the code takes it", async () => {
    const pipeline = definePipeline({
      id: "shell",
      tasks: {
        sh: run(async (ctx) => {
          ctx.log(`took ${(await ctx.$`echo taken`.text()).trim()}`);
          await ctx.$`echo hidden`.quiet();
          await ctx.$`echo $EXTRA`.env({ ...ctx.env, EXTRA: "from env()" });
          ctx.log(`exit ${(await ctx.$`exit 3`.nothrow()).exitCode}`);
          await ctx.$`echo shown; echo warned 1>&2`;
          const lines: string[] = [];
          for await (const line of ctx.$`printf 'a\nb\n'`.lines()) if (line) lines.push(line);
          ctx.log(lines.join(","));
          process.exitCode = 4;
        }),
      },
    });
    const result = await testRun(pipeline);
    expect(result.task("sh").lines.map((line) => `${line.stream}:${line.text}`)).toEqual(["out:took taken", "out:from env()", "out:exit 3", "out:shown", "err:warned", "out:a,b"]);
    // The task's exitCode is not the test process's.
    expect(process.exitCode).not.toBe(4);
  });

  it("moves the clock by a mock function's delayMs, and lets a mocked task take in any artifact", async () => {
    const pipeline = definePipeline({
      id: "mocked",
      tasks: {
        compare: run(() => {}, { artifacts: { in: { previous: { run: "latest-successful", name: "dist" } } } }),
        after: run(() => {}, { needs: { compare: "success" } }),
      },
    });
    const result = await testRun(pipeline, { mocks: { compare: (ctx) => ({ delayMs: 90_000, log: `compared in ${ctx.taskId}` }) } });
    expect(result.task("compare")).toHaveSucceeded();
    expect(result.task("compare").log).toBe("compared in compare");
    expect(result.task("compare").endedAt).toBeGreaterThanOrEqual(90_000);
    expect(result.starts.find((start) => start.task === "after")!.at).toBeGreaterThanOrEqual(90_000);
  });

  it("asks autoApprove before the test's decision, and waits out the timeout after autoApprove declines", async () => {
    const pipeline = definePipeline({
      id: "asked",
      variables: { ENV: "production" },
      tasks: {
        gate: approval({ autoApprove: (ctx) => ctx.env.ENV === "staging", timeout: "2h" }),
        go: run(() => {}, { needs: { gate: "success" } }),
      },
    });
    const staging = await testRun(pipeline, { variables: { ENV: "staging" }, approvals: { gate: "reject" } });
    expect(staging.task("gate").reason).toBe("approved by autoApprove: autoApprove returned true");
    const production = await testRun(pipeline);
    expect(production.task("gate").log).toContain("autoApprove returned false; a person decides");
    expect(production.task("gate").reason).toBe("rejected: nobody decided after 2h");
    expect(production.task("gate").endedAt).toBeGreaterThanOrEqual(7_200_000);
    const decided = await testRun(pipeline, { approvals: { gate: "approve" } });
    expect(decided.task("gate").reason).toBe("approved by the test");
    await expect(testRun(pipeline, { mocks: { gate: {} } })).rejects.toThrow('"gate" is an approval gate: decide it with approvals');
    await expect(testRun(pipeline, { approvals: { go: "approve" } })).rejects.toThrow('"go" is not an approval gate');
  });

  it("withholds secrets from a fork's pull request, and gives the server's own token empty", async () => {
    const pipeline = definePipeline({
      id: "pr",
      triggers: [github({ repo: "acme/app", events: ["pull_request"] })],
      tasks: {
        secretive: run(() => {}, { env: { TOKEN: secret("deploy-token") } }),
        cloner: run((ctx) => ctx.log(`token: "${ctx.env.GH}"`), { env: { GH: secret("github-app-token") } }),
      },
    });
    const pullRequest = (head: string) => ({
      action: "opened",
      repository: { full_name: "acme/app" },
      pull_request: { number: 7, title: "Fix", head: { sha: "abc", ref: "fix", repo: { full_name: head } }, base: { ref: "main", repo: { full_name: "acme/app" } } },
    });
    const ours = await testRun(pipeline, { secrets: { "deploy-token": "t0ken-value-1234" }, trigger: { github: { event: "pull_request", payload: pullRequest("acme/app") } } });
    expect(ours).toHaveSucceeded();
    expect(ours.task("cloner").log).toBe('token: ""');
    const fork = await testRun(pipeline, { secrets: { "deploy-token": "t0ken-value-1234" }, trigger: { github: { event: "pull_request", payload: pullRequest("stranger/app") } } });
    expect(fork.task("secretive").reason).toBe("secrets are withheld from runs triggered by pull requests from forks");
    expect(fork.task("cloner")).toHaveSucceeded();
  });

  it("refuses a matcher what it cannot read, even negated", async () => {
    const result = await testRun(definePipeline({ id: "tiny", tasks: { only: run(() => {}) } }));
    expect(() => expect("not a run").not.toHaveSucceeded()).toThrow("toHaveSucceeded expects a run from testRun()");
    expect(() => expect(result).toBeSkipped()).toThrow("a run is never skipped");
    expect(() => expect(result).toHaveTaskStates({ nope: "successful" })).toThrow("toHaveTaskStates names nope, which tiny does not have (its tasks: only)");
    expect(() => expect(result).toHaveRunInOrder(["only", "ghost"])).toThrow("toHaveRunInOrder names ghost");
  });

  it("restores and saves caches by the engine's key rules, within the run's workspace", async () => {
    const cache = { key: "deps-${hashFiles('lock.txt')}", paths: ["deps"], restoreKeys: ["deps-"] };
    const pipeline = definePipeline({
      id: "cached",
      tasks: {
        lock: run(async (ctx) => Bun.write(`${ctx.workspace}/lock.txt`, "left-pad@1")),
        install: run(async (ctx) => {
          ctx.log(`had deps: ${await Bun.file(`${ctx.workspace}/deps/pkg.txt`).exists()}`);
          await Bun.write(`${ctx.workspace}/deps/pkg.txt`, "installed");
        }, { needs: { lock: "success" }, cache }),
        wipe: run(async (ctx) => ctx.$`rm -rf deps`.quiet(), { needs: { install: "success" } }),
        reinstall: run(async (ctx) => ctx.log(`had deps: ${await Bun.file(`${ctx.workspace}/deps/pkg.txt`).exists()}`), { needs: { wipe: "success" }, cache }),
        other: run(() => {}, { needs: { reinstall: "success" }, cache: { key: "deps-other", paths: ["deps"], restoreKeys: ["deps-"] } }),
      },
    });
    const result = await testRun(pipeline);
    expect(result).toHaveSucceeded();
    const hash = new Bun.CryptoHasher("sha256").update(`lock.txt\0${new Bun.CryptoHasher("sha256").update("left-pad@1").digest("hex")}\n`).digest("hex");
    expect(result.task("install").cache).toEqual({ key: `deps-${hash}`, hit: "miss", saved: true });
    expect(result.task("install").log).toContain("had deps: false");
    expect(result.task("reinstall").cache).toEqual({ key: `deps-${hash}`, hit: "exact" });
    expect(result.task("reinstall").log).toContain("had deps: true");
    expect(result.task("other").cache).toEqual({ key: "deps-other", hit: "prefix", restoredKey: `deps-${hash}`, saved: true });
  });

  it("fails a matcher with the run drawn as text", async () => {
    const pipeline = definePipeline({ id: "drawn", tasks: { build: run(() => process.exit(1)), ship: run(() => {}, { needs: { build: "success" } }) } });
    const result = await testRun(pipeline);
    let message = "";
    try {
      expect(result).toHaveSucceeded();
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain("expected the run to have succeeded, but it failed:");
    expect(message).toContain("✗ build  failed   exited with code 1");
    expect(message).toContain("↷ ship   skipped  needs build to be successful, but it was failed  (needs build: success)");
  });
});
