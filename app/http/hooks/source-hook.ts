// POST /hooks/sources/<name>: a signed push notice for a git source, from any git host that
// can send a webhook (Gitea, GitLab, a post-receive hook...). Signed like generic hooks
// (X-Gantry-Signature-256: sha256=<HMAC of the body> with the source's hookSecret); the body is
// only read for the branch pushed to, and a sync fetches from the repository itself, so a
// forged body can at most ask for a sync.
import { getSource } from "../../db/repos/sources.ts";
import { recordEvent, type EventSink } from "../../engine/record-event.ts";
import { verifySignature } from "../../domain/hmac-signature.ts";

/** The bus is told of a refused delivery, so the events page shows it at once. */
export interface SourceHookDeps extends EventSink {
  /** A global secret's value. */
  secret(name: string): Promise<string | undefined>;
  requestSync(name: string): void;
  now: () => Date;
}

const SIGNATURE_HEADER = "x-gantry-signature-256";

export interface SourceHookAnswer {
  status: number;
  body: Record<string, unknown>;
}

const refuse = (status: number, code: string, message: string): SourceHookAnswer => ({ status, body: { error: { code, message } } });

/** The branch a push payload names ("ref": "refs/heads/main", as GitHub, Gitea and GitLab send), if any. */
function pushedBranch(body: Uint8Array): string | undefined {
  if (body.byteLength === 0) return undefined;
  try {
    const ref = (JSON.parse(new TextDecoder().decode(body)) as { ref?: unknown }).ref;
    return typeof ref === "string" && ref.startsWith("refs/heads/") ? ref.slice("refs/heads/".length) : undefined;
  } catch {
    return undefined;
  }
}

export async function handleSourceHook(deps: SourceHookDeps, name: string, headers: Headers, body: Uint8Array): Promise<SourceHookAnswer> {
  const source = /^[a-z0-9-]{1,64}$/.test(name) ? await getSource(deps.db, name) : undefined;
  // Whether a source exists is no one's business without its secret: one answer for both.
  const secret = source?.hookSecret ? await deps.secret(source.hookSecret) : undefined;
  if (!source || secret === undefined) return refuse(404, "not_found", `no source hook "${name}": a source takes pushes here once it has a hookSecret that is set`);
  const signature = headers.get(SIGNATURE_HEADER) ?? undefined;
  if (!verifySignature(secret, body, signature)) {
    await recordEvent(deps, { kind: "delivery.rejected", data: { source: name, reason: signature === undefined ? "missing signature" : "bad signature", status: 401 }, at: deps.now() });
    return refuse(401, "unauthorized", `missing or invalid ${SIGNATURE_HEADER} (sha256=<hex HMAC-SHA256 of the body>)`);
  }
  const branch = pushedBranch(body);
  if (branch !== undefined && branch !== source.branch) return { status: 202, body: { source: name, sync: false, reason: `a push to ${branch}; the source follows ${source.branch}` } };
  deps.requestSync(name);
  return { status: 202, body: { source: name, sync: true } };
}
