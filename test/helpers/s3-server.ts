/**
 * A real S3-compatible server for tests: s3rver on 127.0.0.1 (ephemeral port, temp directory), plus an
 * optional fault-injecting HTTP proxy in front of it.
 *
 * s3rver encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3 (Node 20) only has in its legacy
 * provider. s3rver therefore runs in a child Node process started with `--openssl-legacy-provider`: the test
 * workers (and the code under test) keep the default crypto, and no NODE_OPTIONS or vitest change is needed.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client, type S3Options } from '../../src/extract/s3-client.js';
import { compareKeys } from '../../src/extract/source.js';

/** s3rver's built-in account: any other access key id is rejected (it does not check V4 signatures). */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** A fault injected once into the next matching GET through the proxy. */
export type Fault =
  /** Answer with an S3 error status (default 503 SlowDown) instead of forwarding. */
  | { readonly kind: 'status'; readonly status?: number; readonly code?: string }
  /** Reset the connection without answering. */
  | { readonly kind: 'reset' }
  /** Forward the response but cut the connection after `afterBytes` bytes of body. */
  | { readonly kind: 'cut'; readonly afterBytes: number };

/** A request seen by the proxy. */
export interface ProxiedRequest {
  readonly method: string;
  readonly bucket: string;
  /** The object key, '' for bucket-level requests such as ListObjectsV2. */
  readonly key: string;
  readonly range: string | undefined;
  readonly ifMatch: string | undefined;
  readonly signed: boolean;
  /** The request target as sent (path and query, escaped) and its headers: what a signature covers. */
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  /** The fault applied to this request, if any. */
  readonly fault: Fault['kind'] | undefined;
}

export interface Faults {
  /** Injects `fault` once into the next GET of `bucket/key` ('' for the bucket's listing); several queue up. */
  inject(bucket: string, key: string, fault: Fault): void;
  /** Faults injected and not yet triggered. */
  pending(): number;
  /** Every request through the proxy, in arrival order. */
  readonly requests: ProxiedRequest[];
  clear(): void;
}

export interface S3TestServer {
  /** s3rver itself, e.g. http://127.0.0.1:41234. */
  readonly endpoint: string;
  /** The fault-injecting proxy in front of it, or undefined when started without one. */
  readonly proxyEndpoint: string | undefined;
  /** Options for createS3Client / S3Source against s3rver directly (path-style, s3rver's keys). */
  readonly options: S3Options;
  /**
   * Options for going through the proxy (same as `options` when there is no proxy), with the SDK's own retries
   * off (maxAttempts 1) so that injected faults exercise S3Source's retries quickly; override to test the SDK's.
   */
  readonly proxyOptions: S3Options;
  /** A client on s3rver directly, for setup. */
  readonly client: S3Client;
  readonly faults: Faults;
  createBucket(bucket: string): Promise<void>;
  put(bucket: string, key: string, body: string | Uint8Array, options?: { contentEncoding?: string }): Promise<void>;
  /**
   * Stores many objects at once, straight into s3rver's store (no HTTP): for large fixtures. The bucket must
   * exist; objects get Content-Type application/json and no Content-Encoding.
   */
  putAll(bucket: string, objects: Iterable<readonly [key: string, body: string | Uint8Array]>): Promise<void>;
  /**
   * Uploads every file under `localDir` to `prefix/<relative path>` (with '/' separators); with `gzip`, each body
   * is gzipped and its key gets `.gz` appended. Returns the keys, sorted.
   */
  putDir(bucket: string, prefix: string, localDir: string, options?: { gzip?: boolean }): Promise<string[]>;
  /** Sets the latency s3rver adds to every request from now on (ms; 0 for none). */
  setLatency(ms: number): Promise<void>;
  /** What s3rver has served since it started (or since the last `reset`), counted in its own process. */
  requestStats(options?: { reset?: boolean }): Promise<RequestStats>;
  stop(): Promise<void>;
}

/** Requests s3rver received, counted as they arrive (before the added latency) until their response ends. */
export interface RequestStats {
  readonly requests: number;
  /** GetObject requests (a GET of a key, not of the bucket). */
  readonly gets: number;
  /** The most requests in progress at once. */
  readonly maxConcurrent: number;
  /** CPU time of the s3rver process since it started (user + system), seconds. */
  readonly cpuSeconds: number;
}

export interface StartS3ServerOptions {
  readonly buckets?: readonly string[];
  /** Start the fault-injecting proxy (default true). */
  readonly proxy?: boolean;
  /**
   * Delay every request by this many ms inside the s3rver process, before s3rver handles it (default 0): a
   * far-away S3 as the client sees it, with no sleeping in the client and no extra hop.
   */
  readonly latencyMs?: number;
}

const require = createRequire(import.meta.url);

/**
 * Runs in the child: starts s3rver and reports its port over IPC. Every request waits `latencyMs` before
 * s3rver sees it, and is counted (in progress at once, GETs). Messages: `seed` stores objects through s3rver's
 * own store (what its PutObject handler does, without HTTP: fast for thousands of objects), `latency` sets the
 * delay, `stats` answers the counts (and resets them). The child stops when the parent disconnects.
 */
const CHILD_SOURCE = `
const path = require('node:path');
const S3rver = require(process.env.S3RVER_MODULE);
const S3Object = require(path.join(path.dirname(process.env.S3RVER_MODULE), 'models', 'object.js'));
const { directory, buckets, latencyMs } = JSON.parse(process.env.S3RVER_CONFIG);
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: buckets.map((name) => ({ name })) });
// Silent anyway: without koa-logger's per-request formatting (colors, sizes, timings) and winston's, a request
// costs about a third less CPU, which a benchmark's client on the same cores gets instead.
if (server.middleware[0] && server.middleware[0].name === 'logger') server.middleware.shift();
server.context.logger = { debug() {}, info() {}, warn() {}, error() {} };
let latency = latencyMs;
let stats = { requests: 0, gets: 0, maxConcurrent: 0 };
let inProgress = 0;
server.run().then(
  (address) => {
    const http = server.httpServer;
    const [handle] = http.listeners('request');
    http.removeAllListeners('request');
    http.on('request', (req, res) => {
      stats.requests += 1;
      if (req.method === 'GET' && /^\\/[^/?]+\\/[^?]/.test(req.url)) stats.gets += 1;
      inProgress += 1;
      stats.maxConcurrent = Math.max(stats.maxConcurrent, inProgress);
      let ended = false;
      const end = () => { if (!ended) { ended = true; inProgress -= 1; } };
      res.once('finish', end);
      res.once('close', end);
      if (latency > 0) setTimeout(() => handle(req, res), latency);
      else handle(req, res);
    });
    // Kept-alive connections stay open between a benchmark's bursts.
    http.keepAliveTimeout = 120000;
    process.send({ port: address.port });
  },
  (error) => { console.error(error); process.exit(1); },
);
const seed = async (bucket, objects) => {
  let next = 0;
  const worker = async () => {
    while (next < objects.length) {
      const [key, base64] = objects[next++];
      await server.store.putObject(new S3Object(bucket, key, Buffer.from(base64, 'base64'), { 'content-type': 'application/json' }));
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
};
process.on('message', async ({ id, type, bucket, objects, ms, reset }) => {
  try {
    if (type === 'latency') latency = ms;
    else if (type === 'stats') {
      const cpu = process.cpuUsage();
      process.send({ id, stats: { ...stats, cpuSeconds: (cpu.user + cpu.system) / 1e6 } });
      if (reset) stats = { requests: 0, gets: 0, maxConcurrent: inProgress };
      return;
    } else await seed(bucket, objects);
    process.send({ id });
  } catch (error) {
    process.send({ id, error: String(error && error.stack || error) });
  }
});
process.on('disconnect', () => { server.close().finally(() => process.exit(0)); });
`;

const startChild = async (directory: string, buckets: readonly string[], latencyMs: number): Promise<{ child: ChildProcess; port: number }> => {
  const script = join(directory, 'run-s3rver.cjs');
  await writeFile(script, CHILD_SOURCE);
  const child = fork(script, [], {
    execArgv: ['--openssl-legacy-provider'],
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      S3RVER_MODULE: require.resolve('s3rver'),
      S3RVER_CONFIG: JSON.stringify({ directory: join(directory, 'data'), buckets, latencyMs }),
    },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`s3rver did not start within 15 s: ${stderr}`)), 15_000);
    child.once('message', (message: { port: number }) => {
      clearTimeout(timer);
      resolve(message.port);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with code ${code}: ${stderr}`));
    });
  });
  return { child, port };
};

const stopChild = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.connected) child.disconnect();
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
};

const s3ErrorBody = (code: string, message: string): string =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault</RequestId></Error>`;

const parsePath = (url: string | undefined): { bucket: string; key: string } => {
  const path = new URL(url ?? '/', 'http://proxy').pathname;
  const [, bucket = '', ...rest] = path.split('/');
  return { bucket: decodeURIComponent(bucket), key: rest.map((part) => decodeURIComponent(part)).join('/') };
};

const startProxy = async (upstreamPort: number, faults: Map<string, Fault[]>, requests: ProxiedRequest[]): Promise<Server> => {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const { bucket, key } = parsePath(req.url);
    const queued = req.method === 'GET' ? faults.get(`${bucket}/${key}`) : undefined;
    const fault = queued?.shift();
    const header = (name: string): string | undefined => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    requests.push({
      method: req.method ?? '',
      bucket,
      key,
      range: header('range'),
      ifMatch: header('if-match'),
      signed: header('authorization') !== undefined,
      url: req.url ?? '',
      headers: req.headers,
      fault: fault?.kind,
    });

    if (fault?.kind === 'reset') {
      req.socket.resetAndDestroy();
      return;
    }
    if (fault?.kind === 'status') {
      const status = fault.status ?? 503;
      const code = fault.code ?? (status === 503 ? 'SlowDown' : 'InternalError');
      req.resume();
      res.writeHead(status, { 'content-type': 'application/xml', connection: 'close' });
      res.end(s3ErrorBody(code, 'Injected fault'));
      return;
    }

    const upstream = httpRequest(
      // A fresh upstream connection per request: a stale kept-alive one would fail at random, not on purpose.
      { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers, agent: false },
      (response) => {
        res.writeHead(response.statusCode ?? 502, response.headers);
        if (fault?.kind !== 'cut') {
          response.pipe(res);
          return;
        }
        // Sends the bytes written so far, then closes the connection: the body ends short of its length.
        let remaining = fault.afterBytes;
        const cut = (): void => {
          req.socket.destroy();
          response.destroy();
        };
        if (remaining <= 0) {
          res.flushHeaders();
          setImmediate(cut);
          return;
        }
        response.on('data', (chunk: Buffer) => {
          if (remaining <= 0) return;
          const part = chunk.subarray(0, remaining);
          remaining -= part.length;
          res.write(part);
          if (remaining <= 0) {
            response.pause();
            setImmediate(cut);
          }
        });
        response.on('end', () => res.end());
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  // Clients must not see idle connections closed under them during a test (that would be an unplanned fault).
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
};

const closeServer = (server: Server): Promise<void> =>
  new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

const listFiles = async (dir: string): Promise<string[]> => {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
};

export async function startS3Server(options: StartS3ServerOptions = {}): Promise<S3TestServer> {
  const directory = await mkdtemp(join(tmpdir(), 'sparkify-s3rver-'));
  const { child, port } = await startChild(directory, options.buckets ?? [], options.latencyMs ?? 0);
  const endpoint = `http://127.0.0.1:${port}`;
  const faultQueues = new Map<string, Fault[]>();
  const requests: ProxiedRequest[] = [];
  const proxy = options.proxy === false ? undefined : await startProxy(port, faultQueues, requests);
  const proxyEndpoint = proxy ? `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` : undefined;

  const base: S3Options = { ...S3RVER_CREDENTIALS, region: 'us-east-1', forcePathStyle: true };
  const serverOptions: S3Options = { ...base, endpoint };
  const client = createS3Client(serverOptions);

  let messages = 0;
  /** Sends a message to the child and waits for its answer. */
  const ask = <T>(message: Record<string, unknown>): Promise<T> =>
    new Promise((resolve, reject) => {
      const id = ++messages;
      const onMessage = (answer: { id?: number; error?: string }): void => {
        if (answer.id !== id) return;
        child.off('message', onMessage);
        if (answer.error) reject(new Error(`s3rver could not store objects: ${answer.error}`));
        else resolve(answer as T);
      };
      child.on('message', onMessage);
      child.send({ ...message, id });
    });
  const seed = async (bucket: string, objects: string[][]): Promise<void> => {
    await ask({ type: 'seed', bucket, objects });
  };

  const faults: Faults = {
    inject(bucket, key, fault) {
      const id = `${bucket}/${key}`;
      const queue = faultQueues.get(id) ?? [];
      queue.push(fault);
      faultQueues.set(id, queue);
    },
    pending: () => [...faultQueues.values()].reduce((sum, queue) => sum + queue.length, 0),
    requests,
    clear() {
      faultQueues.clear();
      requests.length = 0;
    },
  };

  const put = async (bucket: string, key: string, body: string | Uint8Array, opts: { contentEncoding?: string } = {}): Promise<void> => {
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: typeof body === 'string' ? Buffer.from(body) : body,
        ...(opts.contentEncoding ? { ContentEncoding: opts.contentEncoding } : {}),
      }),
    );
  };

  return {
    endpoint,
    proxyEndpoint,
    options: serverOptions,
    proxyOptions: { ...base, endpoint: proxyEndpoint ?? endpoint, maxAttempts: 1 },
    client,
    faults,
    async createBucket(bucket) {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    },
    put,
    async putAll(bucket, objects) {
      const batch = [...objects].map(([key, body]) => [key, Buffer.from(body).toString('base64')]);
      await seed(bucket, batch);
    },
    async putDir(bucket, prefix, localDir, opts = {}) {
      const files = await listFiles(localDir);
      const base = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
      const objects: string[][] = [];
      for (const file of files) {
        const key = base + relative(localDir, file).split(sep).join('/') + (opts.gzip ? '.gz' : '');
        const content = await readFile(file);
        objects.push([key, (opts.gzip ? gzipSync(content) : content).toString('base64')]);
      }
      await seed(bucket, objects);
      return objects.map(([key]) => key as string).sort(compareKeys);
    },
    async setLatency(ms) {
      await ask({ type: 'latency', ms });
    },
    async requestStats(opts = {}) {
      return (await ask<{ stats: RequestStats }>({ type: 'stats', reset: opts.reset ?? false })).stats;
    },
    async stop() {
      client.destroy();
      if (proxy) await closeServer(proxy);
      await stopChild(child);
      await rm(directory, { recursive: true, force: true });
    },
  };
}
