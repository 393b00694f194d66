import { Readable } from 'node:stream';
import type { Source, SourceObject } from './source.js';

/** Objects up to this size (as listed) are read ahead into memory; larger ones are streamed when their turn comes. */
export const PREFETCH_LIMIT = 1024 * 1024;
/**
 * Listed bytes of the objects read ahead, at most (give or take one object): many small objects can be fetched
 * at once (latency, not bandwidth, bounds them), while objects near the prefetch limit stay within 32 MiB.
 */
export const READ_AHEAD_BYTES = 32 * PREFETCH_LIMIT;

export interface FetchedObject {
  readonly object: SourceObject;
  readonly body: Readable;
}

/** What a slot holds once ready: a body to hand over as it is. */
type Ready = { readonly body: Readable; readonly streaming: boolean };

interface Slot {
  readonly object: SourceObject;
  /** Starts (if lazy) and returns the body; rejects with the open or read error. */
  ready(): Promise<Ready>;
  /** Releases whatever the slot holds when the consumer stops early. */
  dispose(): void;
}

const noop = (): void => undefined;

/**
 * Opens up to `concurrency` objects ahead of the consumer and yields them in input order, so the output is
 * deterministic whatever order the fetches complete in. Objects listed at up to 1 MiB are read whole ahead
 * of time (a body larger than listed stops being buffered at the limit and streams the rest), while the ones
 * read ahead total at most about READ_AHEAD_BYTES as listed; larger objects are opened only when reached and
 * stream. Memory stays within about min(`concurrency`, 32) MiB.
 * An error opening or reading an object is thrown at that object's position; an error of `objects` itself
 * after the objects received before it. The consumer should finish (or destroy) each body before asking for
 * the next: a streamed body counts against the concurrency until then.
 */
export function fetchOrdered(
  source: Source,
  objects: AsyncIterable<SourceObject>,
  concurrency: number,
): AsyncIterable<{ object: SourceObject; body: Readable }> {
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`fetchOrdered: concurrency must be a positive integer, got ${concurrency}`);
  }
  return { [Symbol.asyncIterator]: () => ordered(source, objects, concurrency) };
}

async function* ordered(source: Source, objects: AsyncIterable<SourceObject>, concurrency: number): AsyncGenerator<FetchedObject> {
  const input = objects[Symbol.asyncIterator]();
  const queue: Slot[] = [];
  let inputDone = false;
  let inputFailed = false;
  let inputError: unknown;
  let pulling: Promise<void> | undefined;
  /** The consumer holds a streamed body (it still uses a connection) until it asks for the next object. */
  let holding = false;
  let stopped = false;
  // Wakes the consumer side when the background pull adds a slot or ends.
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };

  /** Listed bytes of the queued objects that are read ahead. */
  let queuedBytes = 0;
  const aheadBytes = (object: SourceObject): number => (object.size > PREFETCH_LIMIT ? 0 : object.size);

  const hasRoom = (): boolean => queue.length + (holding ? 1 : 0) < concurrency && queuedBytes < READ_AHEAD_BYTES;

  // Pulls input objects in the background while there is room, starting each one's fetch.
  const pull = (): void => {
    if (pulling !== undefined || inputDone || stopped || !hasRoom()) return;
    pulling = (async () => {
      try {
        while (!inputDone && !stopped && hasRoom()) {
          const next = await input.next();
          if (next.done) inputDone = true;
          else if (stopped) return;
          else {
            queue.push(startSlot(source, next.value));
            queuedBytes += aheadBytes(next.value);
            notify();
          }
        }
      } catch (error) {
        inputDone = true;
        inputFailed = true;
        inputError = error;
      } finally {
        pulling = undefined;
        notify();
      }
    })();
  };

  try {
    for (;;) {
      pull();
      const slot = queue[0];
      if (slot === undefined) {
        if (pulling !== undefined) {
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        if (inputFailed) throw inputError;
        return;
      }
      const { body, streaming } = await slot.ready();
      queue.shift();
      queuedBytes -= aheadBytes(slot.object);
      holding = streaming;
      pull();
      yield { object: slot.object, body };
      holding = false;
    }
  } finally {
    stopped = true;
    for (const slot of queue.splice(0)) slot.dispose();
    if (!inputDone) {
      // Let a pending pull settle first: an async generator cannot be closed while it is running.
      const closing = pulling ?? Promise.resolve();
      void closing.then(() => input.return?.()).catch(noop);
    }
  }
}

function startSlot(source: Source, object: SourceObject): Slot {
  if (object.size > PREFETCH_LIMIT) {
    let opened: Promise<Readable> | undefined;
    return {
      object,
      ready: async () => ({ body: await (opened ??= source.open(object)), streaming: true }),
      dispose: () => void opened?.then((body) => body.destroy(), noop),
    };
  }
  const fetched = source.open(object).then((body) => prefetch(body, PREFETCH_LIMIT));
  fetched.catch(noop); // observed when the slot's turn comes; until then it must not count as unhandled
  return {
    object,
    ready: () => fetched,
    dispose: () => void fetched.then(({ body }) => body.destroy(), noop),
  };
}

/** Reads `body` whole if it has at most `limit` bytes, else the first `limit`-odd bytes and streams the rest. */
async function prefetch(body: Readable, limit: number): Promise<Ready> {
  const iterator = body[Symbol.asyncIterator]() as AsyncIterator<unknown>;
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const next = await iterator.next();
    if (next.done) {
      const whole = Buffer.concat(chunks, size);
      return { body: Readable.from(whole.length > 0 ? [whole] : [], { objectMode: false }), streaming: false };
    }
    const chunk = toBuffer(next.value);
    chunks.push(chunk);
    size += chunk.length;
    if (size > limit) break;
  }
  async function* rest(): AsyncGenerator<Buffer> {
    try {
      yield* chunks.splice(0);
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        yield toBuffer(next.value);
      }
    } finally {
      await iterator.return?.();
    }
  }
  return { body: Readable.from(rest(), { objectMode: false }), streaming: true };
}

const toBuffer = (chunk: unknown): Buffer => {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (typeof chunk === 'string') return Buffer.from(chunk);
  throw new TypeError(`fetchOrdered: a body yielded a ${typeof chunk}, not bytes`);
};
