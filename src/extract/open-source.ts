import type { Config } from '../config/config.js';
import { LocalSource } from './local-source.js';
import { createS3Client } from './s3-client.js';
import { S3Source } from './s3-source.js';
import type { Source } from './source.js';
import type { S3Client } from '@aws-sdk/client-s3';

/** The S3 client settings of a config: explicit keys if set, else the credential chain or anonymous access. */
export const s3OptionsOf = (config: Config) => ({
  region: config.s3.region,
  endpoint: config.s3.endpoint || undefined,
  forcePathStyle: config.s3.forcePathStyle,
  accessKeyId: config.aws.accessKeyId || undefined,
  secretAccessKey: config.aws.secretAccessKey || undefined,
  sessionToken: config.aws.sessionToken || undefined,
});

export const isS3Url = (url: string): boolean => url.startsWith('s3://');

const clients = new WeakMap<Config, S3Client>();

/** The S3 client of a config: one per config, so a run's sources and staging share connections. */
export function s3Client(config: Config): S3Client {
  let client = clients.get(config);
  if (!client) clients.set(config, (client = createS3Client(s3OptionsOf(config))));
  return client;
}

/** A source for `s3://bucket/prefix` or a local folder; `notice` hears of entries a folder's listing skips. */
export function openSource(url: string, config: Config, notice?: (message: string) => void): Source {
  return isS3Url(url) ? new S3Source(url, s3Client(config)) : new LocalSource(url, { notice });
}
