// Pieces the environments pages share: an environment as they show it (whose it is, whether its
// target answered last), a deployment's state as a badge, who deployed (the run, or the person
// who rolled back), its protection rules, and the settings fields of the create and edit forms
// with the server's message about them.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { Child } from "hono/jsx";
import type { DeploymentRow } from "../../../db/repos/deployments.ts";
import { formatDuration } from "../../../domain/duration.ts";
import { ENVIRONMENT_NAME_RULE, MAX_DESCRIPTION_LENGTH, PROVIDERS, type DeploymentState, type EnvironmentStatus, type Protection } from "../../../domain/environments.ts";
import { PROVIDER_CONFIGS, type ProviderConfigField, type ProviderId } from "../../../domain/provider-configs.ts";
import { runPath } from "../paths.ts";
import { When } from "./time.tsx";

/** The last word on whether an environment's target answers; "unknown" before any test or deploy. */
export interface EnvironmentStatusView {
  state: EnvironmentStatus | "unknown";
  detail?: string;
  checkedAt?: Date;
}

/** An environment as its pages show it. */
export interface EnvironmentView {
  /** "staging", or "team-a/staging" for a namespace's own: what permissions and links name. */
  key: string;
  name: string;
  /** The namespace whose pipelines alone deploy here; null when shared by every namespace. */
  namespace: string | null;
  provider: string;
  /** Absent: the engine the server itself uses. */
  dockerHost?: string;
  /** Where each deploy pushes its image first; absent: the image must be on the nodes. */
  registry?: string;
  /** The global secret holding the registry's credentials (its name, never its value). */
  registryAuth?: string;
  /** The provider's config as stored, for the edit form. */
  config: Record<string, unknown>;
  status: EnvironmentStatusView;
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
  /** Only the create form has it; empty: shared by every namespace. */
  namespace: string;
  provider: string;
  /** The provider's config fields as typed, by key (PROVIDER_CONFIGS); an empty one is left out. */
  config: Record<string, string>;
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

export const EMPTY_ENVIRONMENT_FORM: EnvironmentForm = { name: "", namespace: "", provider: "swarm", config: {}, secrets: "", description: "", pipelines: "", branches: "", approval: false, wait: "" };

/** A wait as the form takes it back: in the largest unit that says it exactly ("90s", "5m"). */
export function waitText(ms: number): string {
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/** The edit form of an environment, filled with its settings. */
export function formOf(environment: EnvironmentView): EnvironmentForm {
  return {
    name: environment.name,
    namespace: environment.namespace ?? "",
    provider: environment.provider,
    config: Object.fromEntries(Object.entries(environment.config).filter((entry): entry is [string, string] => typeof entry[1] === "string")),
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

/** Whose it is: a namespace's own, or every namespace's. */
export function NamespaceText({ namespace }: { namespace: string | null }) {
  return namespace === null ? <span class="muted">all namespaces</span> : <span class="mono">{namespace}</span>;
}

const STATUS_LOOK: Record<EnvironmentStatusView["state"], { symbol: string; look: string; label: string }> = {
  ok: { symbol: "✓", look: "state-successful", label: "ok" },
  failing: { symbol: "✗", look: "state-failed", label: "failing" },
  unknown: { symbol: "?", look: "state-pending", label: "unknown" },
};

/** Whether its target answered at the last test or deploy: a badge, what it said, and when. */
export function EnvironmentStatusText({ status, now }: { status: EnvironmentStatusView; now: Date }) {
  const { symbol, look, label } = STATUS_LOOK[status.state] ?? STATUS_LOOK.unknown;
  return (
    <span class="environment-status">
      <span class={`badge ${look} environment-state`}>
        <span aria-hidden="true">{symbol}</span> {label}
      </span>
      {status.detail && <span class="environment-status-detail">{` ${status.detail}`}</span>}
      <span class="hint environment-by">
        {status.checkedAt ? (
          <>
            checked <When date={status.checkedAt} now={now} />
          </>
        ) : (
          "not tested yet"
        )}
      </span>
    </span>
  );
}

/** "registry.internal:5000" (with the secret holding its credentials), or none. */
export function RegistryText({ registry, registryAuth }: { registry?: string | undefined; registryAuth?: string | undefined }) {
  if (!registry) return <span class="muted">none: images must be on the nodes</span>;
  return (
    <span>
      <code>{registry}</code>
      {registryAuth ? (
        <>
          {", credentials from secret "}
          <code>{registryAuth}</code>
        </>
      ) : (
        <span class="muted">, no credentials</span>
      )}
    </span>
  );
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

type FieldName = Exclude<keyof EnvironmentForm, "error" | "config">;

/** The provider a form shows the config fields of: the one chosen, or the first. */
const providerOf = (provider: string): ProviderId => ((PROVIDERS as readonly string[]).includes(provider) ? (provider as ProviderId) : PROVIDERS[0]);

/** A config field's input id after the form's prefix: its key in kebab-case ("dockerHost" → "docker-host"). */
const configId = (key: string) => key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);

/** Whether the server's message is about a config field: a part of it starts "config.<key> ". */
function namesConfig(error: string | undefined, field: ProviderConfigField): boolean {
  return (error?.split("; ") ?? []).some((part) => part.startsWith(`config.${field.key} `));
}

/** Where each field's problems start in the server's message (its parts are joined by "; "). */
const MESSAGE_PREFIX: Record<FieldName, string> = {
  name: "Name:",
  namespace: "Namespace:",
  provider: "provider ",
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
  const text = (field: "name" | "namespace" | "pipelines" | "branches" | "wait", extra: Record<string, unknown> = {}) => {
    const id = `${prefix}-${field}`;
    return <input id={id} name={field} type="text" value={form[field]} autocomplete="off" spellcheck={false} {...described(id, field)} {...extra} />;
  };
  return (
    <>
      {withName && (
        <>
          <Field id={`${prefix}-name`} label="Name" hint={`${ENVIRONMENT_NAME_RULE}; deploy() names it, and it labels the services deployed there.`}>
            {text("name", { required: true, maxlength: 64, pattern: "[a-z0-9-]{1,64}", placeholder: "staging" })}
          </Field>
          <Field
            id={`${prefix}-namespace`}
            label="Namespace"
            hint="Empty: shared by every namespace. A namespace's name: that namespace's own, which its pipelines deploy to instead of a shared one of the same name (and no other namespace's pipelines can)."
          >
            {text("namespace", { maxlength: 64, pattern: "[a-z0-9-]{1,64}", placeholder: "all namespaces" })}
          </Field>
        </>
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
      <ProviderFields form={form} prefix={prefix} errorId={errorId} />
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

/** The chosen provider's own config fields, as its description in PROVIDER_CONFIGS gives them. */
function ProviderFields({ form, prefix, errorId }: { form: EnvironmentForm; prefix: string; errorId: string }) {
  const provider = providerOf(form.provider);
  return (
    <fieldset class="admin-checks environment-provider">
      <legend>{PROVIDER_LEGENDS[provider] ?? provider}</legend>
      {PROVIDER_CONFIGS[provider].fields.map((field) => {
        const id = `${prefix}-${configId(field.key)}`;
        const value = form.config[field.key] ?? "";
        const invalid = namesConfig(form.error, field);
        // Naming a secret hands it to the target, which takes more than changing the environment.
        const hint = field.namesSecret ? `${field.hint} Naming one takes the right to write global secrets.` : field.hint;
        return (
          <Field id={id} label={field.label} hint={hint}>
            <input
              id={id}
              name={field.key}
              type="text"
              value={value}
              maxlength={1000}
              autocomplete="off"
              spellcheck={false}
              {...(field.placeholder !== undefined && { placeholder: field.placeholder })}
              aria-describedby={invalid ? `${id}-hint ${errorId}` : `${id}-hint`}
              aria-invalid={invalid ? "true" : undefined}
            />
          </Field>
        );
      })}
    </fieldset>
  );
}

/** A provider's settings, as the fieldset names them. */
const PROVIDER_LEGENDS: Partial<Record<ProviderId, string>> = { swarm: "Docker Swarm" };

/** The config fields a form's provider takes, by key, from a parsed form body (empty ones left out). */
export function configFieldsOf(provider: string, body: Record<string, unknown>, text: (value: unknown) => string): Record<string, string> {
  const fields = PROVIDER_CONFIGS[providerOf(provider)].fields;
  return Object.fromEntries(fields.map((field) => [field.key, text(body[field.key]).trim()]).filter(([, value]) => value !== ""));
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
