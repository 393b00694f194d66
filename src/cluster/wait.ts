import { EtlError } from '../errors.js';

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };

const minutes = (ms: number) => `${Math.floor(ms / 60_000)}m ${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')}s`;

/**
 * Calls `check` every `intervalMs` until it gives a value, logging the state it reports each time (a cluster
 * takes 5 to 15 minutes); gives up after `timeoutMs` with a line saying how to go on.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<{ done: T } | { state: string }>,
  options: { clock: Clock; log: (line: string) => void; intervalMs?: number; timeoutMs?: number },
): Promise<T> {
  const { clock, log, intervalMs = 15_000, timeoutMs = 45 * 60_000 } = options;
  const start = clock.now();
  for (;;) {
    const result = await check();
    if ('done' in result) return result.done;
    const elapsed = clock.now() - start;
    log(`${what}: ${result.state} (${minutes(elapsed)})`);
    if (elapsed >= timeoutMs) {
      throw new EtlError(`${what} is still ${result.state} after ${minutes(elapsed)}: run \`etl cluster create\` again later, it picks up where this one stopped`);
    }
    await clock.sleep(intervalMs);
  }
}
