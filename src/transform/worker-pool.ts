import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { BlockResult, BlockTask } from './encode-block.js';

/** A parser thread holds a few blocks and their results at a time: this is ample, and keeps RSS flat. */
const WORKER_HEAP = { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 8 };

interface Pending {
  resolve: (result: BlockResult) => void;
  reject: (error: Error) => void;
}

/**
 * The worker script: compiled JS in dist/; under the test runner, the TypeScript source through tsx. Node 20
 * ignores `--import` in a worker's execArgv, so a tiny ES module registers tsx in the thread, then loads the source.
 */
function workerScript(): { url: URL; execArgv: string[] } {
  const js = new URL('./encode-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return { url: js, execArgv: [] };
  const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href.replace(/\.cjs$/, '.mjs');
  const source = new URL('./encode-worker.ts', import.meta.url).href;
  const boot = `import { register } from ${JSON.stringify(tsxApi)}; register(); await import(${JSON.stringify(source)});`;
  return { url: new URL(`data:text/javascript,${encodeURIComponent(boot)}`), execArgv: [] };
}

/** A result as it crosses threads: its CSV arrives as a plain Uint8Array, viewed as a Buffer again (no copy). */
const asBuffers = (result: BlockResult): BlockResult => {
  const csv = result.csv as Uint8Array;
  return { ...result, csv: Buffer.from(csv.buffer, csv.byteOffset, csv.byteLength) };
};

/** Parser threads: each block goes to the thread with the fewest blocks in hand. */
export class EncodePool {
  private readonly workers: { worker: Worker; inFlight: number }[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | undefined;

  private readonly spareCore: boolean;

  /** `size` 0 means one thread per core. */
  constructor(size: number) {
    const count = size > 0 ? size : availableParallelism();
    this.spareCore = count < availableParallelism();
    const { url, execArgv } = workerScript();
    for (let i = 0; i < count; i++) {
      // Bounded heaps: V8 otherwise lets garbage pile up to a large share of RAM before it collects.
      const worker = new Worker(url, { execArgv, resourceLimits: WORKER_HEAP });
      const slot = { worker, inFlight: 0 };
      worker.on('message', (message: { id: number; result?: BlockResult; error?: string }) => {
        slot.inFlight -= 1;
        const waiter = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.error !== undefined) waiter?.reject(new Error(`parser thread: ${message.error}`));
        else waiter?.resolve(asBuffers(message.result!));
      });
      worker.on('error', (error) => this.fail(error));
      this.workers.push(slot);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /**
   * Whether the caller (the main thread) had better parse the next block itself: there are fewer threads
   * than cores, so one is left for it, and every thread already has `depth` blocks in hand (one more would
   * only wait in a queue). With a thread per core it never does: it would only compete with them.
   */
  shouldShare(depth: number): boolean {
    return this.spareCore && this.workers.every((w) => w.inFlight >= depth);
  }

  run(task: BlockTask): Promise<BlockResult> {
    if (this.failure) return Promise.reject(this.failure);
    const slot = this.workers.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    const id = this.nextId++;
    slot.inFlight += 1;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // The block's bytes move to the thread without a copy (see BlockTask.bytes).
      slot.worker.postMessage({ id, task }, [task.bytes.buffer as ArrayBuffer]);
    });
  }

  private fail(error: Error): void {
    this.failure = error;
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map(({ worker }) => worker.terminate()));
  }
}
