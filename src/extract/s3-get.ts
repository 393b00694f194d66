/**
 * GetObject of a small object as one plain HTTP request: the AWS SDK's command stack costs about 1 ms of CPU
 * per request (serialization, endpoint rules, middleware, schema), more than the request itself when 15,000
 * song files of 250 bytes are read. The request goes where the SDK sent the bucket's listing and is signed by
 * the SDK's own signer (or unsigned, as the listing was), on the client's own keep-alive agents; a failure
 * looks like the SDK's (name, $metadata, $response) so that retries and messages treat it the same.
 */
import type { Agent as HttpAgent, IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { request as httpsRequest } from 'node:https';
import type { S3Client } from '@aws-sdk/client-s3';
import type { FinalizeHandlerArguments, Pluggable } from '@smithy/types';

/** What a bucket's listing request looked like once sent: a GetObject of one of its keys goes the same way. */
export interface RequestTemplate {
  readonly protocol: 'http:' | 'https:';
  readonly hostname: string;
  readonly port: number | undefined;
  readonly host: string;
  /** The listing's path without its trailing '/': '' (virtual-hosted) or '/bucket' (path-style). */
  readonly basePath: string;
  /** The SigV4 scope of the listing's signature; undefined for unsigned requests. */
  readonly signing: { readonly region: string; readonly service: string } | undefined;
}

export interface Agents {
  readonly http: HttpAgent;
  readonly https: HttpsAgent;
}

/** A body that ended (without an error) before all of its bytes arrived. */
export class TruncatedBodyError extends Error {
  override readonly name = 'TruncatedBodyError';
}

/** The body is larger than the caller reads whole: read it as a stream instead. */
export const TOO_LARGE = Symbol('too large');

const CONNECT_TIMEOUT_MS = 10_000;
const SOCKET_TIMEOUT_MS = 60_000;
/** Error bodies are short XML documents; more than this is not read. */
const ERROR_BODY_LIMIT = 64 * 1024;

interface SentRequest {
  readonly protocol?: string;
  readonly hostname?: string;
  readonly port?: number;
  readonly path?: string;
  readonly headers?: Record<string, string>;
}

/**
 * The template of a sent request, or undefined when a plain request could not repeat it: another signature
 * than SigV4 (SigV4a of multi-region access points), S3 Express session auth, an unexpected shape.
 */
export function templateOf(request: SentRequest): RequestTemplate | undefined {
  const { protocol, hostname, path, headers = {} } = request;
  if ((protocol !== 'http:' && protocol !== 'https:') || !hostname || path === undefined) return undefined;
  const header = (name: string): string | undefined => Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1];
  if (header('x-amz-s3session-token') !== undefined) return undefined;
  const authorization = header('authorization');
  let signing: RequestTemplate['signing'];
  if (authorization !== undefined) {
    const scope = /^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request,/.exec(authorization);
    if (!scope) return undefined;
    signing = { region: scope[1]!, service: scope[2]! };
  }
  const port = request.port;
  return {
    protocol,
    hostname,
    port,
    host: header('host') ?? (port !== undefined ? `${hostname}:${port}` : hostname),
    basePath: path.replace(/\/+$/, ''),
    signing,
  };
}

/** A middleware for one command that hands over the request it sent, once its response came back fine. */
export const captureSentRequest = <Input extends object, Output extends object>(onSent: (request: SentRequest) => void): Pluggable<Input, Output> => ({
  applyToStack: (stack) => {
    stack.add(
      (next) => async (args) => {
        const output = await next(args);
        onSent((args as FinalizeHandlerArguments<Input>).request as SentRequest);
        return output;
      },
      { step: 'deserialize', name: 'sparkifyCaptureSentRequest', override: true },
    );
  },
});

/** Key segments escaped as the SDK escapes an S3 key in a path (RFC 3986 unreserved characters and '/' kept). */
const escapeKey = (key: string): string =>
  key
    .split('/')
    .map((part) => encodeURIComponent(part).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');

/** An error shaped like the SDK's service exceptions, from an S3 error response. */
function serviceError(status: number, headers: IncomingMessage['headers'], body: string): Error {
  const tag = (name: string): string | undefined => new RegExp(`<${name}>([^<]*)</${name}>`).exec(body)?.[1];
  const code = tag('Code') ?? (status === 404 ? 'NotFound' : `HTTP${status}`);
  const error = new Error(tag('Message') ?? `S3 answered HTTP ${status}`) as Error & Record<string, unknown>;
  error.name = code;
  error.Code = code;
  const region = tag('Region');
  if (region !== undefined) error.Region = region;
  error.$metadata = { httpStatusCode: status, requestId: headers['x-amz-request-id'] };
  error.$response = { statusCode: status, headers };
  return error;
}

const withCode = (message: string, code: string): Error => Object.assign(new Error(message), { code });

/** GetObject of whole small objects of one bucket, as plain HTTP requests shaped by `template`. */
export class PlainGet {
  private signer: ReturnType<S3Client['config']['signer']> | undefined;

  constructor(
    private readonly client: S3Client,
    private readonly template: RequestTemplate,
    private readonly agents: Agents,
  ) {}

  /** The whole body of `key`, or TOO_LARGE (nothing read) when it has more than `limit` bytes. */
  async get(key: string, limit: number): Promise<Buffer | typeof TOO_LARGE> {
    const t = this.template;
    const path = `${t.basePath}/${escapeKey(key)}`;
    let headers: Record<string, string> = { host: t.host };
    if (t.signing) {
      const { region, service } = t.signing;
      const signer = await (this.signer ??= this.client.config.signer({ name: 'sigv4', signingName: service, signingRegion: region, properties: {} }));
      // The clock offset the SDK learnt from a skewed response, as its own signing applies it.
      const signingDate = new Date(Date.now() + (this.client.config.systemClockOffset ?? 0));
      const signed = await signer.sign(
        { method: 'GET', protocol: t.protocol, hostname: t.hostname, port: t.port, path, query: {}, headers } as never,
        { signingDate, signingRegion: region, signingService: service },
      );
      headers = (signed as { headers: Record<string, string> }).headers;
    }
    const response = await this.send(path, headers);
    const status = response.statusCode ?? 0;
    if (status !== 200) {
      const body = await readBody(response, ERROR_BODY_LIMIT).catch(() => Buffer.alloc(0));
      throw serviceError(status, response.headers, body.toString('utf8'));
    }
    const length = Number(response.headers['content-length']);
    if (Number.isFinite(length) && length > limit) {
      response.destroy();
      return TOO_LARGE;
    }
    const body = await readBody(response, limit);
    if (body.length > limit) return TOO_LARGE;
    if (Number.isFinite(length) && body.length !== length) throw new TruncatedBodyError(`the body ended after ${body.length} of ${length} bytes`);
    return body;
  }

  private send(path: string, headers: Record<string, string>): Promise<IncomingMessage> {
    const t = this.template;
    const https = t.protocol === 'https:';
    const options = { method: 'GET', hostname: t.hostname, port: t.port, path, headers, agent: https ? this.agents.https : this.agents.http };
    return new Promise((resolve, reject) => {
      const request = (https ? httpsRequest : httpRequest)(options, resolve);
      request.once('error', reject);
      request.setTimeout(SOCKET_TIMEOUT_MS, () => request.destroy(withCode(`no data from S3 for ${SOCKET_TIMEOUT_MS / 1000} s`, 'ETIMEDOUT')));
      request.once('socket', (socket) => {
        if (!socket.connecting) return;
        const timer = setTimeout(() => request.destroy(withCode(`could not connect within ${CONNECT_TIMEOUT_MS / 1000} s`, 'ETIMEDOUT')), CONNECT_TIMEOUT_MS);
        socket.once('connect', () => clearTimeout(timer));
        socket.once('close', () => clearTimeout(timer));
      });
      request.end();
    });
  }
}

/** The body's bytes, up to a little more than `limit` (then it stops reading and destroys the response). */
function readBody(response: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    response.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > limit) {
        response.destroy();
        resolve(Buffer.concat(chunks, size));
      }
    });
    response.once('end', () => resolve(Buffer.concat(chunks, size)));
    response.once('aborted', () => reject(withCode('aborted', 'ECONNRESET')));
    response.once('error', reject);
    response.once('close', () => {
      if (!response.complete) reject(withCode('aborted', 'ECONNRESET'));
    });
  });
}
