/**
 * PGlite's memory settings. The embedded PostgreSQL runs in this process's WebAssembly heap, which grows to
 * the most it ever held and never shrinks: every buffer PostgreSQL touches stays resident until the process
 * exits. With PGlite's defaults (shared_buffers = 128MB, touched whole at start-up) and the transform's
 * work_mem = 128MB, `etl run` at 1M events peaked at ~820 MB, against ~300 MB on a PostgreSQL server.
 */
import { PGlite, type PGliteOptions } from '@electric-sql/pglite';
import { postgresDialect, type Dialect } from '../queries.js';

/**
 * The buffer cache. The data directory's files are read through the OS page cache anyway, and the staging
 * COPY and big scans use small ring buffers whatever this is; measured at 1M events, 16MB against 128MB
 * left the run's CPU time unchanged and took ~110 MB off its RSS.
 */
export const PGLITE_SHARED_BUFFERS = '16MB';

/**
 * The transform's and checks' sort and hash memory (per sort or hash node: hash joins may take twice this).
 * A bigger sort spills to a temporary file in the data directory instead of growing the heap for good.
 */
export const PGLITE_WORK_MEM = '32MB';

/**
 * PGlite.create options: the settings at start-up (PGlite's own start parameters first; a `-c` there wins over
 * the data directory's postgresql.conf, so older directories get them too) and for initdb (which writes them
 * into a new directory's postgresql.conf).
 */
export function pgliteMemoryOptions(): Pick<PGliteOptions, 'startParams' | 'initDbStartParams'> {
  const settings = ['-c', `shared_buffers=${PGLITE_SHARED_BUFFERS}`];
  return { startParams: [...PGlite.defaultStartParams, ...settings], initDbStartParams: settings };
}

/** PostgreSQL's dialect, with the transform's memory bounded as above (the last SET LOCAL wins). */
export const pgliteDialect: Dialect = {
  ...postgresDialect,
  transformSettings: [...postgresDialect.transformSettings, `SET LOCAL work_mem = '${PGLITE_WORK_MEM}'`],
};
