import { EtlError } from '../errors.js';

/** A bucket and the key prefix under it, as in `s3://bucket/prefix`. */
export interface S3Location {
  readonly bucket: string;
  /** Everything after `bucket/`, possibly empty; matched as a plain string prefix (the Redshift COPY rule). */
  readonly prefix: string;
}

const SCHEME = /^s3:\/\//i;

/**
 * Why `name` is not a valid S3 bucket name, or undefined when it is. The general-purpose bucket rules:
 * 3-63 characters of lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit,
 * no two adjacent dots, not shaped like an IP address.
 */
export const bucketNameProblem = (name: string): string | undefined => {
  if (name.length < 3 || name.length > 63) return 'a bucket name has 3 to 63 characters';
  if (!/^[a-z0-9.-]+$/.test(name)) return 'a bucket name has only lowercase letters, digits, dots and hyphens';
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) return 'a bucket name starts and ends with a letter or digit';
  if (name.includes('..')) return 'a bucket name has no two adjacent dots';
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return 'a bucket name is not an IP address';
  return undefined;
};

/** Parses `s3://bucket/prefix` (`s3://bucket` and `s3://bucket/` mean the whole bucket). */
export const parseS3Url = (value: string): S3Location => {
  if (!SCHEME.test(value)) {
    throw new EtlError(`Invalid S3 location "${value}": expected s3://bucket/prefix`);
  }
  const rest = value.replace(SCHEME, '');
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const prefix = slash === -1 ? '' : rest.slice(slash + 1);
  if (bucket === '') {
    throw new EtlError(`Invalid S3 location "${value}": no bucket name after s3:// (expected s3://bucket/prefix)`);
  }
  const problem = bucketNameProblem(bucket);
  if (problem !== undefined) {
    throw new EtlError(`Invalid S3 bucket name "${bucket}" in "${value}": ${problem}`);
  }
  if (/[\r\n]/.test(prefix)) {
    throw new EtlError(`Invalid S3 location "${value}": the prefix contains a line break`);
  }
  return { bucket, prefix };
};

/** `s3://bucket/key`, for messages. */
export const formatS3Url = (bucket: string, key = ''): string => `s3://${bucket}/${key}`;
