// A pipeline's task graph as a server-rendered SVG: tasks as boxes in depth columns, needs as
// arrows whose line style names the condition, states as classes plus a symbol and text.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { STATE_SYMBOL } from "../../../domain/states.ts";
import { truncate } from "./text.ts";
import type { NeedCondition } from "../../../domain/dag.ts";
import { layoutDag, NODE_HEIGHT, NODE_WIDTH, type PlacedEdge, type PlacedNode, type Point } from "../../../domain/dag-layout.ts";
import type { TaskState } from "../../../domain/states.ts";

export interface DagNode {
  id: string;
  kind: "run" | "container" | "approval";
  needs: Record<string, NeedCondition>;
  state?: TaskState;
  /** Short text under the name, e.g. "12s" or "exit 1". */
  detail?: string;
}

export interface DagGraphProps {
  tasks: DagNode[];
  /** What the graph shows, for screen readers, e.g. "Tasks of acme/deploy". */
  label: string;
  /** Where a task's box links to; without it the boxes are not links. */
  href?: (taskId: string) => string;
}

const KIND_MARK: Record<DagNode["kind"], string> = { run: "▷", container: "▣", approval: "☑" };
const KIND_WORD: Record<DagNode["kind"], string> = { run: "run", container: "container", approval: "approval" };

const CONDITION_TEXT: Record<NeedCondition, string> = {
  success: "on success",
  failure: "on failure",
  any: "on any outcome",
};

// Ids are drawn in a monospace font, so characters per line are predictable (two fewer
// when a state symbol leads the id).
const ID_CHARS = 18;
const DETAIL_CHARS = 25;
const LEGEND_LINE = 18;
const LEGEND_WIDTH = 190;
// Past this many edges, lines get thinner and lighter so fan-outs read as a bundle, not a wall.
const DENSE_EDGES = 40;

function describeNeeds(needs: DagNode["needs"]): string {
  const entries = Object.entries(needs);
  if (entries.length === 0) return "needs nothing";
  return `needs ${entries.map(([id, condition]) => `${id} (${condition})`).join(", ")}`;
}

/** "deploy: failed, exit 1; container task; needs build (success)": the name a node is read by. */
function describeNode(task: DagNode): string {
  const status = [task.state === "waiting" ? "waiting for approval" : task.state, task.detail].filter(Boolean).join(", ");
  return `${task.id}${status ? `: ${status}` : ""}; ${task.kind} task; ${describeNeeds(task.needs)}`;
}

/** Curves between columns, straight lines through the slots a long edge passes. */
function edgePath(points: Point[]): string {
  const [first, ...rest] = points;
  let d = `M${first!.x} ${first!.y}`;
  for (let i = 0; i < rest.length; i += 2) {
    const from = i === 0 ? first! : rest[i - 1]!;
    const to = rest[i]!;
    // Stop short of the last point so the arrowhead's tip touches the box instead of entering it.
    const endX = i === rest.length - 1 ? to.x - 2 : to.x;
    const bend = Math.max(24, (to.x - from.x) / 2);
    d += ` C${from.x + bend} ${from.y} ${to.x - bend} ${to.y} ${endX} ${to.y}`;
    const through = rest[i + 1];
    if (through) d += ` H${through.x}`;
  }
  return d;
}

/** Where a condition's label goes: the middle of the edge's last stretch, by its target. */
function labelPoint(edge: PlacedEdge): Point {
  const a = edge.points.at(-2)!;
  const b = edge.points.at(-1)!;
  return { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 - 4 };
}

function Edge({ edge, labelled }: { edge: PlacedEdge; labelled: boolean }) {
  const at = labelled ? labelPoint(edge) : undefined;
  return (
    <g class={`dag-edge need-${edge.condition}`}>
      <title>{`${edge.to} needs ${edge.from} ${CONDITION_TEXT[edge.condition]}`}</title>
      <path d={edgePath(edge.points)} marker-end={`url(#dag-arrow-${edge.condition})`} />
      {at && (
        <text class="dag-edge-label" x={at.x} y={at.y} text-anchor="middle">
          {edge.condition}
        </text>
      )}
    </g>
  );
}

/**
 * The edges that carry a visible "failure"/"any" label: one per target and condition (the one
 * arriving most level), so 100 edges converging on one task do not pile 100 labels on it.
 */
function labelledEdges(edges: PlacedEdge[]): Set<PlacedEdge> {
  const best = new Map<string, PlacedEdge>();
  const slope = (edge: PlacedEdge) => Math.abs(edge.points.at(-1)!.y - edge.points.at(-2)!.y);
  for (const edge of edges) {
    if (edge.condition === "success") continue;
    const key = `${edge.to}\u0000${edge.condition}`;
    const current = best.get(key);
    if (!current || slope(edge) < slope(current)) best.set(key, edge);
  }
  return new Set(best.values());
}

function NodeBox({ node, task, href }: { node: PlacedNode; task: DagNode; href?: string }) {
  const symbol = task.state ? `${STATE_SYMBOL[task.state]} ` : "";
  // With a state the second line says it in words; the kind then shows as a corner mark only.
  const second = [task.state ?? KIND_WORD[task.kind], task.detail].filter(Boolean).join(" · ");
  const box = (
    <g class={`dag-node kind-${task.kind}${task.state ? ` state-${task.state}` : ""}`} transform={`translate(${node.x} ${node.y})`}>
      <title>{describeNode(task)}</title>
      <rect width={NODE_WIDTH} height={NODE_HEIGHT} rx="8" ry="8" />
      <text class="dag-node-kind" x={NODE_WIDTH - 8} y="17" text-anchor="end" aria-hidden="true">
        {KIND_MARK[task.kind]}
      </text>
      <text class="dag-node-id" x="10" y="21">
        {symbol}
        {truncate(task.id, task.state ? ID_CHARS - 2 : ID_CHARS)}
      </text>
      <text class="dag-node-detail" x="10" y="39">
        {truncate(second, DETAIL_CHARS)}
      </text>
    </g>
  );
  if (!href) return box;
  return (
    <a href={href} class="dag-link" aria-label={describeNode(task)}>
      {box}
    </a>
  );
}

function Legend({ conditions, y }: { conditions: NeedCondition[]; y: number }) {
  return (
    <g class="dag-legend" aria-hidden="true">
      {conditions.map((condition, index) => {
        const lineY = y + index * LEGEND_LINE + LEGEND_LINE / 2;
        return (
          <g class={`dag-edge need-${condition}`}>
            <path d={`M8 ${lineY} H44`} marker-end={`url(#dag-arrow-${condition})`} />
            <text class="dag-legend-text" x="54" y={lineY + 4}>
              {`needs it ${CONDITION_TEXT[condition]}`}
            </text>
          </g>
        );
      })}
    </g>
  );
}

/** The task graph; an empty pipeline gives a short note instead of an empty picture. */
export function DagGraph({ tasks, label, href }: DagGraphProps) {
  if (tasks.length === 0) return <p class="muted">This pipeline has no tasks.</p>;
  const layout = layoutDag(tasks);
  const byId = new Map(tasks.map((task) => [task.id, task]));
  const labelled = labelledEdges(layout.edges);
  const present = new Set(layout.edges.map((edge) => edge.condition));
  // Solid lines need no legend; once dashed or dotted ones appear, explain all that are drawn.
  const legend = present.has("failure") || present.has("any") ? (["success", "failure", "any"] as const).filter((c) => present.has(c)) : [];
  const legendHeight = legend.length === 0 ? 0 : legend.length * LEGEND_LINE + 8;
  const width = Math.max(layout.width, legend.length === 0 ? 0 : LEGEND_WIDTH);
  const height = layout.height + legendHeight;
  // Wide graphs keep a readable size and scroll sideways inside their card rather than shrink to nothing.
  const sizeClass = `dag-cols-${Math.min(layout.columns, 12)}${layout.edges.length > DENSE_EDGES ? " dag-dense" : ""}`;
  return (
    <svg
      class={`dag ${sizeClass}`}
      viewBox={`0 0 ${width} ${height}`}
      width={width}
      height={height}
      role={href ? "group" : "img"}
      aria-label={label}
      xmlns="http://www.w3.org/2000/svg"
    >
      <title>{label}</title>
      <defs>
        {(["success", "failure", "any"] as const).map((condition) => (
          <marker id={`dag-arrow-${condition}`} class={`dag-arrow need-${condition}`} viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse">
            <path d="M0 0 L10 5 L0 10 z" />
          </marker>
        ))}
      </defs>
      <g class="dag-edges" aria-hidden={href ? "true" : undefined}>
        {layout.edges.map((edge) => (
          <Edge edge={edge} labelled={labelled.has(edge)} />
        ))}
      </g>
      <g class="dag-nodes">
        {layout.nodes.map((node) => (
          <NodeBox node={node} task={byId.get(node.id)!} href={href?.(node.id)} />
        ))}
      </g>
      {legend.length > 0 && <Legend conditions={legend} y={layout.height + 4} />}
    </svg>
  );
}
