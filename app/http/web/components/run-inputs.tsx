// A run's variables and typed inputs as its page shows them: name and value in a small table.
// Inputs are the checked values, defaults applied (nothing at all for a pipeline that
// declares none); variables are sorted by name.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { Child } from "hono/jsx";
import type { InputValue, InputValues } from "../../../domain/run-inputs.ts";
import { TableHead } from "./table-head.tsx";

function InputValueText({ value }: { value: InputValue }) {
  // An empty text is a value too; said in words so the cell does not look missing.
  if (value === "") return <span class="muted">(empty)</span>;
  return <>{String(value)}</>;
}

/** Names and values under a caption; `cell` shows a value and `cellClass` marks its cell. */
function NameValueTable<V>(props: { caption: string; tableClass: string; entries: [string, V][]; cell: (value: V) => Child; cellClass?: (value: V) => string }) {
  return (
    <table class={`list ${props.tableClass}`}>
      <caption>{props.caption}</caption>
      <TableHead columns={["Name", "Value"]} />
      <tbody>
        {props.entries.map(([name, value]) => (
          <tr>
            <th scope="row" class="mono">
              {name}
            </th>
            <td class={`mono variable-value${props.cellClass ? ` ${props.cellClass(value)}` : ""}`}>{props.cell(value)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function RunInputs({ inputs }: { inputs: InputValues }) {
  // Kept in the order the run stored them: the pipeline file's order.
  const entries = Object.entries(inputs);
  if (entries.length === 0) return null;
  return (
    <NameValueTable
      caption="Inputs"
      tableClass="run-variables run-inputs"
      entries={entries}
      cell={(value) => <InputValueText value={value} />}
      cellClass={(value) => `input-${typeof value}`}
    />
  );
}

export function RunVariables({ variables }: { variables: Record<string, string> }) {
  const entries = Object.entries(variables).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return <p class="muted run-no-variables">No run variables.</p>;
  return <NameValueTable caption="Variables" tableClass="run-variables" entries={entries} cell={(value) => value} />;
}
