// Where the web pages are: every link and redirect to a page builds its path here, each
// segment URL-encoded (ids are [a-z0-9-] today, so encoding only guards against tomorrow).

const segment = encodeURIComponent;

export interface PipelineRef {
  namespace: string;
  id: string;
}

export interface RunRef {
  namespace: string;
  pipelineId: string;
  id: number;
}

/** /pipelines/<ns>/<id> */
export const pipelinePath = (pipeline: PipelineRef) => `/pipelines/${segment(pipeline.namespace)}/${segment(pipeline.id)}`;

/** /pipelines/<ns>/<id>/runs/<n> */
export const runPath = (run: RunRef) => `${pipelinePath({ namespace: run.namespace, id: run.pipelineId })}/runs/${run.id}`;

/** What a log search asks: the text, the filter, one task or all, and the page of results. */
export interface LogSearchParams {
  q?: string | undefined;
  only?: string | undefined;
  task?: string | undefined;
  page?: number | undefined;
}

function searchQuery(params: LogSearchParams): string {
  const query = new URLSearchParams();
  if (params.q) query.set("q", params.q);
  if (params.only && params.only !== "all") query.set("only", params.only);
  if (params.task) query.set("task", params.task);
  if (params.page && params.page > 1) query.set("page", String(params.page));
  const text = query.toString();
  return text ? `?${text}` : "";
}

/** The search of a run's logs: `…/runs/<n>/logs/search?q=…&only=…&task=…&page=…`. */
export const logSearchPath = (run: RunRef, params: LogSearchParams = {}) => `${runPath(run)}/logs/search${searchQuery(params)}`;

/**
 * Lines of a task's log around one (with the search that led there, whose matches it marks):
 * `…/tasks/<task>/lines?around=<n>&q=…#<task>-L<n>`.
 */
export const logLinesPath = (run: RunRef, taskId: string, around: number, search: LogSearchParams = {}) => {
  const query = searchQuery({ q: search.q, only: search.only });
  return `${runPath(run)}/tasks/${segment(taskId)}/lines?around=${around}${query.replace("?", "&")}#${segment(taskId)}-L${around}`;
};

/** A task's whole log as plain text. */
export const rawLogPath = (run: RunRef, taskId: string) => `${runPath(run)}/tasks/${segment(taskId)}/log.txt`;

/** Where an approval task's decision is posted: `…/tasks/<task>/approve` or `/reject`. */
export const decidePath = (run: RunRef, taskId: string, outcome: "approve" | "reject") => `${runPath(run)}/tasks/${segment(taskId)}/${outcome}`;

/** One attempt's part of a task's log as plain text. */
export const attemptLogPath = (run: RunRef, taskId: string, attempt: number) => `${rawLogPath(run, taskId)}?attempt=${attempt}`;

/** A pipeline's objects page (POST: upload). */
export const objectsPath = (pipeline: PipelineRef) => `${pipelinePath(pipeline)}/objects`;

/** One object's download; keys hold "/", so each of their segments is encoded on its own. */
export const objectPath = (pipeline: PipelineRef, key: string) => `${objectsPath(pipeline)}/${key.split("/").map(segment).join("/")}`;

/** /extensions/<id> */
export const extensionPath = (id: string) => `/extensions/${segment(id)}`;

/** The page a secret's scope names: a pipeline's, or none for "global". */
export function scopePath(scope: string): string | undefined {
  if (scope === "global") return undefined;
  const [namespace, id] = scope.split("/") as [string, string];
  return pipelinePath({ namespace, id });
}

/** /pipelines/<ns>/<id>/versions/<n>/diff, optionally against another version. */
export const versionDiffPath = (pipeline: PipelineRef, version: number, against?: number) =>
  `${pipelinePath(pipeline)}/versions/${version}/diff${against === undefined ? "" : `?against=${against}`}`;

/** /sources/<name> */
export const sourcePath = (name: string) => `/sources/${segment(name)}`;

/**
 * An environment's page by its key ("staging", or "team-a/staging" for a namespace's own):
 * /environments/<name><suffix>, with `?namespace=<ns>` for a namespace's own, then `query`.
 */
export function environmentPath(key: string, suffix = "", query: Record<string, string> = {}): string {
  const slash = key.indexOf("/");
  const name = slash < 0 ? key : key.slice(slash + 1);
  const params = new URLSearchParams(slash < 0 ? query : { namespace: key.slice(0, slash), ...query });
  const search = params.toString();
  return `/environments/${segment(name)}${suffix}${search ? `?${search}` : ""}`;
}
