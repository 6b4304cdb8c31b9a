// An extension's state as a labelled badge (text and symbol, never colour alone).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { ExtensionState } from "../../../extension-host/host.ts";

const SYMBOL: Record<ExtensionState, string> = {
  idle: "◌",
  starting: "◔",
  running: "✓",
  crashed: "!",
  failed: "✗",
  unconfigured: "○",
  stopped: "■",
};

export function ExtensionStateBadge({ state }: { state: ExtensionState }) {
  return (
    <span class={`badge ext-${state}`}>
      <span aria-hidden="true">{SYMBOL[state]}</span> {state}
    </span>
  );
}
