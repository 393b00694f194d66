import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client, type S3ClientConfig, type ServiceInputTypes, type ServiceOutputTypes } from '@aws-sdk/client-s3';
import type { FinalizeRequestMiddleware } from '@smithy/types';
import { EtlError } from '../errors.js';

export interface S3Options {
  region?: string;
  endpoint?: string;
  forcePathStyle?: boolean;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  anonymous?: boolean;
  /** Attempts per request inside the SDK, first included (default SDK_MAX_ATTEMPTS); S3Source retries on top. */
  maxAttempts?: number;
}

/** The region of the public production bucket `udacity-dend`, used when none is configured anywhere. */
export const DEFAULT_REGION = 'us-west-2';
/** Sockets per client: above any fetch concurrency the pipeline uses, so requests never queue for a socket. */
export const MAX_SOCKETS = 256;
/** Attempts per request inside the SDK (standard retry mode: throttling, 5xx, connection resets, timeouts). */
export const SDK_MAX_ATTEMPTS = 4;

/** How a client authenticates: explicit keys, the AWS credential chain, or unsigned requests. */
export type S3AuthMode = 'explicit' | 'chain' | 'anonymous';

interface ClientInfo {
  /** The custom endpoint, if any (from the options or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL). */
  readonly endpoint: string | undefined;
  readonly authMode: S3AuthMode;
  /** True once requests go out unsigned (forced, or the credential chain found nothing). */
  unsigned: boolean;
  /** The client's keep-alive agents, which plain GETs (s3-get.ts) share. */
  agents?: { readonly http: HttpAgent; readonly https: HttpsAgent };
}

const clients = new WeakMap<S3Client, ClientInfo>();

const isTrue = (value: string | undefined): boolean => value !== undefined && /^(true|1)$/i.test(value.trim());

/**
 * The endpoint a client built from `options` talks to: the explicit option, else the SDK's environment variables
 * AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL (unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS). The SDK reads those
 * variables itself at request time, but only knowing the endpoint up front lets a custom endpoint default to
 * path-style addressing and be named in error messages.
 */
export const resolveS3Endpoint = (options: S3Options, env: NodeJS.ProcessEnv = process.env): string | undefined => {
  const fromOptions = options.endpoint?.trim();
  if (fromOptions) return checkEndpoint(fromOptions, 'the S3 endpoint option');
  if (isTrue(env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS)) return undefined;
  const s3 = env.AWS_ENDPOINT_URL_S3?.trim();
  if (s3) return checkEndpoint(s3, 'AWS_ENDPOINT_URL_S3');
  const all = env.AWS_ENDPOINT_URL?.trim();
  if (all) return checkEndpoint(all, 'AWS_ENDPOINT_URL');
  return undefined;
};

const checkEndpoint = (value: string, origin: string): string => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new EtlError(`Invalid S3 endpoint "${value}" (from ${origin}): expected a URL such as http://localhost:9000`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new EtlError(`Invalid S3 endpoint "${value}" (from ${origin}): the URL must start with http:// or https://`);
  }
  return value;
};

const isCredentialsProviderError = (error: unknown): boolean =>
  error instanceof Error && (error.name === 'CredentialsProviderError' || error.constructor.name === 'CredentialsProviderError');

/** Placeholder identity for unsigned requests: the signature it yields is stripped before sending. */
const ANONYMOUS_IDENTITY = { accessKeyId: 'anonymous', secretAccessKey: 'anonymous' };

/** Headers that SigV4 signing adds; an unsigned request carries none of them. */
const SIGNING_HEADERS = ['authorization', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256'];

/**
 * A client for S3 or an S3-compatible endpoint.
 *
 * Credentials: explicit key and secret when given; otherwise the standard AWS chain (environment, shared files,
 * SSO, container and instance roles); when the chain finds none, requests go out unsigned so public buckets such
 * as `udacity-dend` work with no account. `anonymous: true` always sends unsigned requests.
 * Region: the option, else the SDK's own configuration (AWS_REGION, profile), else us-west-2.
 * A custom endpoint (option, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL) defaults to path-style addressing.
 */
export function createS3Client(options: S3Options = {}): S3Client {
  const endpoint = resolveS3Endpoint(options);
  const hasKey = options.accessKeyId !== undefined && options.accessKeyId !== '';
  const hasSecret = options.secretAccessKey !== undefined && options.secretAccessKey !== '';
  if (hasKey !== hasSecret) {
    throw new EtlError(
      `Incomplete S3 credentials: ${hasKey ? 'an access key id was given without a secret access key' : 'a secret access key was given without an access key id'}; give both or neither`,
    );
  }
  const authMode: S3AuthMode = options.anonymous ? 'anonymous' : hasKey ? 'explicit' : 'chain';
  const info: ClientInfo = { endpoint, authMode, unsigned: authMode === 'anonymous' };

  // Resolves the region and the credential chain exactly as a default-configured client would; it never sends.
  let resolver: S3Client | undefined;
  const defaults = (): S3Client => (resolver ??= new S3Client({}));

  let region: S3ClientConfig['region'] = options.region?.trim() || undefined;
  if (region === undefined) {
    let resolved: Promise<string> | undefined;
    region = () =>
      (resolved ??= defaults()
        .config.region()
        .then(
          (found) => found || DEFAULT_REGION,
          () => DEFAULT_REGION,
        ));
  }

  let credentials: S3ClientConfig['credentials'];
  if (authMode === 'explicit') {
    credentials = {
      accessKeyId: options.accessKeyId ?? '',
      secretAccessKey: options.secretAccessKey ?? '',
      ...(options.sessionToken ? { sessionToken: options.sessionToken } : {}),
    };
  } else if (authMode === 'anonymous') {
    credentials = ANONYMOUS_IDENTITY;
  } else {
    credentials = async (identityProperties) => {
      if (info.unsigned) return ANONYMOUS_IDENTITY;
      try {
        return await defaults().config.credentials(identityProperties);
      } catch (error) {
        if (!isCredentialsProviderError(error)) throw error;
        info.unsigned = true;
        return ANONYMOUS_IDENTITY;
      }
    };
  }

  const agentOptions = { keepAlive: true, maxSockets: MAX_SOCKETS, maxFreeSockets: MAX_SOCKETS };
  info.agents = { http: new HttpAgent(agentOptions), https: new HttpsAgent(agentOptions) };
  const client = new S3Client({
    region,
    credentials,
    ...(endpoint !== undefined ? { endpoint } : {}),
    forcePathStyle: options.forcePathStyle ?? endpoint !== undefined,
    maxAttempts: options.maxAttempts ?? SDK_MAX_ATTEMPTS,
    retryMode: 'standard',
    // Only what S3 requires: S3-compatible servers do not all understand the newer checksum trailers.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    requestHandler: {
      httpAgent: info.agents.http,
      httpsAgent: info.agents.https,
      connectionTimeout: 10_000,
      socketTimeout: 60_000,
    },
  });

  // Runs right after signing: an unsigned request leaves without the signature and its headers.
  const unsign: FinalizeRequestMiddleware<ServiceInputTypes, ServiceOutputTypes> = (next) => async (args) => {
    const request = args.request as { headers?: Record<string, string> } | undefined;
    if (info.unsigned && request?.headers) {
      for (const name of Object.keys(request.headers)) {
        if (SIGNING_HEADERS.includes(name.toLowerCase())) delete request.headers[name];
      }
    }
    return next(args);
  };
  client.middlewareStack.addRelativeTo(
    unsign,
    { relation: 'after', toMiddleware: 'httpSigningMiddleware', name: 'sparkifyUnsignedRequests', override: true },
  );

  clients.set(client, info);
  return client;
}

/** The keep-alive agents of a client made by createS3Client, or undefined for clients made elsewhere. */
export const s3ClientAgents = (client: S3Client): ClientInfo['agents'] => clients.get(client)?.agents;

/** The custom endpoint of a client made by createS3Client, or undefined (AWS S3 itself, or an unknown client). */
export const s3ClientEndpoint = (client: S3Client): string | undefined => clients.get(client)?.endpoint;

/**
 * How a client made by createS3Client authenticates right now: its configured mode, or 'no-credentials' once the
 * credential chain found nothing and requests go out unsigned. Undefined for clients made elsewhere.
 */
export const s3ClientAuth = (client: S3Client): S3AuthMode | 'no-credentials' | undefined => {
  const info = clients.get(client);
  if (!info) return undefined;
  return info.authMode === 'chain' && info.unsigned ? 'no-credentials' : info.authMode;
};
