// A long task that listens to its abort signal: try cancelling it, or watch its log live.
import { definePipeline, run } from "gantry";

export default definePipeline({
  id: "slow",
  name: "Slow counter",
  description: "Counts for a minute; cancel it to see a clean stop",
  tasks: {
    count: run(
      async (ctx) => {
        for (let i = 1; i <= 60; i++) {
          if (ctx.signal.aborted) {
            ctx.log("cancelled: stopping cleanly");
            return;
          }
          ctx.log(`tick ${i}`);
          await Bun.sleep(1000);
        }
      },
      { timeout: "5m" },
    ),
  },
});
