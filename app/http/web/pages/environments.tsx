// The environments page: each deployment target the viewer may see (whose it is, whether its
// target answered last, provider, engine, the secrets its deploys get, what runs there now and
// which run put it there), and a form to create one for viewers who may.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Notice, Tag } from "../components/admin-forms.tsx";
import {
  DeployedBy,
  EngineText,
  EnvironmentFields,
  EnvironmentStatusText,
  FormError,
  NamespaceText,
  protectionRules,
  SecretNames,
  type EnvironmentForm,
  type EnvironmentView,
} from "../components/environment-parts.tsx";
import { TableHead } from "../components/table-head.tsx";
import { CsrfField, Page, type PageSession } from "../layouts/page.tsx";
import { environmentPath } from "../paths.ts";

export interface EnvironmentsPageProps {
  session: PageSession;
  now: Date;
  environments: EnvironmentView[];
  /** Present when the list shows only what this namespace's deploys reach (?namespace=). */
  namespace?: string;
  /** Present when the viewer may create environments. */
  form?: EnvironmentForm;
  notice?: string;
}

function RunsNow({ environment }: { environment: EnvironmentView }) {
  if (environment.current.length === 0) return <span class="muted">nothing deployed yet</span>;
  return (
    <ul class="environment-now">
      {environment.current.map((deployment) => (
        <li>
          <span class="mono">{deployment.service}</span>
          <span aria-hidden="true"> → </span>
          <span class="sr-only"> runs </span>
          <code>{deployment.image}</code>
          <span class="hint environment-by">
            <DeployedBy deployment={deployment} />
          </span>
        </li>
      ))}
    </ul>
  );
}

function EnvironmentRow({ environment, now }: { environment: EnvironmentView; now: Date }) {
  const rules = protectionRules(environment.protection);
  return (
    <tr id={`environment-${environment.key}`}>
      <th scope="row">
        <a href={environmentPath(environment.key)} class="admin-name mono">
          {environment.name}
        </a>
        {rules.length > 0 && (
          <>
            {" "}
            <Tag kind="builtin">protected</Tag>
            <span class="hint environment-by">{`Deploys need ${rules.join("; ")}.`}</span>
          </>
        )}
      </th>
      <td data-label="Namespace">
        <NamespaceText namespace={environment.namespace} />
      </td>
      <td data-label="Status" class="environment-status-cell">
        <EnvironmentStatusText status={environment.status} now={now} />
      </td>
      <td data-label="Provider">{environment.provider}</td>
      <td data-label="Engine" class="environment-engine">
        <EngineText dockerHost={environment.dockerHost} />
        {environment.registry && (
          <span class="hint environment-by">
            {"pushes to "}
            <code>{environment.registry}</code>
          </span>
        )}
      </td>
      <td data-label="Secrets">
        <SecretNames names={environment.secrets} />
      </td>
      <td data-label="Description" class="environment-description">
        {environment.description ?? <span class="muted">—</span>}
      </td>
      <td data-label="Runs now">
        <RunsNow environment={environment} />
      </td>
    </tr>
  );
}

function CreateForm({ session, form }: { session: PageSession; form: EnvironmentForm }) {
  return (
    <section class="card admin-card" aria-labelledby="environment-create">
      <h2 id="environment-create">Create an environment</h2>
      <p class="hint">A place deploy() tasks roll services out to. Test its connection from its page once it is created.</p>
      <FormError id="environment-form-error" error={form.error} />
      <form method="post" action="/environments" class="admin-form environment-form">
        <CsrfField session={session} />
        <EnvironmentFields form={form} prefix="environment" withName={true} errorId="environment-form-error" />
        <button type="submit">Create environment</button>
      </form>
    </section>
  );
}

export function EnvironmentsPage({ session, now, environments, namespace, form, notice }: EnvironmentsPageProps) {
  return (
    <Page title="Environments" session={session} section="environments">
      <h1>Environments</h1>
      <p class="hint">Where pipelines deploy: each environment names a target (a Docker Swarm) and the global secrets its deploys get.</p>
      {notice && <Notice kind="ok">{notice}</Notice>}
      <section class="card admin-card" aria-labelledby="environments-list">
        <h2 id="environments-list">Environments</h2>
        <p class="hint">
          {namespace !== undefined ? (
            <>
              {"Those the deploys of namespace "}
              <span class="mono">{namespace}</span>
              {" reach: its own, and the shared ones (its own first when both have a name). "}
              <a href="/environments">Show all</a>
            </>
          ) : (
            "A namespace's own environment is used by its pipelines before a shared one of the same name."
          )}
        </p>
        {environments.length === 0 ? (
          <p class="muted">No environments you may see.</p>
        ) : (
          <table class="list admin-stack environments">
            <TableHead columns={["Name", "Namespace", "Status", "Provider", "Engine", "Secrets", "Description", "Runs now"]} />
            <tbody>
              {environments.map((environment) => (
                <EnvironmentRow environment={environment} now={now} />
              ))}
            </tbody>
          </table>
        )}
      </section>
      {form && <CreateForm session={session} form={form} />}
    </Page>
  );
}
