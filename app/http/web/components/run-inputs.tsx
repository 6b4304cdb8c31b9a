// A run's typed inputs as its page shows them: name and value in a small table (nothing at
// all for a pipeline that declares none). Values are the checked ones, defaults applied.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { InputValue, InputValues } from "../../../domain/run-inputs.ts";
import { TableHead } from "./table-head.tsx";

function InputValueText({ value }: { value: InputValue }) {
  // An empty text is a value too; said in words so the cell does not look missing.
  if (value === "") return <span class="muted">(empty)</span>;
  return <>{String(value)}</>;
}

export function RunInputs({ inputs }: { inputs: InputValues }) {
  // Kept in the order the run stored them: the pipeline file's order.
  const entries = Object.entries(inputs);
  if (entries.length === 0) return null;
  return (
    <table class="list run-variables run-inputs">
      <caption>Inputs</caption>
      <TableHead columns={["Name", "Value"]} />
      <tbody>
        {entries.map(([name, value]) => (
          <tr>
            <th scope="row" class="mono">
              {name}
            </th>
            <td class={`mono variable-value input-${typeof value}`}>
              <InputValueText value={value} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
