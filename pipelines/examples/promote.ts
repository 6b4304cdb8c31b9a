// Typed inputs and an approval gate: the start form (web, `gantry run start -i`, the API)
// asks for the environment, replica count and a dry-run switch; staging is approved by
// autoApprove, production waits until someone other than the starter approves it.
import * as v from "valibot";
import { definePipeline } from "gantry";

export default definePipeline({
  id: "promote",
  name: "Promote",
  description: "Promote a build; production waits for an approval",
  inputs: {
    env: v.pipe(v.picklist(["staging", "production"]), v.description("Where to deploy")),
    replicas: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(20), v.description("Instances to run")), 2),
    dryRun: v.optional(v.pipe(v.boolean(), v.description("Only print what would change")), false),
    notes: v.optional(v.pipe(v.string(), v.maxLength(200), v.description("Why this deploy (shown to the approver)"))),
  },
  // Written as a function of the task helpers, so ctx.inputs is typed from `inputs`.
  tasks: ({ run, approval }) => ({
    plan: run((ctx) => {
      ctx.log(`plan: ${ctx.inputs.replicas} replicas to ${ctx.inputs.env}${ctx.inputs.dryRun ? " (dry run)" : ""}`);
      if (ctx.inputs.notes) ctx.log(`notes: ${ctx.inputs.notes}`);
    }),
    approve: approval({
      needs: { plan: "success" },
      message: "Deploy ${INPUT_REPLICAS} replicas to ${INPUT_ENV} (run ${GANTRY_RUN_ID})?",
      timeout: "4h",
      autoApprove: (ctx) => ctx.inputs.env === "staging" || ctx.inputs.dryRun,
    }),
    roll: run(
      async (ctx) => {
        for (let replica = 1; replica <= ctx.inputs.replicas; replica++) {
          ctx.log(`${ctx.inputs.dryRun ? "would roll" : "rolling"} replica ${replica}/${ctx.inputs.replicas} in ${ctx.inputs.env}`);
          await Bun.sleep(100);
        }
      },
      { needs: { approve: "success" } },
    ),
    "not-deployed": run((ctx) => ctx.log("the deploy was rejected; nothing changed"), { needs: { approve: "failure" } }),
  }),
});
