// The header row of a list table: column labels with scope, their classes (num, wide-only)
// and labels only screen readers need (an actions column).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */

export interface Column {
  label: string;
  /** e.g. "num" (right-aligned) or "wide-only" (hidden on phones). */
  class?: string;
  /** Shown to screen readers only. */
  hidden?: boolean;
}

/**
 * A <thead> of column headers; `false` entries are left out, so a column can depend on
 * what the reader may do: `<TableHead columns={["Name", canWrite && { label: "Actions", hidden: true }]} />`.
 */
export function TableHead({ columns }: { columns: (Column | string | false | undefined)[] }) {
  return (
    <thead>
      <tr>
        {columns.map((column) => {
          if (!column) return null;
          const { label, class: className, hidden } = typeof column === "string" ? { label: column } : column;
          return (
            <th scope="col" class={className}>
              {hidden ? <span class="sr-only">{label}</span> : label}
            </th>
          );
        })}
      </tr>
    </thead>
  );
}
