// The driver: while a server is up, a few loops send it runs, signed webhook deliveries,
// cancels, polls and log follows at random, and record what it acknowledged. A request cut
// off by a kill acknowledged nothing, so the driver simply carries on.
import { API_PIPELINES, HOOK_SECRET, MAX_QUEUE_OUTSTANDING, hmac } from "./pipelines.ts";
import { between, pick, pickWeighted } from "./random.ts";
import { FINAL_RUN_STATES, runKey, type HarnessState, type RunJson, type RunRecord } from "./state.ts";

/** Sends requests while the server is up: starts, deliveries, cancels, polls and log streams. */
export class Driver {
  private stopped = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly server: { url: string; hooksUrl: string },
    private readonly state: HarnessState,
    private readonly maxOutstanding: number,
  ) {}

  start(loops: number): void {
    for (let i = 0; i < loops; i++) this.loops.push(this.loop());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled(this.loops);
  }

  private api(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${this.server.url}/api/v1${path}`, {
      ...init,
      headers: { authorization: `Bearer ${this.state.token}`, "content-type": "application/json" },
      signal: AbortSignal.timeout(15_000),
    });
  }

  private outstanding(): RunRecord[] {
    return [...this.state.acked.values()].filter((run) => !FINAL_RUN_STATES.has(run.state));
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.act();
      } catch {
        // The server died mid-request (or was not answering yet): nothing was acknowledged.
      }
      await Bun.sleep(between(20, 120));
    }
  }

  private async act(): Promise<void> {
    const outstanding = this.outstanding();
    const roll = Math.random();
    if (outstanding.length >= this.maxOutstanding || roll >= 0.9) return this.poll(outstanding);
    if (roll < 0.45) return this.startRun(outstanding);
    if (roll < 0.7) return this.deliver();
    if (roll < 0.8) return this.cancel(outstanding);
    return this.followLog();
  }

  private async startRun(outstanding: RunRecord[]): Promise<void> {
    const queued = outstanding.filter((run) => run.pipeline === `${this.state.prefix}queue`).length;
    const candidates = API_PIPELINES.filter(([name]) => name !== "queue" || queued < MAX_QUEUE_OUTSTANDING);
    const pipeline = `${this.state.prefix}${pickWeighted(candidates)}`;
    const nonce = `n${++this.state.counter}`;
    const variables: Record<string, string> = { NONCE: nonce };
    if (pipeline.endsWith("dag")) variables.OUTCOME = Math.random() < 0.4 ? "fail" : "ok";
    const response = await this.api(`/pipelines/default/${pipeline}/runs`, { method: "POST", body: JSON.stringify({ variables }) });
    if (response.status !== 201) return;
    const { run } = (await response.json()) as { run: RunJson };
    this.state.acked.set(runKey(pipeline, run.id), { pipeline, id: run.id, via: "api", state: run.state });
  }

  private async deliver(): Promise<void> {
    const id = `delivery-${++this.state.counter}`;
    const body = JSON.stringify({ delivery: id, nonce: `n${this.state.counter}`, padding: "x".repeat(Math.floor(between(0, 400))) });
    this.state.deliveriesSent++;
    const response = await fetch(`${this.server.hooksUrl}/hooks/webhook/default/${this.state.prefix}hook`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-gantry-signature-256": hmac(HOOK_SECRET, body), "x-gantry-delivery": id },
      body,
      signal: AbortSignal.timeout(15_000),
    });
    if (response.status !== 202) return;
    const answer = (await response.json()) as { run: { pipeline: string; id: number; duplicate: boolean } };
    if (answer.run.duplicate) this.state.violations.push(`delivery ${id} was sent once but answered duplicate (run ${answer.run.id})`);
    const pipeline = `${this.state.prefix}hook`;
    this.state.deliveries.push({ id, body, run: answer.run.id });
    if (!this.state.acked.has(runKey(pipeline, answer.run.id))) this.state.acked.set(runKey(pipeline, answer.run.id), { pipeline, id: answer.run.id, via: "hook", state: "queued" });
  }

  private async cancel(outstanding: RunRecord[]): Promise<void> {
    if (outstanding.length === 0) return;
    const run = pick(outstanding);
    const key = runKey(run.pipeline, run.id);
    this.state.cancelsSent.add(key);
    const response = await this.api(`/pipelines/default/${run.pipeline}/runs/${run.id}/cancel`, { method: "POST" });
    if (response.status === 202) this.state.cancelsAcked.add(key);
    else if (response.status === 404) this.state.violations.push(`run ${key} was acknowledged, but a cancel answered 404`);
  }

  /** Refreshes the states of a few unfinished runs; an acknowledged run answering 404 is lost. */
  private async poll(outstanding: RunRecord[]): Promise<void> {
    for (const run of outstanding.slice(0, 4)) {
      if (this.stopped) return;
      const response = await this.api(`/pipelines/default/${run.pipeline}/runs/${run.id}`);
      if (response.status === 404) this.state.violations.push(`run ${runKey(run.pipeline, run.id)} was acknowledged, but later answered 404`);
      if (response.status !== 200) continue;
      run.state = ((await response.json()) as { run: RunJson }).run.state;
    }
    await Bun.sleep(100);
  }

  /** Follows a container task's log for a while, so kills also land while logs stream. */
  private async followLog(): Promise<void> {
    const boxes = [...this.state.acked.values()].filter((run) => run.pipeline.endsWith("box") && !FINAL_RUN_STATES.has(run.state));
    if (boxes.length === 0) return;
    const run = pick(boxes);
    const response = await fetch(`${this.server.url}/api/v1/pipelines/default/${run.pipeline}/runs/${run.id}/tasks/stream/logs?follow=1`, {
      headers: { authorization: `Bearer ${this.state.token}` },
      signal: AbortSignal.timeout(3_000),
    });
    if (!response.body) return;
    for await (const _chunk of response.body) {
      if (this.stopped) break;
    }
  }
}
