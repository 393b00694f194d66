/**
 * Every setting sparkify-etl knows: the original project's dwh.cfg sections (CLUSTER, IAM_ROLE, S3, AWS, DWH)
 * plus WAREHOUSE and ETL for the new parts. Each setting has a type and a default; a key not listed here is
 * an error, so a typo cannot silently fall back to a default.
 */

export type SettingType = 'string' | 'secret' | 'integer' | 'boolean' | { enum: readonly string[] };

export interface SettingSpec {
  readonly type: SettingType;
  readonly default?: string;
  readonly help: string;
}

export const ENGINES = ['pglite', 'postgres', 'redshift'] as const;
export type EngineName = (typeof ENGINES)[number];

export const SETTINGS = {
  CLUSTER: {
    HOST: { type: 'string', default: '127.0.0.1', help: 'warehouse host (Redshift endpoint or PostgreSQL server)' },
    DB_NAME: { type: 'string', default: 'sparkify', help: 'database name' },
    DB_USER: { type: 'string', default: 'postgres', help: 'database user' },
    DB_PASSWORD: { type: 'secret', default: '', help: 'password; empty uses trust auth, .pgpass or PGPASSWORD' },
    DB_PORT: { type: 'integer', default: '5432', help: 'port (5439 for Redshift)' },
    SSL: { type: { enum: ['auto', 'require', 'disable'] }, default: 'auto', help: 'TLS: auto = required for Redshift, off for PostgreSQL' },
  },
  IAM_ROLE: {
    ARN: { type: 'string', default: '', help: 'IAM role Redshift assumes to read S3 (COPY ... IAM_ROLE)' },
  },
  S3: {
    LOG_DATA: { type: 'string', default: 'data/log_data', help: 'event logs: s3://bucket/prefix or a local folder' },
    LOG_JSONPATH: { type: 'string', default: '', help: 'JSONPaths file for Redshift COPY of the raw logs' },
    SONG_DATA: { type: 'string', default: 'data/song_data', help: 'song files: s3://bucket/prefix or a local folder' },
    STAGING: { type: 'string', default: '', help: 'where extract writes staging CSV: s3://bucket/prefix/ or a folder (default: the run folder)' },
    REGION: { type: 'string', default: 'us-west-2', help: 'AWS region of the source buckets (LOG_DATA, SONG_DATA, LOG_JSONPATH)' },
    STAGING_REGION: {
      type: 'string',
      default: '',
      help: "AWS region of the STAGING bucket for Redshift's COPY, when it is not the cluster's (empty: the cluster's region)",
    },
    ENDPOINT_URL: { type: 'string', default: '', help: 'S3-compatible endpoint, e.g. http://127.0.0.1:9000' },
    FORCE_PATH_STYLE: { type: 'boolean', default: '', help: 'path-style addressing (default: on when ENDPOINT_URL is set)' },
    CONCURRENCY: { type: 'integer', default: '64', help: 'objects fetched at once (those read ahead total at most 32 MiB)' },
  },
  AWS: {
    KEY: { type: 'secret', default: '', help: 'access key id; empty uses the AWS credential chain, or anonymous access' },
    SECRET: { type: 'secret', default: '', help: 'secret access key' },
    SESSION_TOKEN: { type: 'secret', default: '', help: 'session token for temporary credentials' },
  },
  DWH: {
    // Read by `etl cluster create|status|delete`, which make (and remove) the warehouse these describe.
    KIND: { type: { enum: ['provisioned', 'serverless'] }, default: 'provisioned', help: '`etl cluster`: a provisioned cluster, or a Serverless namespace + workgroup' },
    DWH_REGION: { type: 'string', default: '', help: '`etl cluster`: AWS region (empty: AWS_REGION or the profile, else S3.REGION)' },
    DWH_CLUSTER_TYPE: { type: 'string', default: 'multi-node', help: 'Redshift cluster type: multi-node or single-node' },
    DWH_NUM_NODES: { type: 'integer', default: '4', help: 'Redshift node count (multi-node)' },
    DWH_NODE_TYPE: { type: 'string', default: 'dc2.large', help: 'Redshift node type, e.g. dc2.large, ra3.xlplus' },
    DWH_IAM_ROLE_NAME: { type: 'string', default: '', help: 'IAM role `etl cluster create` makes for COPY from S3' },
    DWH_CLUSTER_IDENTIFIER: { type: 'string', default: '', help: 'cluster identifier (Serverless: namespace and workgroup name, lowercased)' },
    DWH_DB: { type: 'string', default: '', help: 'database `etl cluster create` makes (then written to CLUSTER.DB_NAME)' },
    DWH_DB_USER: { type: 'string', default: '', help: 'admin user `etl cluster create` makes (then written to CLUSTER.DB_USER)' },
    DWH_DB_PASSWORD: { type: 'secret', default: '', help: 'admin password for `etl cluster create`; prefer SPARKIFY_DWH_DWH_DB_PASSWORD or the prompt' },
    DWH_PORT: { type: 'integer', default: '5439', help: 'port of the cluster (then written to CLUSTER.DB_PORT)' },
    DWH_BASE_CAPACITY: { type: 'integer', default: '8', help: 'Serverless base capacity in RPUs' },
  },
  WAREHOUSE: {
    ENGINE: { type: { enum: ENGINES }, default: 'pglite', help: 'pglite (embedded), postgres or redshift' },
    PGLITE_DIR: { type: 'string', default: '.sparkify/pglite', help: 'data directory of the embedded warehouse' },
  },
  ETL: {
    WORK_DIR: { type: 'string', default: '.sparkify', help: 'run folders: reports, rejects, local staging CSV' },
    MAX_ERRORS: { type: 'integer', default: '1000', help: 'rejected records a run tolerates before it fails' },
    WORKERS: { type: 'integer', default: '0', help: 'parser threads; 0 = one per core' },
    PART_SIZE_MB: { type: 'integer', default: '64', help: 'size of a staging CSV part before compression' },
    RUN_LOCK_TTL: {
      type: 'integer',
      default: '300',
      help: "seconds a command's run lock lasts unrenewed (PostgreSQL, Redshift): after a crash, the next command waits this long at most",
    },
    KEEP_RUNS: {
      type: 'integer',
      default: '30',
      help: 'run folders kept under WORK_DIR/runs: after each run the older ones (and their local staging parts) are deleted; `etl clean` does it on demand',
    },
    LOAD_MODE: {
      type: { enum: ['csv', 'json'] },
      default: 'csv',
      help: "csv: validated staging CSV; json: Redshift COPYs the raw JSON itself (FORMAT AS JSON), the original project's load",
    },
  },
} as const satisfies Record<string, Record<string, SettingSpec>>;

export type SectionName = keyof typeof SETTINGS;

/** `SPARKIFY_<SECTION>_<KEY>`: the environment variable that overrides a setting. */
export const envName = (section: string, key: string): string => `SPARKIFY_${section}_${key}`;
