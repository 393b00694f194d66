import type { Config } from '../config/config.js';
import { EtlError } from '../errors.js';
import { s3ClientAuth } from '../extract/s3-client.js';
import { s3Client } from '../extract/open-source.js';
import { PgliteWarehouse } from './pglite/pglite-warehouse.js';
import { PostgresWarehouse } from './postgres/postgres-warehouse.js';
import { copyAuth, type CopyAuth } from './redshift/copy.js';
import { RedshiftWarehouse } from './redshift/redshift-warehouse.js';
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

/** Opens the configured warehouse. */
export async function openWarehouse(config: Config): Promise<Warehouse> {
  switch (config.warehouse.engine) {
    case 'pglite':
      return PgliteWarehouse.open(config.warehouse.pgliteDir);
    case 'postgres':
      return PostgresWarehouse.open(config.cluster);
    case 'redshift':
      return RedshiftWarehouse.open(config.cluster, { auth: () => redshiftCopyAuth(config), region: config.s3.region });
  }
}
