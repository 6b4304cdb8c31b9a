// Small pieces the admin pages share: a notice line, a field's error, and a one-button form
// (revoke, delete) that asks for confirmation when JavaScript is on.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { Child } from "hono/jsx";
import { CsrfField, type PageSession } from "../layouts/page.tsx";

/** A success (role=status) or problem (role=alert) message at the top of a page or form. */
export function Notice({ kind, children }: { kind: "ok" | "problem"; children?: Child }) {
  return (
    <p class={`notice ${kind}`} role={kind === "ok" ? "status" : "alert"}>
      {children}
    </p>
  );
}

export interface ConfirmButtonProps {
  session: PageSession;
  action: string;
  /** Hidden fields the POST carries, e.g. { scope, name }. */
  fields: Record<string, string>;
  label: string;
  /** Read by assistive technology: the label with what it acts on ("Delete secret X"). */
  accessibleLabel: string;
  /** The question public/gantry.js asks before submitting. */
  confirm: string;
}

export function ConfirmButton({ session, action, fields, label, accessibleLabel, confirm }: ConfirmButtonProps) {
  return (
    <form method="post" action={action} class="inline">
      <CsrfField session={session} />
      {Object.entries(fields).map(([name, value]) => (
        <input type="hidden" name={name} value={value} />
      ))}
      <button type="submit" class="danger small" data-confirm={confirm} aria-label={accessibleLabel}>
        {label}
      </button>
    </form>
  );
}

/** A short label beside a name: "built in", "run token", "you". */
export function Tag({ children, kind }: { children?: Child; kind?: string }) {
  return <span class={kind ? `admin-tag admin-tag-${kind}` : "admin-tag"}>{children}</span>;
}
