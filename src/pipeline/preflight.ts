/**
 * `etl preflight` (like `dbt debug`): checks that a warehouse can take a run, changing no data. The
 * connection and how it travels; the right to create a temp table; the tables; every transform and check
 * statement compiled on the real schema (EXPLAIN; a MERGE, which Redshift cannot EXPLAIN, is run against an
 * empty batch inside a transaction that is rolled back); and, on an engine that COPYs from S3, what its
 * COPYs need (Warehouse.preflightLoads). One line per check; any failure names what to fix.
 */
import { DeleteObjectsCommand } from '@aws-sdk/client-s3';
import type { Config } from '../config/config.js';
import { describeError, EtlError } from '../errors.js';
import { bucketRegion } from '../extract/bucket-region.js';
import { isS3Url, s3Client } from '../extract/open-source.js';
import { parseS3Url } from '../extract/s3-location.js';
import { CHECK_QUERIES } from '../load/check-queries.js';
import { openWarehouse } from '../load/connect.js';
import { inTransaction } from '../load/load-steps.js';
import { ADDED_TABLES, createTable, emptyTempTable, existingTables, explain, probeTable, transformSteps, TABLES, type TableName, type TransformStep } from '../load/queries.js';
import type { LoadPlan, PreflightCheck, Warehouse } from '../load/warehouse.js';
import { encodeBatch } from '../transform/record-encoder.js';
import { STAGING } from '../transform/schema.js';
import { S3StagingArea } from './staging-area.js';

/** Thrown inside the compile transaction to roll it back once every statement has been tried. */
class RollBack extends Error {}

/** How `etl preflight` checks one transform step without changing data. */
async function compileStep(warehouse: Warehouse, step: TransformStep): Promise<void> {
  const sql = step.sql;
  if (step.temp) {
    await warehouse.query(explain(sql));
    // The later steps read the temp table: it exists, empty, with the columns the step would give it.
    await warehouse.query(emptyTempTable(step.temp));
  } else if (/^(DROP|SET)\b/.test(sql)) {
    await warehouse.query(sql);
  } else if (/^ANALYZE\b/.test(sql)) {
    // Statistics only: nothing to compile that the table check has not seen.
  } else if (/^MERGE\b/.test(sql)) {
    // Redshift's EXPLAIN takes SELECT, CREATE TABLE AS, INSERT, UPDATE and DELETE only. Every MERGE reads a
    // batch temp table, empty here, so running it changes nothing (and the transaction is rolled back).
    await warehouse.query(sql);
  } else {
    await warehouse.query(explain(sql));
  }
}

const fixOf = (message: string): string => (/does not exist|not found/i.test(message) ? `${message}: run \`etl create-tables\`` : message);

/** Every transform step compiled, in a transaction rolled back (where the tables `missing` are made first). */
async function compileTransform(warehouse: Warehouse, missing: readonly TableName[]): Promise<PreflightCheck> {
  const steps = transformSteps(warehouse.dialect);
  let failed: PreflightCheck | undefined;
  await inTransaction(warehouse, async () => {
    for (const table of missing) await warehouse.query(createTable(warehouse.dialect, table));
    for (const step of steps) {
      try {
        await compileStep(warehouse, step);
      } catch (error) {
        failed = { check: 'transform statements', ok: false, detail: `step "${step.name}" does not compile: ${fixOf(describeError(error))}` };
        break;
      }
    }
    throw new RollBack();
  }).catch((error: unknown) => {
    if (!(error instanceof RollBack)) throw error;
  });
  return failed ?? { check: 'transform statements', ok: true, detail: `${steps.length} statements compile on the warehouse's tables` };
}

async function compileChecks(warehouse: Warehouse): Promise<PreflightCheck> {
  for (const query of CHECK_QUERIES) {
    try {
      await warehouse.query(explain(query.sql));
    } catch (error) {
      return { check: 'quality check statements', ok: false, detail: `"${query.name}" does not compile: ${fixOf(describeError(error))}` };
    }
  }
  return { check: 'quality check statements', ok: true, detail: `${CHECK_QUERIES.length} statements compile` };
}

/** One staged row per staging table under S3.STAGING/preflight-<time>/, removed after the check. */
function probeOf(config: Config): LoadPlan['probe'] {
  return async () => {
    const url = `${config.s3.staging.replace(/\/*$/, '/')}preflight-${Date.now()}/`;
    const client = s3Client(config);
    const area = new S3StagingArea(url, client, 1024 * 1024);
    for (const table of [STAGING.songs, STAGING.events]) {
      const { csv } = encodeBatch(table, 'preflight', [{ line: 1, bytes: Buffer.from(PROBE_RECORDS[table.kind]), unterminated: false }]);
      await area.write(table, (async function* () {
        yield csv;
      })());
    }
    return {
      area,
      async remove() {
        const { bucket } = parseS3Url(url);
        const keys = [STAGING.songs, STAGING.events].flatMap((t) => [area.manifestUrl(t), `${url}${t.table}/part-00000.csv.gz`]).map((u) => parseS3Url(u).prefix);
        await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })) } })).catch(() => {});
      },
    };
  };
}

/** A valid record of each kind, as the contract describes them. */
const PROBE_RECORDS = {
  songs: '{"num_songs": 1, "artist_id": "ARPREFL1187B9A0001", "artist_latitude": null, "artist_longitude": null, "artist_location": "", "artist_name": "Preflight", "song_id": "SOPREFL12A8C130001", "title": "Probe", "duration": 1.0, "year": 0}',
  events:
    '{"artist":null,"auth":"Logged In","firstName":"Pre","gender":"F","itemInSession":0,"lastName":"Flight","length":null,"level":"free","location":"Here","method":"GET","page":"Home","registration":1540919166796.0,"sessionId":1,"song":null,"status":200,"ts":1541400000000,"userAgent":"probe","userId":"1"}',
} as const;

/** Runs every check, in order; the first that makes the rest meaningless (no connection, no tables) ends them. */
export async function preflight(config: Config, open: (config: Config) => Promise<Warehouse> = openWarehouse): Promise<PreflightCheck[]> {
  const checks: PreflightCheck[] = [];
  let warehouse: Warehouse;
  try {
    warehouse = await open(config);
  } catch (error) {
    return [{ check: 'connection', ok: false, detail: describeError(error) }];
  }
  try {
    checks.push({ check: 'connection', ok: true, detail: `${warehouse.description}, ${warehouse.transport}` });
    try {
      await warehouse.query(probeTable.create);
      await warehouse.query(probeTable.drop);
      checks.push({ check: 'privileges', ok: true, detail: `CLUSTER.DB_USER ${config.cluster.user} can create a temp table` });
    } catch (error) {
      checks.push({ check: 'privileges', ok: false, detail: `CLUSTER.DB_USER ${config.cluster.user} cannot create a temp table (${describeError(error)}): grant TEMP on the database` });
    }
    const { rows } = await warehouse.query(existingTables);
    const present = new Set(rows.map((r) => String(r.table_name)));
    const missing = TABLES.filter((t) => !present.has(t));
    // A warehouse of an earlier version lacks the tables this one adds: the next command makes them.
    const added = missing.filter((t) => ADDED_TABLES.includes(t));
    if (missing.length > added.length) {
      checks.push({ check: 'tables', ok: false, detail: `missing: ${missing.join(', ')}: run \`etl create-tables\`` });
      return checks;
    }
    const detail =
      added.length === 0
        ? `all ${TABLES.length} present`
        : `${TABLES.length - added.length} present; ${added.join(', ')}, new in this version, the next run creates (it reloads every object once to fill them)`;
    checks.push({ check: 'tables', ok: true, detail });
    checks.push(await compileTransform(warehouse, added));
    checks.push(await compileChecks(warehouse));
    if (warehouse.preflightLoads) {
      if (!isS3Url(config.s3.staging)) {
        checks.push({ check: 'S3.STAGING', ok: false, detail: `${warehouse.description} loads staging from S3 only: set S3.STAGING to an s3:// prefix` });
        return checks;
      }
      const client = s3Client(config);
      checks.push(
        ...(await warehouse.preflightLoads({
          loadMode: config.etl.loadMode,
          sources: { events: config.s3.logData, songs: config.s3.songData, jsonPaths: config.s3.logJsonPath },
          maxErrors: config.etl.maxErrors,
          staging: config.s3.staging,
          probe: probeOf(config),
          bucketRegion: (bucket) => bucketRegion(client, bucket),
        })),
      );
    }
    return checks;
  } finally {
    await warehouse.close();
  }
}

/** The checks as lines: `ok    connection: ...` / `FAIL  tables: ...`. */
export const formatPreflight = (checks: readonly PreflightCheck[]): string =>
  checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'}  ${c.check}: ${c.detail}\n`).join('');

/** The error a failed preflight ends with, or undefined when every check passed. */
export function preflightFailure(checks: readonly PreflightCheck[]): EtlError | undefined {
  const failed = checks.filter((c) => !c.ok);
  return failed.length === 0 ? undefined : new EtlError(`preflight: ${failed.length} of ${checks.length} checks failed (first: ${failed[0]!.check})`);
}
