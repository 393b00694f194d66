/**
 * `--print-sql`: every statement a command would send to the configured engine, in order, with its
 * transaction boundaries, for review before it runs on a paid cluster. The command really runs, on the
 * engine's own Warehouse class, over a session that records instead of executing: what is printed is what a
 * run sends. Nothing connects, no source is read, nothing is staged; secrets are never printed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import { recordingWarehouse } from '../load/connect.js';
import { runLock } from '../load/queries.js';
import { copyAuth, lastCopyId } from '../load/redshift/copy.js';
import { isStatement, RecordingSession, type RecordedStatement, type Responder } from '../load/recording-session.js';
import { createProgress } from './progress.js';
import { recreateTables, run } from './run.js';

// Stand-ins for AWS keys when no IAM role is set: shaped like keys (the COPY builder checks shapes), replaced
// by words before printing.
const KEY_PLACEHOLDER = 'KEYIDPLACEHOLDER0000';
const SECRET_PLACEHOLDER = 'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX';

/** What the recording session answers: the run lock is ours, the warehouse is empty, COPYs succeed. */
const respond: Responder = (sql) => {
  if (isStatement(sql, runLock.held)) return { rows: [{ n: 1 }] };
  if (sql === lastCopyId) return { rows: [{ id: 1 }] };
  return undefined;
};

const silent = createProgress(process.stderr, true);

/** Shown for S3.STAGING when it is not set on Redshift (a real run then stops and asks for it). */
const STAGING_NOT_SET = 's3://s3-staging-not-set/';



export interface Plan {
  readonly statements: RecordedStatement[];
  /** The planned run's id, which appears in its staging URLs. */
  readonly runId?: string;
}

/** Records the statements of `etl create-tables` or `etl run` (in the configured load mode). */
export async function plannedStatements(config: Config, command: 'create-tables' | 'run'): Promise<Plan> {
  const log: RecordedStatement[] = [];
  const session = new RecordingSession(log, respond);
  const auth = config.iamRoleArn !== '' ? copyAuth(config.iamRoleArn) : copyAuth('', { accessKeyId: KEY_PLACEHOLDER, secretAccessKey: SECRET_PLACEHOLDER });
  const openWarehouse = async (c: Config) => recordingWarehouse(c, session, auth);
  // The run folder of a planned run is thrown away.
  const workDir = await mkdtemp(join(tmpdir(), 'sparkify-plan-'));
  const staging = config.warehouse.engine === 'redshift' && config.s3.staging === '' ? STAGING_NOT_SET : config.s3.staging;
  const planned: Config = { ...config, s3: { ...config.s3, staging }, etl: { ...config.etl, workDir } };
  try {
    if (command === 'create-tables') {
      await recreateTables(planned, { progress: silent, openWarehouse });
      return { statements: log };
    }
    // The batch shown has rows in every staging table and rejected records, but no object gone from the source
    // (staging_pruned: only --prune and --full-refresh stage those); in JSON mode Redshift reads the sources
    // itself, so there is no object list to stage.
    const fills = (table: string) => table !== 'staging_pruned' && (table !== 'staging_objects' || config.etl.loadMode === 'csv');
    const report = await run({ config: planned, progress: silent, openWarehouse, plan: { fills }, checks: true });
    return { statements: log, runId: report.runId };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

const literal = (value: unknown): string =>
  value === null || value === undefined ? 'NULL' : typeof value === 'number' ? String(value) : `'${String(value).replaceAll("'", "''")}'`;

/** The statements as a SQL script: each ends in `;`, parameters and the run lock's own connection noted. */
export function formatPlan({ statements, runId }: Plan, config: Config): string {
  const redshift = config.warehouse.engine === 'redshift';
  const notes = [
    ...(redshift && config.iamRoleArn === '' ? ['-- IAM_ROLE.ARN is not set: COPY authorizes with the AWS credentials the S3 client resolves (not printed)\n'] : []),
    ...(redshift && config.s3.staging === '' ? [`-- S3.STAGING is not set: a run stops and asks for it; shown as ${STAGING_NOT_SET}\n`] : []),
  ];
  const lines = statements.map((s) => {
    const where = s.session === 'main' ? '' : `-- on the ${s.session} connection\n`;
    const params = s.params.length ? `-- ${s.params.map((p, i) => `$${i + 1} = ${literal(p)}`).join(', ')}\n` : '';
    return `${where}${params}${s.sql};\n`;
  });
  const text = [...notes, ...lines].join('\n');
  return (runId ? text.replaceAll(runId, '<run-id>') : text)
    .replaceAll(`'${KEY_PLACEHOLDER}'`, "'<access key id of the AWS credentials>'")
    .replaceAll(`'${SECRET_PLACEHOLDER}'`, "'<secret access key: not printed>'");
}
