// The dashboard's "Needs attention" card: pipeline files that do not load, triggers that
// cannot fire (a webhook's secret is missing, an extension refused one) and pipelines whose
// last run failed, each with a link to look closer; a calm line when there are none.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { LoadErrorRecord } from "../../../db/schema/index.ts";
import type { RunRow } from "../../../db/repos/runs.ts";
import { pipelinePath, runPath } from "../paths.ts";
import { StateBadge } from "./state-badge.tsx";
import { When } from "./time.tsx";

export interface AttentionPipeline {
  namespace: string;
  id: string;
  name: string;
  description: string;
}

export interface FailingPipeline extends AttentionPipeline {
  lastRun: RunRow;
}

export interface BrokenPipeline extends AttentionPipeline {
  loadError: LoadErrorRecord;
  /** The file as people know it: relative to the pipelines folder when inside it. */
  file: string;
}

export interface TriggerTroublePipeline extends AttentionPipeline {
  /** Each subscription's error: the extension it belongs to, and what is wrong. */
  errors: { extension: string; message: string }[];
}

function PipelineLink({ pipeline }: { pipeline: AttentionPipeline }) {
  return (
    <a class="dash-problem-name" href={pipelinePath(pipeline)}>
      {pipeline.namespace !== "default" && <span class="muted">{pipeline.namespace}/</span>}
      {pipeline.name}
    </a>
  );
}

export function NeedsAttention({
  failing,
  broken,
  triggers = [],
  now,
}: {
  failing: FailingPipeline[];
  broken: BrokenPipeline[];
  triggers?: TriggerTroublePipeline[];
  now: Date;
}) {
  if (failing.length === 0 && broken.length === 0 && triggers.length === 0) {
    return (
      <section class="card dash-attention dash-calm" aria-labelledby="dash-attention-title">
        <h2 id="dash-attention-title">Needs attention</h2>
        <p class="dash-all-green">
          <span aria-hidden="true">✓</span> All green: no pipeline's last run failed, every pipeline file loads, and every trigger works.
        </p>
      </section>
    );
  }
  return (
    <section class="card dash-attention dash-alarm" aria-labelledby="dash-attention-title">
      <h2 id="dash-attention-title">
        <span aria-hidden="true">⚠ </span>Needs attention <span class="dash-count">({failing.length + broken.length + triggers.length})</span>
      </h2>
      <ul class="dash-problems">
        {broken.map((pipeline) => {
          const [first, ...rest] = pipeline.loadError.issues;
          return (
            <li class="dash-problem">
              <span class="badge dash-load-error">
                <span aria-hidden="true">✗</span> load error
              </span>{" "}
              <PipelineLink pipeline={pipeline} />
              <p class="dash-problem-detail">
                <code>{pipeline.file}</code>
                {first && (
                  <>
                    {": "}
                    {first.path && <span class="mono">{first.path}: </span>}
                    <span>{first.message}</span>
                  </>
                )}
                {rest.length > 0 && <span class="muted"> (and {rest.length} more)</span>}
              </p>
            </li>
          );
        })}
        {triggers.map((pipeline) => {
          const [first, ...rest] = pipeline.errors;
          return (
            <li class="dash-problem">
              <span class="badge dash-load-error dash-trigger-error">
                <span aria-hidden="true">✗</span> trigger error
              </span>{" "}
              <PipelineLink pipeline={pipeline} />
              {first && (
                <p class="dash-problem-detail">
                  <span class="mono">{first.extension}: </span>
                  <span>{first.message}</span>
                  {rest.length > 0 && <span class="muted"> (and {rest.length} more)</span>}
                </p>
              )}
            </li>
          );
        })}
        {failing.map((pipeline) => (
          <li class="dash-problem">
            <StateBadge state="failed" /> <PipelineLink pipeline={pipeline} />
            <p class="dash-problem-detail">
              Last run{" "}
              <a href={runPath(pipeline.lastRun)}>#{pipeline.lastRun.id}</a> failed{" "}
              <When date={pipeline.lastRun.endedAt ?? pipeline.lastRun.createdAt} now={now} />
              {pipeline.lastRun.reason && <span>: {pipeline.lastRun.reason}</span>}
            </p>
          </li>
        ))}
      </ul>
    </section>
  );
}
