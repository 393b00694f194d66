import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { PREFETCH_LIMIT, READ_AHEAD_BYTES, fetchOrdered } from '../../src/extract/ordered-fetch.js';
import type { Source, SourceObject } from '../../src/extract/source.js';

/** A Source whose objects take chosen times to open, counting how many are open (opening or unread) at once. */
class FakeSource implements Source {
  readonly listsCheaply = true;
  readonly url = 'fake://';
  inFlight = 0;
  maxInFlight = 0;
  opened: string[] = [];
  constructor(
    private readonly bodies: Map<string, Buffer>,
    private readonly delayMs: (key: string) => number,
    private readonly failures: Map<string, 'open' | 'read'> = new Map(),
  ) {}

  async *list(): AsyncIterable<SourceObject> {
    for (const [key, body] of this.bodies) yield { key, size: body.length, version: '1' };
  }

  async open(object: SourceObject): Promise<Readable> {
    this.opened.push(object.key);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    let counted = true;
    const release = (): void => {
      if (counted) this.inFlight -= 1;
      counted = false;
    };
    try {
      await sleep(this.delayMs(object.key));
      if (this.failures.get(object.key) === 'open') throw new Error(`cannot open ${object.key}`);
    } catch (error) {
      release();
      throw error;
    }
    const body = this.bodies.get(object.key) ?? Buffer.alloc(0);
    const fail = this.failures.get(object.key) === 'read';
    const key = object.key;
    async function* chunks(): AsyncGenerator<Buffer> {
      try {
        // Several chunks, so a large body really streams.
        for (let at = 0; at < body.length; at += 256 * 1024) {
          yield body.subarray(at, at + 256 * 1024);
          await sleep(0);
        }
        if (fail) throw new Error(`body of ${key} died`);
      } finally {
        release();
      }
    }
    return Readable.from(chunks(), { objectMode: false });
  }
}

const text = async (body: Readable): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
};

const collect = async <T, U>(items: AsyncIterable<T>, map: (item: T) => Promise<U>): Promise<U[]> => {
  const out: U[] = [];
  for await (const item of items) out.push(await map(item));
  return out;
};

const objectsOf = (count: number): Map<string, Buffer> =>
  new Map(Array.from({ length: count }, (_, i) => [`k/${String(i).padStart(4, '0')}.json`, Buffer.from(`{"n":${i}}`)]));

/** Deterministic pseudo-random delays, so completion order is shuffled but the test is repeatable. */
const shuffledDelay = (key: string): number => {
  let hash = 0;
  for (const c of key) hash = (hash * 31 + c.charCodeAt(0)) % 9973;
  return hash % 15;
};

describe('fetchOrdered', () => {
  it('yields in input order whatever order the fetches complete in', async () => {
    const bodies = objectsOf(60);
    const source = new FakeSource(bodies, shuffledDelay);
    const seen: string[] = [];
    for await (const { object, body } of fetchOrdered(source, source.list(), 8)) {
      expect(await text(body)).toBe(bodies.get(object.key)?.toString());
      seen.push(object.key);
    }
    expect(seen).toEqual([...bodies.keys()]);
    // Completion order really was shuffled: fetches started in order, several at a time.
    expect(source.maxInFlight).toBeGreaterThan(1);
  });

  it('never has more than `concurrency` objects in flight, and does have that many', async () => {
    for (const concurrency of [1, 3, 16]) {
      const source = new FakeSource(objectsOf(40), shuffledDelay);
      let count = 0;
      for await (const { body } of fetchOrdered(source, source.list(), concurrency)) {
        await sleep(1); // a consumer slower than nothing, so the window fills up
        await text(body);
        count += 1;
      }
      expect(count).toBe(40);
      expect(source.maxInFlight).toBeLessThanOrEqual(concurrency);
      expect(source.maxInFlight).toBe(concurrency);
    }
  });

  it('reads ahead objects near the prefetch limit within READ_AHEAD_BYTES, however high the concurrency', async () => {
    const size = Math.floor(PREFETCH_LIMIT * 0.9);
    const bodies = new Map(Array.from({ length: 60 }, (_, i) => [`k/${String(i).padStart(2, '0')}.json`, Buffer.alloc(size, 'z')]));
    const source = new FakeSource(bodies, () => 2);
    let count = 0;
    for await (const { body } of fetchOrdered(source, source.list(), 128)) {
      await sleep(1);
      expect((await text(body)).length).toBe(size);
      count += 1;
    }
    expect(count).toBe(60);
    // The budget is checked before each object is taken: one more may start once it is not yet reached.
    expect(source.maxInFlight).toBe(Math.ceil(READ_AHEAD_BYTES / size));
  });

  it('streams large objects, opened only when reached, within the concurrency', async () => {
    const big = Buffer.alloc(PREFETCH_LIMIT * 3, 'x');
    const bodies = new Map<string, Buffer>([
      ['a.json', Buffer.from('a')],
      ['b.json', big],
      ['c.json', Buffer.from('c')],
      ['d.json', big],
      ['e.json', Buffer.from('e')],
    ]);
    const source = new FakeSource(bodies, () => 1);
    const sizes: number[] = [];
    for await (const { object, body } of fetchOrdered(source, source.list(), 2)) {
      if (object.key === 'b.json') {
        // b is opened when reached, not before: the objects after it are fetched while it streams.
        expect(source.opened.slice(0, 2)).toEqual(['a.json', 'c.json']);
      }
      sizes.push((await text(body)).length);
    }
    expect(sizes).toEqual([1, big.length, 1, big.length, 1]);
    expect(source.maxInFlight).toBeLessThanOrEqual(2);
  });

  it('streams a small-listed object whose body turns out larger than the prefetch limit', async () => {
    const big = Buffer.alloc(PREFETCH_LIMIT + 300_000, 'y');
    const source: Source = {
      listsCheaply: true,
      url: 'fake://',
      list: async function* () {
        yield { key: 'liar.json', size: 10, version: '1' };
      },
      open: async () => Readable.from([big.subarray(0, 700_000), big.subarray(700_000)], { objectMode: false }),
    };
    const [item] = await collect(fetchOrdered(source, source.list(), 4), ({ body }) => text(body));
    expect(item?.length).toBe(big.length);
  });

  it('throws an open error at that object position, after the objects before it', async () => {
    const bodies = objectsOf(10);
    const bad = [...bodies.keys()][4] as string;
    const source = new FakeSource(bodies, (key) => (key === bad ? 0 : 10), new Map([[bad, 'open']]));
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const { object, body } of fetchOrdered(source, source.list(), 4)) {
          await text(body);
          seen.push(object.key);
        }
      })(),
    ).rejects.toThrow(`cannot open ${bad}`);
    expect(seen).toEqual([...bodies.keys()].slice(0, 4));
  });

  it('throws a body read error at that object position', async () => {
    const bodies = objectsOf(6);
    const bad = [...bodies.keys()][2] as string;
    const source = new FakeSource(bodies, shuffledDelay, new Map([[bad, 'read']]));
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const { object, body } of fetchOrdered(source, source.list(), 3)) {
          await text(body);
          seen.push(object.key);
        }
      })(),
    ).rejects.toThrow(`body of ${bad} died`);
    expect(seen).toEqual([...bodies.keys()].slice(0, 2));
  });

  it('throws an error of the object list after the objects listed before it', async () => {
    const source = new FakeSource(objectsOf(3), () => 2);
    async function* failingList(): AsyncGenerator<SourceObject> {
      yield* source.list();
      throw new Error('listing failed');
    }
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const { object, body } of fetchOrdered(source, failingList(), 2)) {
          await text(body);
          seen.push(object.key);
        }
      })(),
    ).rejects.toThrow('listing failed');
    expect(seen).toHaveLength(3);
  });

  it('stops fetching and closes the list when the consumer stops early', async () => {
    const source = new FakeSource(objectsOf(50), () => 2);
    let closed = false;
    async function* list(): AsyncGenerator<SourceObject> {
      try {
        yield* source.list();
      } finally {
        closed = true;
      }
    }
    for await (const { body } of fetchOrdered(source, list(), 4)) {
      await text(body);
      break;
    }
    await sleep(50);
    expect(closed).toBe(true);
    expect(source.opened.length).toBeLessThanOrEqual(5);
    expect(source.inFlight).toBe(0);
  });

  it('handles an empty list and rejects a bad concurrency', async () => {
    const source = new FakeSource(new Map(), () => 0);
    expect(await collect(fetchOrdered(source, source.list(), 4), async (item) => item)).toEqual([]);
    expect(() => fetchOrdered(source, source.list(), 0)).toThrow(RangeError);
  });
});
