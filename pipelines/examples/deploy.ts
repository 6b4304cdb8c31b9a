// Build an image from a local base, roll it out to `staging`, then, once someone approves, to
// `production` as a canary: one replica of the new image first, then half, then all, each step
// judged by its health check and an HTTP probe of its pages. Environments first, on a Docker
// engine that is a swarm manager (`docker swarm init --advertise-addr 127.0.0.1` on a test machine):
//   gantry env set staging --provider swarm
//   gantry env set production --provider swarm --allow-pipeline examples/deploy --require-approval
// Without them, the deploy tasks fail saying which environment is missing.
import { approval, canary, definePipeline, deploy, dockerBuild, rolling, run } from "gantry";

const healthCheck = { command: ["CMD", "sh", "-c", "test -f /srv/ok"], interval: "1s", retries: 3 };

export default definePipeline({
  id: "deploy",
  name: "Deploy",
  description: "Build an image, roll it out to staging, then a canary to production after an approval",
  tasks: {
    // The "application": a page and a health marker on the busybox base the test machine has.
    prepare: run(async (ctx) => {
      await Bun.write(`${ctx.workspace}/site/index.html`, `<h1>release ${ctx.env.GANTRY_RUN_ID}</h1>\n`);
      await Bun.write(
        `${ctx.workspace}/site/Dockerfile`,
        [
          "FROM local/busybox:latest",
          "COPY index.html /srv/index.html",
          "RUN touch /srv/ok",
          `CMD ["sh", "-c", "trap 'exit 0' TERM; busybox httpd -f -p 8080 -h /srv & wait"]`,
          "",
        ].join("\n"),
      );
    }),
    // Tagged by the origin run: a re-run of the failed deploys reuses this build, and finds its tag.
    image: dockerBuild({ context: "site", tags: ["local/ship-site:${GANTRY_ORIGIN_RUN_ID}"], needs: { prepare: "success" } }),
    staging: deploy({
      environment: "staging",
      service: "ship-site",
      image: "local/ship-site:${GANTRY_ORIGIN_RUN_ID}",
      replicas: 2,
      strategy: rolling({ parallelism: 1, order: "start-first", monitor: "2s" }),
      healthCheck,
      needs: { image: "success" },
    }),
    approve: approval({ message: "Staging runs this release: ship it to production?", timeout: "1h", needs: { staging: "success" } }),
    production: deploy({
      environment: "production",
      service: "ship-site-prod",
      image: "local/ship-site:${GANTRY_ORIGIN_RUN_ID}",
      replicas: 2,
      // Each step also asks the canary's own pages from inside its tasks: 95% must answer, p95 under 500ms.
      strategy: canary({
        steps: [{ replicas: 1, pause: "3s" }, { percent: 50, pause: "3s" }],
        analysis: { http: { port: 8080, path: "/index.html", requests: 5, maxLatency: "500ms" } },
      }),
      healthCheck,
      needs: { approve: "success" },
    }),
  },
});
