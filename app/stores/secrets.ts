// The secret store: global and pipeline-scoped secrets, encrypted at rest, resolved for
// tasks (pipeline scope first), listed without values (with a warning where masking may
// miss the value), and re-encrypted on key rotation.
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Db } from "../db/client.ts";
import type { EventBus } from "../engine/event-bus.ts";
import { recordEvent } from "../engine/record-event.ts";
import {
  deleteSecret,
  findSecretWithOtherKey,
  getSecret,
  listSecrets,
  replaceCiphertexts,
  upsertSecret,
} from "../db/repos/secrets.ts";

import { ConflictError, ValidationError } from "../domain/errors.ts";
import { MAX_SECRET_BYTES, MIN_SECRET_LENGTH, SECRET_NAME_PATTERN, SECRET_NAME_RULE } from "../domain/secrets.ts";
import { decryptSecret, encryptSecret, importKey, SecretKeyError, writeKeyFile, type SecretKey } from "./secret-key.ts";
import type { PipelineKey } from "../domain/pipeline-key.ts";
import { secretWarning } from "../domain/secret-masking.ts";

// Still imported from here by app/http/web/secrets.tsx; the rule lives in domain/secrets.ts.

export type SecretScope = { kind: "global" } | { kind: "pipeline"; pipeline: PipelineKey };

export const scopeKey = (scope: SecretScope) =>
  scope.kind === "global" ? "global" : `${scope.pipeline.namespace}/${scope.pipeline.id}`;

export interface SecretInfo {
  name: string;
  scope: string;
  createdAt: Date;
  updatedAt: Date;
  /** Why masking may miss parts of the value (structured, several lines, short); null when it looks like one token. */
  warning: string | null;
}

/** Who acted: a person's or a token's name, and the person's id when one signed in. */
export interface Actor {
  name: string;
  userId?: string | null;
}

export interface SecretStore {
  /** Creates or replaces the secret; returns what is stored, and whether it is new. */
  /** `by`: who set it (a person's or a token's name), recorded in the secret.set event. */
  set(scope: SecretScope, name: string, value: string, now: Date, by?: Actor): Promise<{ secret: SecretInfo; created: boolean }>;
  list(scope?: SecretScope): Promise<SecretInfo[]>;
  get(scope: SecretScope, name: string): Promise<SecretInfo | undefined>;
  /** `by`: who deleted it, recorded in the secret.deleted event. */
  delete(scope: SecretScope, name: string, by?: Actor & { at: Date }): Promise<boolean>;
  /** The pipeline's secret, else the global one, else undefined. */
  resolve(pipeline: PipelineKey, name: string): Promise<string | undefined>;
  /** A global secret's value (a source's credentials), or undefined. */
  resolveGlobal(name: string): Promise<string | undefined>;
  /** Re-encrypts everything under a new key; returns it (the caller tells the admin if it came from env). */
  rotateKey(newRaw?: Uint8Array<ArrayBuffer>): Promise<{ key: SecretKey; count: number }>;
  readonly keyId: string;
}

export interface SecretStoreOptions {
  db: Db;
  key: SecretKey;
  dataDir: string;
  /** Told of each change recorded in the event log, so live pages show it at once. */
  bus: EventBus;
}

function validateSecretInput(name: string, value: string): void {
  if (!SECRET_NAME_PATTERN.test(name)) throw new ValidationError(`secret name "${name}" must be ${SECRET_NAME_RULE}`);
  if (value.length < MIN_SECRET_LENGTH) {
    throw new ValidationError(`secret "${name}" is too short: at least ${MIN_SECRET_LENGTH} characters, or masking it would hide ordinary log text`);
  }
  if (new TextEncoder().encode(value).length > MAX_SECRET_BYTES) throw new ValidationError(`secret "${name}" is larger than ${MAX_SECRET_BYTES} bytes`);
}

/** Opens the store, refusing a key that does not match the stored ciphertexts. */
export async function createSecretStore(options: SecretStoreOptions): Promise<SecretStore> {
  const { db, dataDir, bus } = options;
  let key = options.key;
  const foreign = await findSecretWithOtherKey(db, key.id);
  if (foreign) {
    throw new SecretKeyError(
      `the secret key (id ${key.id}, from ${key.source === "env" ? "GANTRY_SECRET_KEY" : `${dataDir}/secret-key`}) is not the key the stored secrets were encrypted with (id ${foreign.keyId}); restore the original key`,
    );
  }
  const info = (row: { scope: string; name: string; createdAt: Date; updatedAt: Date; warning: string | null }): SecretInfo => ({
    name: row.name,
    scope: row.scope,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    warning: row.warning,
  });
  return {
    get keyId() {
      return key.id;
    },
    async set(scope, name, value, now, by) {
      validateSecretInput(name, value);
      const scopeText = scopeKey(scope);
      const existing = await getSecret(db, scopeText, name);
      const ciphertext = await encryptSecret(key, scopeText, name, value);
      const warning = secretWarning(value);
      const row = await upsertSecret(db, { scope: scopeText, name, ciphertext, keyId: key.id, warning, createdAt: existing?.createdAt ?? now, updatedAt: now });
      // Who changed which secret (never its value), whichever way it came in: API, page or CLI.
      if (by) {
        await recordEvent({ db, bus }, {
          kind: "secret.set",
          ...(scope.kind === "pipeline" && { namespace: scope.pipeline.namespace, pipelineId: scope.pipeline.id }),
          data: { scope: scopeText, name, by: by.name, ...(by.userId && { userId: by.userId }), created: !existing },
          at: now,
        });
      }
      // Recorded where admins look (the event log), whichever way the secret came in: API, page or CLI.
      if (warning) {
        await recordEvent({ db, bus }, {
          kind: "secret.flagged",
          ...(scope.kind === "pipeline" && { namespace: scope.pipeline.namespace, pipelineId: scope.pipeline.id }),
          data: { scope: scopeText, name, warning },
          at: now,
        });
      }
      return { secret: info(row), created: !existing };
    },
    async list(scope) {
      return (await listSecrets(db, scope ? scopeKey(scope) : undefined)).map(info);
    },
    async get(scope, name) {
      const row = await getSecret(db, scopeKey(scope), name);
      return row ? info(row) : undefined;
    },
    async delete(scope, name, by) {
      const deleted = await deleteSecret(db, scopeKey(scope), name);
      if (deleted && by) {
        await recordEvent({ db, bus }, {
          kind: "secret.deleted",
          ...(scope.kind === "pipeline" && { namespace: scope.pipeline.namespace, pipelineId: scope.pipeline.id }),
          data: { scope: scopeKey(scope), name, by: by.name, ...(by.userId && { userId: by.userId }) },
          at: by.at,
        });
      }
      return deleted;
    },
    async resolve(pipeline, name) {
      for (const scope of [`${pipeline.namespace}/${pipeline.id}`, "global"]) {
        const row = await getSecret(db, scope, name);
        if (row) return decryptSecret(key, row.scope, row.name, row.ciphertext);
      }
      return undefined;
    },
    async resolveGlobal(name) {
      const row = await getSecret(db, "global", name);
      return row ? decryptSecret(key, row.scope, row.name, row.ciphertext) : undefined;
    },
    async rotateKey(newRaw) {
      const next = await importKey(newRaw ?? crypto.getRandomValues(new Uint8Array(32)), key.source);
      const rows = await listSecrets(db);
      const reencrypted = [];
      for (const row of rows) {
        let value: string;
        try {
          value = await decryptSecret(key, row.scope, row.name, row.ciphertext);
        } catch (error) {
          // Nothing is written yet: say which secret stands in the way instead of a bare 500.
          if (!(error instanceof SecretKeyError)) throw error;
          throw new ConflictError(`cannot rotate the key: ${error.message}; set or delete that secret first (nothing was changed)`);
        }
        reencrypted.push({ scope: row.scope, name: row.name, ciphertext: await encryptSecret(next, row.scope, row.name, value), keyId: next.id });
      }
      // Write the new key file first: a crash between the two leaves the old ciphertexts
      // with a key that cannot read them, so keep the old key beside it until commit.
      const previousFile = join(dataDir, "secret-key.previous");
      if (key.source === "file") {
        writeFileSync(previousFile, `${Buffer.from(key.raw).toString("base64")}\n`, { mode: 0o600 });
        writeKeyFile(dataDir, next.raw);
      }
      await replaceCiphertexts(db, reencrypted);
      rmSync(previousFile, { force: true });
      key = next;
      return { key: next, count: rows.length };
    },
  };
}
