// Container tasks hand files to run() tasks through the run's workspace.
// Needs a Docker engine and the image local/busybox:latest (scripts/make-test-image.sh
// builds it from Debian's busybox-static); swap in any image you have.
import { container, definePipeline, run } from "gantry";

const image = "local/busybox:latest";

export default definePipeline({
  id: "containers",
  name: "Containers",
  description: "A container builds, a run() task checks, a container reports",
  variables: { TARGET: "world" },
  tasks: {
    build: container({
      image,
      pull: "never",
      network: "none",
      memory: "64m",
      command: ["sh", "-c", "echo \"hello $TARGET\" > $GANTRY_WORKSPACE/artifact.txt; echo built in $(pwd)"],
    }),
    check: run(
      async (ctx) => {
        const artifact = await Bun.file(`${ctx.workspace}/artifact.txt`).text();
        ctx.log(`artifact says: ${artifact.trim()}`);
        if (!artifact.includes(ctx.env.TARGET ?? "")) throw new Error("artifact is wrong");
      },
      { needs: { build: "success" } },
    ),
    report: container({
      image,
      pull: "never",
      network: "none",
      command: ["sh", "-c", "ls -l $GANTRY_WORKSPACE; cat $GANTRY_WORKSPACE/artifact.txt"],
      needs: { check: "any" },
    }),
  },
});
