// One environment's page: its settings (with an edit form), whose it is, its status beside Test
// connection, Delete, what runs there now per service (with Roll back), and its last deployments.
// It is named by its key throughout ("staging", or "team-a/staging" for a namespace's own).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { DeploymentRow } from "../../../db/repos/deployments.ts";
import type { TestOutcome } from "../../../engine/deploy/environments.ts";
import { ConfirmButton, Notice } from "../components/admin-forms.tsx";
import {
  DeployedBy,
  DeploymentStateBadge,
  EngineText,
  EnvironmentFields,
  EnvironmentStatusText,
  FormError,
  NamespaceText,
  ProtectionText,
  RegistryText,
  SecretNames,
  type EnvironmentForm,
  type EnvironmentView,
} from "../components/environment-parts.tsx";
import { TableHead } from "../components/table-head.tsx";
import { When } from "../components/time.tsx";
import { CsrfField, Page, type PageSession } from "../layouts/page.tsx";
import { environmentPath } from "../paths.ts";

/** What a "Roll back" came to. */
export type RollbackReport = { service: string; ok: true; image: string } | { service: string; ok: false; problem: string };

export interface EnvironmentPageProps {
  session: PageSession;
  now: Date;
  environment: EnvironmentView;
  /** Newest first. */
  history: DeploymentRow[];
  /** The edit form: present when the viewer may change the environment. */
  form?: EnvironmentForm;
  /** Services of `environment.current` a Roll back button is offered for (empty for viewers who may not). */
  rollbackable: string[];
  notice?: string;
  test?: TestOutcome;
  rollback?: RollbackReport;
}

/** The rollback form's address, by the environment's key. */
export const rollbackPath = (environment: string, service: string) => environmentPath(environment, `/services/${encodeURIComponent(service)}/rollback`);

function TestResult({ name, test }: { name: string; test: TestOutcome }) {
  return test.ok ? (
    <Notice kind="ok">
      <strong>{`Connection to ${name} works:`}</strong> {test.detail}
    </Notice>
  ) : (
    <Notice kind="problem">
      <strong>{`Connection to ${name} failed:`}</strong> {test.problem}
    </Notice>
  );
}

function RollbackResult({ report }: { report: RollbackReport }) {
  return report.ok ? (
    <Notice kind="ok">{`Rolled ${report.service} back to ${report.image}.`}</Notice>
  ) : (
    <Notice kind="problem">
      <strong>{`Could not roll ${report.service} back:`}</strong> {report.problem}
    </Notice>
  );
}

function Details({ session, now, environment }: { session: PageSession; now: Date; environment: EnvironmentView }) {
  return (
    <section class="card admin-card" aria-labelledby="environment-facts">
      <h2 id="environment-facts">Details</h2>
      <dl class="facts">
        <dt>Namespace</dt>
        <dd>
          <NamespaceText namespace={environment.namespace} />
          <span class="hint environment-by">
            {environment.namespace === null
              ? "Shared: any namespace's pipelines deploy here, unless their namespace has its own of this name."
              : `Only pipelines of ${environment.namespace} deploy here; they use it before a shared ${environment.name}.`}
          </span>
        </dd>
        <dt>Provider</dt>
        <dd>{environment.provider}</dd>
        <dt>Engine</dt>
        <dd>
          <EngineText dockerHost={environment.dockerHost} />
        </dd>
        <dt>Registry</dt>
        <dd>
          <RegistryText registry={environment.registry} registryAuth={environment.registryAuth} />
        </dd>
        <dt>Secrets</dt>
        <dd>
          <SecretNames names={environment.secrets} />
        </dd>
        <dt>Description</dt>
        <dd class="environment-description">{environment.description ?? <span class="muted">none</span>}</dd>
        <dt>Protection</dt>
        <dd>
          <ProtectionText protection={environment.protection} />
        </dd>
        <dt>Created</dt>
        <dd>
          <When date={environment.createdAt} now={now} />
        </dd>
        <dt>Changed</dt>
        <dd>
          <When date={environment.updatedAt} now={now} />
        </dd>
      </dl>
      {/* The last test's or deploy's word, beside the button that asks again. */}
      <p class="environment-status-line" id="environment-status">
        <span class="muted">Status: </span>
        <EnvironmentStatusText status={environment.status} now={now} />
      </p>
      {/* A div, not a p: a form inside a p would end it. */}
      <div class="actions links">
        <form method="post" action={environmentPath(environment.key, "/test")} class="inline">
          <CsrfField session={session} />
          <button type="submit" class="small secondary" aria-label={`Test the connection to ${environment.key}`} aria-describedby="environment-status">
            Test connection
          </button>
        </form>
        {environment.canWrite && (
          <ConfirmButton
            session={session}
            action={environmentPath(environment.key, "/delete")}
            fields={{}}
            label="Delete"
            accessibleLabel={`Delete environment ${environment.key}`}
            confirm={`Delete environment ${environment.key} and its deployment history? The services deployed there keep running.`}
          />
        )}
      </div>
    </section>
  );
}

function RunsHereNow({ session, now, environment, rollbackable }: { session: PageSession; now: Date; environment: EnvironmentView; rollbackable: string[] }) {
  const withActions = rollbackable.length > 0;
  return (
    <section class="card admin-card" aria-labelledby="environment-now">
      <h2 id="environment-now">Runs here now</h2>
      {environment.current.length === 0 ? (
        <p class="muted">Nothing deployed here yet.</p>
      ) : (
        <table class="list admin-stack environment-current">
          <TableHead columns={["Service", "Image", "Deployed", "Run", "Task", withActions && { label: "Actions", hidden: true }]} />
          <tbody>
            {environment.current.map((deployment) => (
              <tr id={`service-${deployment.service}`}>
                <th scope="row" class="mono">
                  {deployment.service}
                </th>
                <td data-label="Image" class="environment-image">
                  <code>{deployment.image}</code>
                </td>
                <td data-label="Deployed">
                  <When date={deployment.endedAt ?? deployment.startedAt} now={now} />
                </td>
                <td data-label="Run" class="environment-run">
                  <DeployedBy deployment={deployment} />
                </td>
                <td data-label="Task">{deployment.taskId !== null ? <code>{deployment.taskId}</code> : <span class="muted">—</span>}</td>
                {withActions && (
                  <td class="admin-row-actions">
                    {rollbackable.includes(deployment.service) && (
                      <ConfirmButton
                        session={session}
                        action={rollbackPath(environment.key, deployment.service)}
                        fields={{}}
                        label="Roll back"
                        accessibleLabel={`Roll back ${deployment.service}`}
                        confirm={`Roll ${deployment.service} in ${environment.key} back to the image of its previous successful deployment?`}
                      />
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function History({ now, history }: { now: Date; history: DeploymentRow[] }) {
  return (
    <section class="card admin-card" aria-labelledby="environment-history">
      <h2 id="environment-history">Deployments</h2>
      {history.length === 0 ? (
        <p class="muted">No deployments yet.</p>
      ) : (
        <>
          <p class="hint">{`The last ${history.length} deployments, newest first.`}</p>
          <table class="list admin-stack environment-history">
            <TableHead columns={["Started", "Service", "Image", "Previous image", "State", "Reason", "Run"]} />
            <tbody>
              {history.map((deployment) => (
                <tr id={`deployment-${deployment.id}`}>
                  <th scope="row">
                    <When date={deployment.startedAt} now={now} />
                  </th>
                  <td data-label="Service" class="mono">
                    {deployment.service}
                  </td>
                  <td data-label="Image" class="environment-image">
                    <code>{deployment.image}</code>
                  </td>
                  <td data-label="Previous image" class="environment-image">
                    {deployment.previousImage !== null ? <code>{deployment.previousImage}</code> : <span class="muted">none</span>}
                  </td>
                  <td data-label="State">
                    <DeploymentStateBadge state={deployment.state} />
                  </td>
                  <td data-label="Reason" class="environment-reason">
                    {deployment.reason ?? <span class="muted">—</span>}
                  </td>
                  <td data-label="Run" class="environment-run">
                    <DeployedBy deployment={deployment} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

function EditForm({ session, environmentKey, form }: { session: PageSession; environmentKey: string; form: EnvironmentForm }) {
  return (
    <section class="card admin-card" aria-labelledby="environment-edit">
      <h2 id="environment-edit">Settings</h2>
      <FormError id="environment-edit-error" error={form.error} />
      <form method="post" action={environmentPath(environmentKey)} class="admin-form environment-form">
        <CsrfField session={session} />
        <EnvironmentFields form={form} prefix="environment-edit" withName={false} errorId="environment-edit-error" />
        <button type="submit">Save settings</button>
      </form>
    </section>
  );
}

export function EnvironmentPage({ session, now, environment, history, form, rollbackable, notice, test, rollback }: EnvironmentPageProps) {
  return (
    <Page title={`Environment ${environment.key}`} session={session} section="environments">
      <nav aria-label="Breadcrumb" class="admin-crumbs">
        <a href="/environments">Environments</a> <span aria-hidden="true">/</span> <span>{environment.key}</span>
      </nav>
      <h1>
        Environment <span class="mono">{environment.key}</span>
      </h1>
      {notice && <Notice kind="ok">{notice}</Notice>}
      {test && <TestResult name={environment.key} test={test} />}
      {rollback && <RollbackResult report={rollback} />}
      <Details session={session} now={now} environment={environment} />
      <RunsHereNow session={session} now={now} environment={environment} rollbackable={rollbackable} />
      <History now={now} history={history} />
      {form && <EditForm session={session} environmentKey={environment.key} form={form} />}
    </Page>
  );
}
