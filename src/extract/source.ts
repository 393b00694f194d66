import type { Readable } from 'node:stream';

/** One object (file) of a source, as listed. */
export interface SourceObject {
  /** Full key (S3) or path relative to the source root, with '/' separators (local). */
  readonly key: string;
  readonly size: number;
  /**
   * What tells a changed object, with `size`: the S3 ETag (a hash of the content), or for a local file
   * `<mtime ms>:<ctime ns>:<inode>` (see localVersion).
   */
  readonly version: string;
}

/**
 * Where raw JSON comes from: a local folder or an S3(-compatible) bucket. Both list every object whose key
 * starts with a prefix (the same rule as Redshift COPY), in lexicographic (byte) order of key.
 */
export interface Source {
  /** The location as the user wrote it, e.g. `s3://udacity-dend/song_data` or `./data/song_data`. */
  readonly url: string;
  /** Objects under the prefix ending in `.json` or `.json.gz`, sorted by key bytes. */
  list(): AsyncIterable<SourceObject>;
  /**
   * Whether listing twice costs next to nothing (a local folder), so a progress total can come from a listing
   * of its own; otherwise (S3: paid, rate-limited requests) the total is known when the one listing ends.
   */
  readonly listsCheaply: boolean;
  /** The object's raw bytes (still gzipped for `.json.gz`); transient failures are retried inside. */
  open(object: SourceObject): Promise<Readable>;
}

/** Keys a source loads: JSON, plain or gzipped. */
export const isJsonKey = (key: string): boolean => key.endsWith('.json') || key.endsWith('.json.gz');

/** Lexicographic order of keys as S3 lists them: by UTF-8 bytes, not UTF-16 code units. */
export const compareKeys = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));
