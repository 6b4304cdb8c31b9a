// The start form's typed inputs, one field per declared input as its JSON Schema says: a
// select for a picklist, a checkbox for a boolean, a number field with its bounds, a text
// field of the fitting type; required marks, defaults filled, the description and the rule
// as a hint, and after a refused start each problem beside its field with the typed value kept.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { describeInput, type InputFormat, type InputProblem, type InputSchema, type InputSpec } from "../../../domain/run-inputs.ts";

/** Form field names for inputs; the prefix keeps them apart from variables, _csrf and extra. */
export const inputField = (name: string) => `input.${name}`;

/** Element ids of an input's field and its hint and problem texts. */
const fieldId = (name: string) => `input-${name}`;
const hintId = (name: string) => `input-${name}-hint`;
const errorId = (name: string) => `input-${name}-error`;

/** HTML input types for the formats a browser has a control for; the others are plain text. */
const FORMAT_TYPES: Partial<Record<InputFormat, string>> = {
  email: "email",
  uri: "url",
  date: "date",
  "date-time": "datetime-local",
  time: "time",
};

/** Whether the form must be given this input: required with no default (a checkbox always sends a value). */
const mustGive = (input: InputSpec) => input.required && input.schema.default === undefined && input.schema.type !== "boolean";

/**
 * The pattern as the browser's `pattern` attribute reads it, or undefined: the attribute must
 * match the whole value and is compiled with the `v` flag, while JSON Schema's pattern searches
 * and the server reads it with `u`. One the browser cannot compile is left to the server.
 */
export function htmlPattern(pattern: string): string | undefined {
  const wrapped = `[\\s\\S]*(?:${pattern})[\\s\\S]*`;
  try {
    new RegExp(`^(?:${wrapped})$`, "v");
    return wrapped;
  } catch {
    return undefined;
  }
}

/** What the hint says: the description, and the rule and default in words (a select's or checkbox's control says its rule). */
function hintParts(schema: InputSchema): { description?: string; words?: string } {
  const control = Boolean(schema.enum) || schema.type === "boolean";
  const rule = control ? undefined : describeInput(schema);
  const fallback = schema.default !== undefined && schema.type !== "boolean" ? `default ${schema.default}` : undefined;
  const words = [rule, fallback].filter(Boolean).join("; ");
  return { ...(schema.description && { description: schema.description }), ...(words && { words }) };
}

const hasHint = (schema: InputSchema) => Object.keys(hintParts(schema)).length > 0;

function Hint({ input }: { input: InputSpec }) {
  const { description, words } = hintParts(input.schema);
  if (!description && !words) return null;
  return (
    <p class="hint" id={hintId(input.name)}>
      {description && <span class="input-description">{description}</span>}
      {description && words && " "}
      {words && <span class="input-rule">{description ? `(${words})` : words}</span>}
    </p>
  );
}

interface FieldProps {
  input: InputSpec;
  /** The value as typed (or the default as text). */
  value: string;
  /** What is wrong with it, after a refused start. */
  problem?: string | undefined;
  /** The first field with a problem takes the focus. */
  first: boolean;
}

/** The attributes every control shares: its name, the hint and problem it is described by, its state. */
function controlAttributes({ input, problem, first }: FieldProps) {
  const describedBy = [hasHint(input.schema) && hintId(input.name), problem && errorId(input.name)].filter(Boolean).join(" ");
  return {
    id: fieldId(input.name),
    name: inputField(input.name),
    ...(describedBy && { "aria-describedby": describedBy }),
    ...(problem && { "aria-invalid": "true" }),
    ...(problem && first && { autofocus: true }),
    ...(mustGive(input) && { required: true }),
  };
}

function Control(props: FieldProps) {
  const { input, value } = props;
  const { schema } = input;
  const attributes = controlAttributes(props);
  if (schema.enum) {
    const given = schema.enum.some((choice) => String(choice) === value);
    return (
      <select {...attributes}>
        {/* Without a default there is no choice until one is made; an optional one may stay unset. */}
        {schema.default === undefined && (
          <option value="" selected={!given}>
            {mustGive(input) ? "Choose…" : "(none)"}
          </option>
        )}
        {schema.enum.map((choice) => (
          <option value={String(choice)} selected={String(choice) === value}>
            {String(choice)}
          </option>
        ))}
      </select>
    );
  }
  if (schema.type === "number" || schema.type === "integer") {
    const step = schema.multipleOf ?? (schema.type === "integer" ? 1 : "any");
    return (
      <input
        type="number"
        {...attributes}
        value={value}
        step={String(step)}
        {...(schema.minimum !== undefined && { min: String(schema.minimum) })}
        {...(schema.maximum !== undefined && { max: String(schema.maximum) })}
      />
    );
  }
  const pattern = schema.pattern === undefined ? undefined : htmlPattern(schema.pattern);
  return (
    <input
      type={(schema.format && FORMAT_TYPES[schema.format]) ?? "text"}
      {...attributes}
      value={value}
      autocomplete="off"
      {...(schema.minLength !== undefined && { minlength: schema.minLength })}
      {...(schema.maxLength !== undefined && { maxlength: schema.maxLength })}
      {...(pattern !== undefined && { pattern })}
    />
  );
}

function Problem({ name, problem }: { name: string; problem: string | undefined }) {
  if (!problem) return null;
  return (
    <p class="field-error" id={errorId(name)}>
      <span aria-hidden="true">✗ </span>
      {`${name} ${problem}`}
    </p>
  );
}

function Field(props: FieldProps) {
  const { input, value, problem } = props;
  const label = (
    <>
      <code>{input.name}</code>
      {input.schema.title && <span class="input-title">{` ${input.schema.title}`}</span>}
    </>
  );
  if (input.schema.type === "boolean" && !input.schema.enum) {
    // An unchecked box sends nothing: the hidden field before it says "false" then, and a
    // checked box's "true" comes after it, the value the server reads.
    return (
      <div class={`input-field input-boolean${problem ? " invalid" : ""}`}>
        <input type="hidden" name={inputField(input.name)} value="false" />
        <div class="input-check">
          <input type="checkbox" {...controlAttributes(props)} value="true" checked={value === "true"} />
          <label for={fieldId(input.name)}>{label}</label>
        </div>
        <Hint input={input} />
        <Problem name={input.name} problem={problem} />
      </div>
    );
  }
  return (
    <div class={`input-field${problem ? " invalid" : ""}`}>
      <label for={fieldId(input.name)}>
        {label}
        {mustGive(input) && (
          <span class="input-required" aria-hidden="true">
            {" "}
            required
          </span>
        )}
      </label>
      <Control {...props} />
      <Hint input={input} />
      <Problem name={input.name} problem={problem} />
    </div>
  );
}

/** What a field shows: the value as typed, else the default, else nothing. */
export function shownValue(input: InputSpec, typed: Readonly<Record<string, string>>): string {
  const value = typed[input.name];
  if (value !== undefined) return value;
  return input.schema.default === undefined ? "" : String(input.schema.default);
}

export interface InputFieldsProps {
  inputs: InputSpec[];
  /** Values as typed, by input name (absent: the default shows). */
  values: Record<string, string>;
  problems: InputProblem[];
}

/** The inputs' fieldset; nothing for a pipeline that declares none. */
export function InputFields({ inputs, values, problems }: InputFieldsProps) {
  if (inputs.length === 0) return null;
  const problemOf = new Map<string, string>();
  // One line per field: the first problem the server found with it.
  for (const problem of problems) if (!problemOf.has(problem.input)) problemOf.set(problem.input, problem.message);
  const firstInvalid = inputs.find((input) => problemOf.has(input.name))?.name;
  return (
    <fieldset class="variables inputs">
      <legend>Inputs</legend>
      {inputs.map((input) => (
        <Field input={input} value={shownValue(input, values)} problem={problemOf.get(input.name)} first={input.name === firstInvalid} />
      ))}
    </fieldset>
  );
}

/** The refused start's summary above the form: every problem, each linking to its field. */
export function InputProblems({ inputs, problems }: { inputs: InputSpec[]; problems: InputProblem[] }) {
  if (problems.length === 0) return null;
  const declared = new Set(inputs.map((input) => input.name));
  return (
    <div class="notice problem" role="alert" id="inputs-error">
      <p class="input-problems-title">{`The run was not started: ${problems.length === 1 ? "an input needs" : `${problems.length} inputs need`} a fix.`}</p>
      <ul class="input-problems">
        {problems.map((problem) =>
          declared.has(problem.input) ? (
            <li>
              <a href={`#${fieldId(problem.input)}`}>{problem.input}</a>
              {` ${problem.message}`}
            </li>
          ) : (
            <li>{`${problem.input} ${problem.message}`}</li>
          ),
        )}
      </ul>
    </div>
  );
}
