import type { Config } from '../config/config.js';
import type { EngineName } from '../config/settings.js';
import { CHECK_QUERIES } from '../load/check-queries.js';
import {
  analyzeTable,
  copyCsv,
  createTables,
  dropTables,
  ledgerEntries,
  postgresDialect,
  transformSteps,
  truncateStaging,
  tryRunLock,
  type Dialect,
} from '../load/queries.js';
import { copyAuth, copyStatement } from '../load/redshift/copy.js';
import { redshiftDialect } from '../load/redshift/redshift-dialect.js';
import { LOAD_ERRORS, STAGING, STAGING_OBJECTS, type CsvTable } from '../transform/schema.js';

/**
 * Every statement a command would send to the configured engine, for review before it runs on a paid
 * cluster (`--print-sql`). Nothing connects; secrets are never printed.
 */
const DIALECTS: Record<EngineName, Dialect> = { pglite: postgresDialect, postgres: postgresDialect, redshift: redshiftDialect };

const AWS_KEY_PLACEHOLDER = 'KEYIDPLACEHOLDER0000';
const AWS_SECRET_PLACEHOLDER = 'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX';

/** How each engine's staging load reads as SQL (the data itself travels by stream, blob or S3). */
const LOAD_STATEMENTS: Record<EngineName, (config: Config, table: CsvTable, staging: string) => string> = {
  pglite: (_config, table) => copyCsv(table, "'/dev/blob'"),
  postgres: (_config, table) => copyCsv(table, 'STDIN'),
  redshift: (config, table, staging) => {
    const auth = config.iamRoleArn !== '' ? copyAuth(config.iamRoleArn) : copyAuth('', { accessKeyId: AWS_KEY_PLACEHOLDER, secretAccessKey: AWS_SECRET_PLACEHOLDER });
    const manifestUrl = `${staging.replace(/\/*$/, '/')}<run-id>/${table.table}.manifest`;
    return copyStatement(table, { format: 'csv-manifest', manifestUrl }, { auth, region: config.s3.region })
      .replace(`'${AWS_KEY_PLACEHOLDER}'`, "'<access key id of the AWS credentials>'")
      .replace(`'${AWS_SECRET_PLACEHOLDER}'`, "'<secret access key: not printed>'");
  },
};

export function plannedStatements(config: Config, command: 'create-tables' | 'run'): string[] {
  const engine = config.warehouse.engine;
  const dialect = DIALECTS[engine];
  if (command === 'create-tables') return ['BEGIN', ...dropTables(), ...createTables(dialect), 'COMMIT'];
  const staging = config.s3.staging || 's3://s3-staging-not-set/';
  const load = (table: CsvTable) => LOAD_STATEMENTS[engine](config, table, staging);
  const notes = engine === 'redshift' && !config.s3.staging ? ['-- S3.STAGING is not set: Redshift loads staging CSV from S3, so set it; shown as s3://s3-staging-not-set/'] : [];
  return [
    ...notes,
    // Engines without a transform lock statement hold an advisory lock (or a lock file) for the whole run.
    ...(dialect.transformLock ? [] : [tryRunLock]),
    ...createTables(dialect),
    ledgerEntries.replace('$1', "'songs'"),
    ledgerEntries.replace('$1', "'events'"),
    ...[STAGING.songs, STAGING.events].flatMap((t) => [truncateStaging(t.table), load(t), analyzeTable(t.table)]),
    truncateStaging('staging_objects'),
    load(STAGING_OBJECTS),
    analyzeTable('staging_objects'),
    load(LOAD_ERRORS),
    'BEGIN',
    ...transformSteps(dialect).map((s) => s.sql),
    'COMMIT',
    ...CHECK_QUERIES.map((c) => c.sql),
  ];
}
