// When the server gives memory back: after start-up, and after a burst of work once a quiet
// spell follows and RSS has grown enough; never while busy, never for the idle drift alone,
// never twice for one growth. Clock-free: each look is called by hand with made-up readings.
import { expect, it } from "bun:test";
import { giveMemoryBackWhenIdle } from "./idle-memory.ts";

const MiB = 1024 * 1024;

function harness() {
  const state = { rss: 80 * MiB, cpuMs: 0, shrinks: 0 };
  const idle = giveMemoryBackWhenIdle({
    afterStartMs: 0,
    checkEveryMs: 60 * 60 * 1000,
    readRss: () => state.rss,
    readCpuMs: () => state.cpuMs,
    shrink: () => state.shrinks++,
  });
  /** One look after `cpuMs` of work, at `rss` MiB. */
  const look = (cpuMs: number, rss: number) => {
    state.cpuMs += cpuMs;
    state.rss = rss * MiB;
    return idle.check();
  };
  return { state, idle, look };
}

it("gives start-up's memory back, then a burst's once three quiet looks follow it", async () => {
  const { state, idle, look } = harness();
  await Bun.sleep(5);
  expect(state.shrinks).toBe(1);
  expect(look(50, 80)).toBe(false); // the baseline: 80 MiB
  // A burst of runs: busy looks, RSS up; nothing while busy.
  expect([look(4_000, 120), look(3_000, 125)]).toEqual([false, false]);
  // Quiet again: the third quiet look gives back.
  expect([look(60, 104), look(70, 104), look(65, 104)]).toEqual([false, false, true]);
  expect(state.shrinks).toBe(2);
  // The next look reads the new baseline (90); the same memory is not given back twice.
  expect([look(50, 90), look(50, 91), look(50, 92), look(50, 93)]).toEqual([false, false, false, false]);
  expect(state.shrinks).toBe(2);
  idle.stop();
});

it("leaves the idle drift alone, and gives back nothing while the server stays busy", async () => {
  const { state, idle, look } = harness();
  await Bun.sleep(5);
  look(50, 80);
  // Idle for a long while, drifting up 6 MiB: under the 8 MiB that makes a give-back worth it.
  for (let i = 0; i < 30; i++) expect(look(70, 80 + (i * 6) / 30)).toBe(false);
  // Busy for a long while, growing: not while busy.
  for (let i = 0; i < 30; i++) expect(look(2_000, 90 + i)).toBe(false);
  expect(state.shrinks).toBe(1);
  // A look of work in a quiet spell starts the spell over.
  expect([look(60, 130), look(60, 130), look(500, 130), look(60, 130), look(60, 130)]).toEqual([false, false, false, false, false]);
  expect(look(60, 130)).toBe(true);
  idle.stop();
});

it("gives nothing back before start-up's has been", () => {
  const shrinks: number[] = [];
  const idle = giveMemoryBackWhenIdle({ afterStartMs: 60_000, readRss: () => 500 * MiB, readCpuMs: () => 0, shrink: () => shrinks.push(1) });
  for (let i = 0; i < 5; i++) expect(idle.check()).toBe(false);
  idle.stop();
  expect(shrinks).toEqual([]);
});
