// Where each task of a DAG goes on screen: columns by depth (longest path from a root),
// rows ordered to reduce edge crossings, pixel boxes that never overlap. Pure: no DOM, no I/O.
import type { NeedCondition } from "./dag.ts";

export interface LayoutTask {
  id: string;
  needs: Record<string, NeedCondition>;
}

export interface PlacedNode {
  id: string;
  column: number;
  /** Index within its column, top to bottom. */
  row: number;
  x: number;
  y: number;
}

export interface Point {
  x: number;
  y: number;
}

export interface PlacedEdge {
  from: string;
  to: string;
  condition: NeedCondition;
  /** From the right middle of the needed task's box to the left middle of the dependent's; an
   * edge that spans several columns passes through a reserved slot in each column between, as a
   * pair of points (the slot's left and right), so it never runs through another task's box. */
  points: Point[];
}

export interface DagLayout {
  nodes: PlacedNode[];
  edges: PlacedEdge[];
  columns: number;
  width: number;
  height: number;
}

export const NODE_WIDTH = 176;
export const NODE_HEIGHT = 50;
const GAP_X = 56;
const GAP_Y = 14;
const PADDING = 8;
// Each pass moves rows towards the median of their neighbours; a few passes settle almost
// every real pipeline, and the cost stays linear in the number of edges per pass.
const SWEEPS = 3;
const MAX_OFFSET_ROWS = 2;

/** The depth of every task: 0 for tasks that need nothing, else one more than its deepest need. */
export function taskDepths(tasks: LayoutTask[]): Map<string, number> {
  const byId = new Map(tasks.map((task) => [task.id, task]));
  const depths = new Map<string, number>();
  const visiting = new Set<string>();
  const depthOf = (id: string): number => {
    const known = depths.get(id);
    if (known !== undefined) return known;
    // A cycle or an unknown task cannot happen in a loaded spec; treat it as a root rather than loop.
    if (visiting.has(id)) return 0;
    visiting.add(id);
    let depth = 0;
    for (const upstream of Object.keys(byId.get(id)?.needs ?? {})) {
      if (byId.has(upstream)) depth = Math.max(depth, depthOf(upstream) + 1);
    }
    visiting.delete(id);
    depths.set(id, depth);
    return depth;
  };
  for (const task of tasks) depthOf(task.id);
  return depths;
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

// Slots that long edges pass through: they take part in ordering like tasks but are not drawn.
const WAYPOINT = "\u0000";

/** Lays out the tasks; edges to unknown tasks are left out. */
export function layoutDag(tasks: LayoutTask[]): DagLayout {
  const depths = taskDepths(tasks);
  const columnCount = tasks.length === 0 ? 0 : Math.max(...depths.values()) + 1;
  const columns: string[][] = Array.from({ length: columnCount }, () => []);
  for (const task of tasks) columns[depths.get(task.id)!]!.push(task.id);

  // The graph as the ordering sees it: each edge that skips columns becomes a chain through waypoints.
  const parents = new Map<string, string[]>(tasks.map((task) => [task.id, []]));
  const children = new Map<string, string[]>(tasks.map((task) => [task.id, []]));
  const link = (up: string, down: string) => {
    children.get(up)!.push(down);
    parents.get(down)!.push(up);
  };
  const chains: { from: string; to: string; condition: NeedCondition; waypoints: string[] }[] = [];
  for (const task of tasks) {
    for (const [upstream, condition] of Object.entries(task.needs)) {
      if (!parents.has(upstream) || upstream === task.id) continue;
      const waypoints: string[] = [];
      let previous = upstream;
      for (let c = depths.get(upstream)! + 1; c < depths.get(task.id)!; c++) {
        const waypoint = `${WAYPOINT}${chains.length}:${c}`;
        parents.set(waypoint, []);
        children.set(waypoint, []);
        columns[c]!.push(waypoint);
        link(previous, waypoint);
        waypoints.push(waypoint);
        previous = waypoint;
      }
      link(previous, task.id);
      chains.push({ from: upstream, to: task.id, condition, waypoints });
    }
  }
  const tallest = Math.max(0, ...columns.map((column) => column.length));

  // Columns are centred vertically, so compare positions, not indexes, across columns.
  const position = new Map<string, number>();
  const placeColumn = (column: string[]) => {
    // Short columns sit a little lower to meet their neighbours, but never so far that a
    // fan-out of 100 tasks pushes its source out of view below the fold.
    const offset = Math.min((tallest - column.length) / 2, MAX_OFFSET_ROWS);
    column.forEach((id, index) => position.set(id, offset + index));
  };
  columns.forEach(placeColumn);
  const reorder = (column: string[], neighbours: Map<string, string[]>) => {
    const key = new Map(column.map((id) => {
      const wanted = median(neighbours.get(id)!.map((other) => position.get(other)!));
      return [id, wanted ?? position.get(id)!] as const;
    }));
    const current = new Map(column.map((id, index) => [id, index]));
    column.sort((a, b) => key.get(a)! - key.get(b)! || current.get(a)! - current.get(b)!);
    placeColumn(column);
  };
  for (let sweep = 0; sweep < SWEEPS; sweep++) {
    for (let c = 1; c < columnCount; c++) reorder(columns[c]!, parents);
    for (let c = columnCount - 2; c >= 0; c--) reorder(columns[c]!, children);
  }
  // End on a downward pass so each task sits near the tasks it needs.
  for (let c = 1; c < columnCount; c++) reorder(columns[c]!, parents);

  const xOf = (column: number) => PADDING + column * (NODE_WIDTH + GAP_X);
  const yOf = (id: string) => PADDING + position.get(id)! * (NODE_HEIGHT + GAP_Y);
  const nodes: PlacedNode[] = [];
  const byId = new Map<string, PlacedNode>();
  columns.forEach((column, c) => {
    column.forEach((id, row) => {
      const node: PlacedNode = { id, column: c, row, x: xOf(c), y: yOf(id) };
      byId.set(id, node);
      if (!id.startsWith(WAYPOINT)) nodes.push(node);
    });
  });

  const middle = (node: PlacedNode) => node.y + NODE_HEIGHT / 2;
  const edges: PlacedEdge[] = chains.map(({ from, to, condition, waypoints }) => {
    const start = byId.get(from)!;
    const end = byId.get(to)!;
    const points: Point[] = [{ x: start.x + NODE_WIDTH, y: middle(start) }];
    for (const waypoint of waypoints) {
      const slot = byId.get(waypoint)!;
      points.push({ x: slot.x, y: middle(slot) }, { x: slot.x + NODE_WIDTH, y: middle(slot) });
    }
    points.push({ x: end.x, y: middle(end) });
    return { from, to, condition, points };
  });

  return {
    nodes,
    edges,
    columns: columnCount,
    width: columnCount === 0 ? 0 : PADDING * 2 + columnCount * NODE_WIDTH + (columnCount - 1) * GAP_X,
    height: tallest === 0 ? 0 : PADDING * 2 + tallest * NODE_HEIGHT + (tallest - 1) * GAP_Y,
  };
}
