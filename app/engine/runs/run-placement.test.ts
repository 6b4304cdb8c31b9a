// A run's placement: the first task to start places the run, the others wait for its node;
// a first task that never got one lets the next place it; a stored node pins every task.
import { describe, expect, it } from "bun:test";
import { createRunPlacement, heldPlacement, recordingPlacement } from "./run-placement.ts";

describe("run placement", () => {
  it("lets the first task place the run and sends the tasks waiting meanwhile to its node", async () => {
    const placement = createRunPlacement(null);
    expect(await placement.claim()).toBeUndefined();
    const second = placement.claim();
    const third = placement.claim();
    await placement.placed("node-a");
    expect(await second).toBe("node-a");
    expect(await third).toBe("node-a");
    expect(placement.node).toBe("node-a");
  });

  it("hands placing on when the first task ends without a node", async () => {
    const placement = createRunPlacement(null);
    expect(await placement.claim()).toBeUndefined();
    const next = placement.claim();
    placement.unplaced();
    expect(await next).toBeUndefined();
  });

  it("pins every task to a stored node, and stops waiting on abort", async () => {
    expect(await createRunPlacement("node-b").claim()).toBe("node-b");
    const placement = createRunPlacement(null);
    await placement.claim();
    const abort = new AbortController();
    const waiting = placement.claim(abort.signal);
    abort.abort(new Error("stopped"));
    await expect(waiting).rejects.toThrow("stopped");
  });

  it("stores the node once, and keeps the stored one when another process placed it first", async () => {
    const stored: string[] = [];
    const placement = createRunPlacement(null);
    const recorded = recordingPlacement(placement, async (node) => {
      stored.push(node);
      return "node-earlier";
    });
    await recorded.claim();
    await recorded.placed("node-c");
    await recorded.placed("node-d");
    expect(stored).toEqual(["node-c"]);
    expect(placement.node).toBe("node-earlier");
  });

  it("after a restart, lets a re-attached first task hold the placement: new tasks wait for its node", async () => {
    const placement = createRunPlacement(null);
    // Claimed as the run is taken back, before any new task starts.
    const held = heldPlacement(placement, placement.claim());
    let later: string | undefined | "waiting" = "waiting";
    const newTask = placement.claim().then((node) => (later = node));
    // The executor finds the service unplaced: its claim is the held one, so it is the first.
    expect(await held.claim()).toBeUndefined();
    await Bun.sleep(5);
    expect(later).toBe("waiting");
    await held.placed("node-a");
    await newTask;
    expect(later).toBe("node-a");
    // Nothing is left to give up.
    await held.release();
    expect(placement.node).toBe("node-a");
  });

  it("gives the held placement up when the re-attached attempt did not use it, so the next task places the run", async () => {
    const placement = createRunPlacement(null);
    const held = heldPlacement(placement, placement.claim());
    const newTask = placement.claim();
    await held.release();
    expect(await newTask).toBeUndefined();
  });
});
