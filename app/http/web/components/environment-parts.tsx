// Pieces the environments pages share: an environment as they show it, a deployment's state
// as a badge, who deployed (the run, or the person who rolled back), its protection rules, and
// the settings fields of the create and edit forms with the server's message about them.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { Child } from "hono/jsx";
import type { DeploymentRow } from "../../../db/repos/deployments.ts";
import { formatDuration } from "../../../domain/duration.ts";
import { ENVIRONMENT_NAME_RULE, MAX_DESCRIPTION_LENGTH, PROVIDERS, type DeploymentState, type Protection } from "../../../domain/environments.ts";
import { runPath } from "../paths.ts";

/** An environment as its pages show it. */
export interface EnvironmentView {
  name: string;
  provider: string;
  /** Absent: the engine the server itself uses. */
  dockerHost?: string;
  /** Names of global secrets its deploys get; never their values. */
  secrets: string[];
  description?: string;
  /** What a deploy must pass before it changes anything here. */
  protection: Protection;
  createdAt: Date;
  updatedAt: Date;
  /** What runs there now: each service's newest succeeded deployment. */
  current: DeploymentRow[];
  /** Whether the viewer may change, delete and roll back (environments:write on its name). */
  canWrite: boolean;
}

/** The settings form as typed (every field as text), and the server's message about it. */
export interface EnvironmentForm {
  /** Only the create form has it; an environment keeps its name. */
  name: string;
  provider: string;
  dockerHost: string;
  /** Names separated by commas or lines. */
  secrets: string;
  description: string;
  /** Protection: "ns/id" patterns and branch patterns, separated by commas or lines. */
  pipelines: string;
  branches: string;
  approval: boolean;
  /** A duration like "5m"; empty: no wait. */
  wait: string;
  error?: string;
}

export const EMPTY_ENVIRONMENT_FORM: EnvironmentForm = { name: "", provider: "swarm", dockerHost: "", secrets: "", description: "", pipelines: "", branches: "", approval: false, wait: "" };

/** A wait as the form takes it back: in the largest unit that says it exactly ("90s", "5m"). */
export function waitText(ms: number): string {
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/** The edit form of an environment, filled with its settings. */
export function formOf(environment: EnvironmentView): EnvironmentForm {
  return {
    name: environment.name,
    provider: environment.provider,
    dockerHost: environment.dockerHost ?? "",
    secrets: environment.secrets.join("\n"),
    description: environment.description ?? "",
    pipelines: (environment.protection.pipelines ?? []).join(", "),
    branches: (environment.protection.branches ?? []).join(", "),
    approval: environment.protection.approval === true,
    wait: environment.protection.waitMs !== undefined ? waitText(environment.protection.waitMs) : "",
  };
}

/** Like the run states' badges: colour, a symbol and the words. */
const STATE_LOOK: Record<DeploymentState, { symbol: string; look: string; label: string }> = {
  running: { symbol: "◔", look: "state-running", label: "running" },
  succeeded: { symbol: "✓", look: "state-successful", label: "succeeded" },
  failed: { symbol: "✗", look: "state-failed", label: "failed" },
  rolled_back: { symbol: "↺", look: "state-cancelled", label: "rolled back" },
};

export function DeploymentStateBadge({ state }: { state: DeploymentState }) {
  const { symbol, look, label } = STATE_LOOK[state] ?? STATE_LOOK.failed;
  return (
    <span class={`badge ${look} deployment-state`}>
      <span aria-hidden="true">{symbol}</span> {label}
    </span>
  );
}

/** The run that deployed it ("default/app #12"), or who rolled back by hand. */
export function DeployedBy({ deployment }: { deployment: DeploymentRow }) {
  const { namespace, pipelineId, runId, by } = deployment;
  if (namespace !== null && pipelineId !== null && runId !== null) {
    return (
      <a href={runPath({ namespace, pipelineId, id: runId })} class="mono">
        {`${namespace}/${pipelineId} #${runId}`}
      </a>
    );
  }
  if (by !== null) return <span>{`rollback by ${by}`}</span>;
  return <span class="muted">—</span>;
}

/** "tcp://manager:2375", or the server's own engine. */
export function EngineText({ dockerHost }: { dockerHost?: string | undefined }) {
  return dockerHost ? <code>{dockerHost}</code> : <span class="muted">this server's engine</span>;
}

export function SecretNames({ names }: { names: string[] }) {
  if (names.length === 0) return <span class="muted">none</span>;
  return (
    <span class="environment-secrets">
      {names.map((name, index) => (
        <>
          {index > 0 && ", "}
          <code>{name}</code>
        </>
      ))}
    </span>
  );
}

/** What a deploy must pass here, in a few words each; empty when nothing. */
export function protectionRules(protection: Protection): string[] {
  return [
    protection.pipelines && `only pipelines ${protection.pipelines.join(", ")}`,
    protection.branches && `only branches ${protection.branches.join(", ")}`,
    protection.approval && "an approved approval gate",
    protection.waitMs !== undefined && `a ${formatDuration(protection.waitMs)} wait`,
  ].filter((rule): rule is string => typeof rule === "string");
}

export function ProtectionText({ protection }: { protection: Protection }) {
  const rules = protectionRules(protection);
  if (rules.length === 0) return <span class="muted">none: any run may deploy</span>;
  return (
    <ul class="environment-rules">
      {rules.map((rule) => (
        <li>{rule}</li>
      ))}
    </ul>
  );
}

type FieldName = Exclude<keyof EnvironmentForm, "error">;

/** Where each field's problems start in the server's message (its parts are joined by "; "). */
const MESSAGE_PREFIX: Record<FieldName, string> = {
  name: "Name:",
  provider: "provider ",
  dockerHost: "config.dockerHost ",
  secrets: "secrets",
  description: "description ",
  pipelines: "protection.pipelines",
  branches: "protection.branches",
  approval: "protection.approval",
  wait: "protection.wait",
};

function names(error: string | undefined, field: FieldName): boolean {
  return error?.split("; ").some((part) => part.startsWith(MESSAGE_PREFIX[field])) ?? false;
}

function Field({ id, label, hint, children }: { id: string; label: string; hint: string; children?: Child }) {
  return (
    <>
      <label for={id}>{label}</label>
      {children}
      <p class="hint" id={`${id}-hint`}>
        {hint}
      </p>
    </>
  );
}

/**
 * The fields of the create (`withName`) and edit forms; `prefix` keeps ids apart, and
 * `errorId` is the id of the message the fields it names point at.
 */
export function EnvironmentFields({ form, prefix, withName, errorId }: { form: EnvironmentForm; prefix: string; withName: boolean; errorId: string }) {
  const described = (id: string, field: FieldName) => {
    const invalid = names(form.error, field);
    return { "aria-describedby": invalid ? `${id}-hint ${errorId}` : `${id}-hint`, "aria-invalid": invalid ? "true" : undefined };
  };
  const text = (field: "name" | "dockerHost" | "pipelines" | "branches" | "wait", extra: Record<string, unknown> = {}) => {
    const id = `${prefix}-${field === "dockerHost" ? "docker-host" : field}`;
    return <input id={id} name={field} type="text" value={form[field]} autocomplete="off" spellcheck={false} {...described(id, field)} {...extra} />;
  };
  return (
    <>
      {withName && (
        <Field id={`${prefix}-name`} label="Name" hint={`${ENVIRONMENT_NAME_RULE}; deploy() names it, and it labels the services deployed there.`}>
          {text("name", { required: true, maxlength: 64, pattern: "[a-z0-9-]{1,64}", placeholder: "staging" })}
        </Field>
      )}
      <Field id={`${prefix}-provider`} label="Provider" hint="What runs the services: Docker Swarm.">
        <select id={`${prefix}-provider`} name="provider" {...described(`${prefix}-provider`, "provider")}>
          {PROVIDERS.map((provider) => (
            <option value={provider} selected={form.provider === provider}>
              {provider}
            </option>
          ))}
        </select>
      </Field>
      <Field id={`${prefix}-docker-host`} label="Docker host" hint={`A swarm manager's engine: "tcp://host:port" or "unix:///path/to/docker.sock". Empty: the engine this server uses.`}>
        {text("dockerHost", { maxlength: 1000, placeholder: "tcp://manager.internal:2375" })}
      </Field>
      <Field id={`${prefix}-secrets`} label="Secrets" hint="Names of global secrets its deploys get as environment variables, separated by commas or lines. Their values are never shown.">
        <textarea id={`${prefix}-secrets`} name="secrets" rows={3} spellcheck={false} {...described(`${prefix}-secrets`, "secrets")}>
          {form.secrets}
        </textarea>
      </Field>
      <Field id={`${prefix}-description`} label="Description" hint={`Optional: one line, at most ${MAX_DESCRIPTION_LENGTH} characters.`}>
        <input
          id={`${prefix}-description`}
          name="description"
          type="text"
          value={form.description}
          maxlength={MAX_DESCRIPTION_LENGTH}
          autocomplete="off"
          {...described(`${prefix}-description`, "description")}
        />
      </Field>
      <fieldset class="admin-checks environment-protection">
        <legend>Protection</legend>
        <p class="hint">What a deploy must pass before it changes anything here and gets the secrets; it waits, visibly, until it does. Empty fields let everything through.</p>
        <Field id={`${prefix}-pipelines`} label="Pipelines allowed" hint='Patterns of the pipelines that may deploy here, like "default/ship, release/*", separated by commas.'>
          {text("pipelines", { maxlength: 10_000, placeholder: "default/ship" })}
        </Field>
        <Field id={`${prefix}-branches`} label="Branches allowed" hint='Patterns of the branches whose runs may deploy, like "main, release/*"; a run with no branch is refused.'>
          {text("branches", { maxlength: 10_000, placeholder: "main" })}
        </Field>
        <label class="admin-check">
          <input type="checkbox" id={`${prefix}-approval`} name="approval" value="on" checked={form.approval} aria-invalid={names(form.error, "approval") ? "true" : undefined} />
          Require an approved approval gate before the deploy
        </label>
        <Field id={`${prefix}-wait`} label="Wait" hint='A wait before the deploy starts, like "5m" (at most a day). Empty: none.'>
          {text("wait", { maxlength: 32, placeholder: "5m" })}
        </Field>
      </fieldset>
    </>
  );
}

/** The server's message about a form, which its fields point at. */
export function FormError({ id, error }: { id: string; error?: string | undefined }) {
  if (!error) return null;
  return (
    <p class="notice problem" role="alert" id={id}>
      {error}
    </p>
  );
}
