// The smallest useful pipeline: two run() tasks, the second after the first.
import { definePipeline, run } from "gantry";

export default definePipeline({
  id: "hello",
  name: "Hello world",
  description: "Greets, then checks the greeting landed in the shared workspace",
  variables: { GREETING: "hello" },
  tasks: {
    greet: run(async (ctx) => {
      ctx.log(`${ctx.env.GREETING} from run ${ctx.env.GANTRY_RUN_ID}`);
      await Bun.write(`${ctx.workspace}/greeting.txt`, ctx.env.GREETING ?? "");
    }),
    check: run(
      async (ctx) => {
        const text = await Bun.file(`${ctx.workspace}/greeting.txt`).text();
        ctx.log(`the workspace says: ${text}`);
        await ctx.$`ls -l ${ctx.workspace}`;
      },
      { needs: { greet: "success" } },
    ),
  },
});
