import type { Config } from '../config/config.js';
import { EtlError } from '../errors.js';
import { parseS3Url } from '../extract/s3-location.js';

/** What `etl cluster` makes, from the [DWH] section (and the S3 buckets the role must read). */
export interface ClusterSpec {
  readonly kind: 'provisioned' | 'serverless';
  /** Cluster identifier; on Serverless the namespace's and the workgroup's name. */
  readonly identifier: string;
  readonly clusterType: string;
  readonly nodeType: string;
  readonly numNodes: number;
  readonly roleName: string;
  readonly database: string;
  readonly user: string;
  readonly port: number;
  readonly baseCapacity: number;
  /** Buckets COPY reads: the sources and the staging bucket. */
  readonly buckets: readonly string[];
}

const need = (config: Config, key: string): string => {
  const value = config.dwh[key] ?? '';
  if (value === '') throw new EtlError(`Setting DWH.${key} is empty: \`etl cluster\` needs it (see dwh.cfg.example)`);
  return value;
};

export function clusterSpec(config: Config): ClusterSpec {
  const kind = (config.dwh.KIND ?? 'provisioned') as ClusterSpec['kind'];
  const identifier = need(config, 'DWH_CLUSTER_IDENTIFIER');
  // Redshift lowercases a cluster identifier itself; Serverless refuses capitals, so both get the lowercased name.
  const name = identifier.toLowerCase();
  if (!/^[a-z][a-z0-9-]{0,62}$/.test(name) || /--|-$/.test(name)) {
    throw new EtlError(`Setting DWH.DWH_CLUSTER_IDENTIFIER "${identifier}" is not a valid name: use letters, digits and single hyphens, starting with a letter`);
  }
  const user = need(config, 'DWH_DB_USER');
  if (!/^[a-z_][a-z0-9_$]{0,126}$/i.test(user)) throw new EtlError(`Setting DWH.DWH_DB_USER "${user}" is not a valid Redshift user name: use letters, digits and _`);
  const clusterType = need(config, 'DWH_CLUSTER_TYPE');
  if (clusterType !== 'multi-node' && clusterType !== 'single-node') {
    throw new EtlError(`Setting DWH.DWH_CLUSTER_TYPE must be multi-node or single-node, got "${clusterType}"`);
  }
  const numNodes = Number(need(config, 'DWH_NUM_NODES'));
  if (clusterType === 'multi-node' && numNodes < 2) throw new EtlError(`Setting DWH.DWH_NUM_NODES must be at least 2 for a multi-node cluster, got ${numNodes}: raise it or set DWH_CLUSTER_TYPE = single-node`);
  const buckets = [config.s3.logData, config.s3.songData, config.s3.logJsonPath, config.s3.staging]
    .filter((url) => url.startsWith('s3://'))
    .map((url) => parseS3Url(url).bucket);
  return {
    kind,
    identifier: name,
    clusterType,
    nodeType: need(config, 'DWH_NODE_TYPE'),
    numNodes: clusterType === 'single-node' ? 1 : numNodes,
    roleName: need(config, 'DWH_IAM_ROLE_NAME'),
    database: need(config, 'DWH_DB'),
    user,
    port: Number(need(config, 'DWH_PORT')),
    baseCapacity: Number(need(config, 'DWH_BASE_CAPACITY')),
    buckets: [...new Set(buckets)],
  };
}
