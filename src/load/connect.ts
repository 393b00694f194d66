import type { Config } from '../config/config.js';
import { EtlError } from '../errors.js';
import { s3ClientAuth } from '../extract/s3-client.js';
import { s3Client } from '../extract/open-source.js';
import { PgliteThreadWarehouse } from './pglite/pglite-thread.js';
import { PgliteWarehouse } from './pglite/pglite-warehouse.js';
import { PostgresWarehouse } from './postgres/postgres-warehouse.js';
import { clusterRegionOf, copyAuth, loadErrorViewFor, type CopyAuth } from './redshift/copy.js';
import type { RecordingSession } from './recording-session.js';
import { RedshiftWarehouse, type RedshiftS3Access } from './redshift/redshift-warehouse.js';
import type { Warehouse } from './warehouse.js';

/**
 * How Redshift gets into S3 for COPY: the configured IAM role, else the keys the S3 client signs with
 * (AWS.KEY/SECRET or the credential chain). Anonymous access cannot authorize a COPY.
 */
async function redshiftCopyAuth(config: Config): Promise<CopyAuth> {
  if (config.iamRoleArn !== '') return copyAuth(config.iamRoleArn);
  const client = s3Client(config);
  const credentials = s3ClientAuth(client) === 'anonymous' ? undefined : await client.config.credentials().catch(() => undefined);
  if (!credentials) {
    throw new EtlError('Redshift COPY needs a way into S3: set IAM_ROLE.ARN to a role attached to the cluster, or AWS.KEY and AWS.SECRET');
  }
  return copyAuth('', credentials);
}

/** How the configured cluster reads S3: sources in S3.REGION, staging in S3.STAGING_REGION (default the cluster's). */
const redshiftS3Access = (config: Config): RedshiftS3Access => ({
  auth: () => redshiftCopyAuth(config),
  region: config.s3.region,
  ...(config.s3.stagingRegion !== '' ? { stagingRegion: config.s3.stagingRegion } : {}),
  ...(clusterRegionOf(config.cluster.host) ? { clusterRegion: clusterRegionOf(config.cluster.host) } : {}),
});

export interface OpenOptions {
  /**
   * For a command that reads the warehouse, then works on without it (`etl extract`, a dry run): the embedded
   * engine opens in a thread of its own, so that its memory is given back at `close` (pglite-thread.ts).
   */
  readonly apart?: boolean;
  /** A PGlite directory found damaged opens all the same, with a notice (`etl query`: read what is left). */
  readonly readDamaged?: boolean;
}

/** Opens the configured warehouse; `notice` hears of a lock taken over from a process that has exited. */
export async function openWarehouse(config: Config, notice?: (message: string) => void, options: OpenOptions = {}): Promise<Warehouse> {
  switch (config.warehouse.engine) {
    case 'pglite':
      return options.apart ? PgliteThreadWarehouse.open(config.warehouse.pgliteDir, notice) : PgliteWarehouse.open(config.warehouse.pgliteDir, notice, { readDamaged: options.readDamaged });
    case 'postgres':
      return PostgresWarehouse.open(config.cluster);
    case 'redshift':
      return RedshiftWarehouse.open(config.cluster, redshiftS3Access(config));
  }
}

/**
 * The configured engine on a session that records statements instead of running them (`--print-sql`): the
 * same Warehouse class a real run uses, so it sends the same statements. `auth` stands in for the COPY
 * authorization, which a plan must not resolve (no credentials are looked up).
 */
export function recordingWarehouse(config: Config, session: RecordingSession, auth: CopyAuth): Warehouse {
  const lockSession = async () => session.sibling('run lock');
  const where = `${config.cluster.host}:${config.cluster.port}/${config.cluster.database}`;
  switch (config.warehouse.engine) {
    case 'pglite':
      return new PgliteWarehouse(session, `PGlite at ${config.warehouse.pgliteDir}`);
    case 'postgres':
      return new PostgresWarehouse(session, `PostgreSQL at ${where}`, lockSession);
    case 'redshift':
      return new RedshiftWarehouse(session, `Redshift at ${where}`, lockSession, loadErrorViewFor(config.cluster.host), {
        ...redshiftS3Access(config),
        auth: async () => auth,
      });
  }
}
