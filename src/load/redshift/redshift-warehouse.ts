import type { Config } from '../../config/config.js';
import { EtlError, describeError } from '../../errors.js';
import type { Rejection } from '../../transform/record-encoder.js';
import type { StagingArea } from '../../pipeline/staging-area.js';
import { STAGING, type CsvTable, type StagingTable } from '../../transform/schema.js';
import { parseS3Url } from '../../extract/s3-location.js';
import { PgSession } from '../postgres/pg-session.js';
import { PostgresWarehouse } from '../postgres/postgres-warehouse.js';
import type { Dialect } from '../queries.js';
import type { Session } from '../session.js';
import type { LoadPlan, PreflightCheck } from '../warehouse.js';
import {
  copyStatement,
  lastCopyCount,
  lastCopyId,
  lastLoadOf,
  loadErrorDetail,
  loadErrorViewFor,
  mergeLoadErrors,
  stlLoadErrors,
  type CopyAuth,
  type CopySource,
  type LoadErrorView,
} from './copy.js';
import { InlineParamsSession } from './inline-params.js';
import { redshiftDialect } from './redshift-dialect.js';

type Cluster = Config['cluster'];

/** How this cluster reads S3: the COPY authorization (resolved when first needed) and the buckets' regions. */
export interface RedshiftS3Access {
  readonly auth: () => Promise<CopyAuth>;
  /** Region of the source buckets (S3.REGION), for the direct JSON COPY. */
  readonly region?: string;
  /** Region of the staging bucket (S3.STAGING_REGION), when it is not the cluster's. */
  readonly stagingRegion?: string;
  /** The cluster's own region (from its endpoint): where COPY looks without REGION. */
  readonly clusterRegion?: string;
}

/** Where the S3 objects are, for one COPY. */
export interface RedshiftCopyOptions {
  /** The objects' region, when it is not the cluster's. */
  readonly region?: string;
}

/** What a direct JSON load did: rows loaded, and the lines Redshift rejected. */
export interface DirectLoad {
  readonly rows: number;
  readonly rejections: Rejection[];
}

const NO_S3_ACCESS: RedshiftS3Access = { auth: () => Promise.reject(new EtlError('No S3 access configured for Redshift COPY')) };

/**
 * Amazon Redshift, through the PostgreSQL wire protocol: queries, transactions and the run lock are
 * PostgresWarehouse's; staging differs. Redshift cannot take COPY data from the client, so staging tables are
 * loaded by COPY from S3: the staged CSV parts through their manifest (`copyFromManifest`), or the raw JSON
 * as the original project did (`copyDirect`).
 */
export class RedshiftWarehouse extends PostgresWarehouse {
  override readonly engine = 'redshift' as const;
  override readonly dialect: Dialect = redshiftDialect;
  readonly stagesFromS3 = true;

  constructor(
    session: Session,
    description: string,
    connectAgain: () => Promise<Session>,
    private readonly loadErrorView: LoadErrorView,
    private readonly s3: RedshiftS3Access = NO_S3_ACCESS,
  ) {
    // Values are written into the statements as checked literals: bind parameters over the extended query
    // protocol are not documented for Redshift (only SQL-level PREPARE ... $1), literals are.
    super(new InlineParamsSession(session), description, async () => new InlineParamsSession(await connectAgain()), 'TLS (certificate verified)');
  }

  /**
   * Connects with TLS, always, verifying the server certificate against Node's CA store (Redshift's
   * certificates are issued by Amazon's public CAs). CLUSTER.SSL=disable is refused: the password and, with
   * key authorization, the AWS keys of every COPY would cross the network in clear.
   */
  static override async open(cluster: Cluster, s3: RedshiftS3Access = NO_S3_ACCESS): Promise<RedshiftWarehouse> {
    if (cluster.ssl === 'disable') {
      throw new EtlError('CLUSTER.SSL=disable is not allowed for Redshift: its connections always use TLS (set CLUSTER.SSL to auto or require)');
    }
    const connect = () => PgSession.connect('Redshift', cluster, { rejectUnauthorized: true });
    return new RedshiftWarehouse(await connect(), `Redshift at ${cluster.host}:${cluster.port}/${cluster.database}`, connect, loadErrorViewFor(cluster.host), s3);
  }

  /** Redshift loads from S3 only: the chunks become gzipped parts in the run's S3 staging area first. */
  override async loadStream(table: CsvTable, chunks: AsyncIterable<string | Buffer>, area: () => StagingArea): Promise<number> {
    const target = area();
    const manifest = await target.write(table, chunks);
    // Nothing staged, nothing to COPY: an empty manifest would only fail the COPY.
    return manifest.entries.length === 0 ? 0 : this.copyArea(table, target);
  }

  /** COPY of a staging area's manifest (the area must be on S3); an empty manifest is not COPYed. */
  override async loadArea(table: CsvTable, area: StagingArea): Promise<number> {
    if (!area.manifestUrl(table).startsWith('s3://')) return this.copyCsv(table);
    const manifest = await area.manifest(table);
    return manifest.entries.length === 0 ? 0 : this.copyArea(table, area);
  }

  private async copyArea(table: CsvTable, area: StagingArea): Promise<number> {
    const manifestUrl = area.manifestUrl(table);
    if (!manifestUrl.startsWith('s3://')) return this.copyCsv(table);
    return this.copyFromManifest(table, manifestUrl, await this.s3.auth(), { region: this.s3.stagingRegion });
  }

  /**
   * Validates what a run's COPYs need, loading nothing: the authorization, the buckets' regions against the
   * REGION each COPY names (or the cluster's), and every COPY of the configured load mode with NOLOAD: the
   * raw JSON under the sources (json), or a probe row per staging table staged like a run's parts (csv).
   */
  async preflightLoads(plan: LoadPlan): Promise<PreflightCheck[]> {
    const checks: PreflightCheck[] = [];
    let auth: CopyAuth;
    try {
      auth = await this.s3.auth();
      checks.push({ check: 'COPY authorization', ok: true, detail: auth.kind === 'role' ? `IAM role ${auth.roleArn}` : 'AWS credentials of this machine (no IAM_ROLE.ARN)' });
    } catch (error) {
      checks.push({ check: 'COPY authorization', ok: false, detail: describeError(error) });
      return checks;
    }
    const cluster = this.s3.clusterRegion;
    const inRegion = async (setting: string, url: string, region: string | undefined, regionSetting: string) => {
      const { bucket } = parseS3Url(url);
      const actual = await plan.bucketRegion(bucket).catch(() => undefined);
      const wanted = region ?? cluster;
      const ok = actual === undefined || wanted === undefined || actual === wanted;
      const detail = ok
        ? `bucket ${bucket} (${setting}) is in ${actual ?? 'a region the store does not name'}`
        : `bucket ${bucket} (${setting}) is in ${actual}, but the COPY ${region ? `names REGION ${region}` : `looks in the cluster's region ${cluster}`}: set ${regionSetting} = ${actual}`;
      checks.push({ check: `region of ${setting}`, ok, detail });
    };
    await inRegion('S3.STAGING', plan.staging, this.s3.stagingRegion, 'S3.STAGING_REGION');
    const tables = [STAGING.songs, STAGING.events] as const;
    if (plan.loadMode === 'json') {
      await inRegion('S3.SONG_DATA', plan.sources.songs, this.s3.region, 'S3.REGION');
      await inRegion('S3.LOG_DATA', plan.sources.events, this.s3.region, 'S3.REGION');
      for (const table of tables) {
        const from = table.kind === 'songs' ? plan.sources.songs : plan.sources.events;
        const source = { from, ...(table.kind === 'events' ? { jsonPaths: plan.sources.jsonPaths } : {}) };
        const sql = copyStatement(table, { format: 'json', ...source }, { auth, region: this.s3.region, maxErrors: plan.maxErrors, noLoad: true });
        checks.push(await this.noLoad(table, from, sql));
      }
      return checks;
    }
    const probe = await plan.probe();
    try {
      for (const table of tables) {
        const manifestUrl = probe.area.manifestUrl(table);
        const sql = copyStatement(table, { format: 'csv-manifest', manifestUrl }, { auth, region: this.s3.stagingRegion, noLoad: true });
        checks.push(await this.noLoad(table, manifestUrl, sql));
      }
    } finally {
      await probe.remove();
    }
    return checks;
  }

  private async noLoad(table: CsvTable, from: string, sql: string): Promise<PreflightCheck> {
    const check = `COPY ${table.table} NOLOAD`;
    try {
      await this.runCopy(table, from, sql);
      return { check, ok: true, detail: `${from} can be read and parses` };
    } catch (error) {
      return { check, ok: false, detail: `${describeError(error)}: check that IAM_ROLE.ARN is attached to the cluster and may read ${from}` };
    }
  }

  override async copyCsv(table: CsvTable): Promise<number> {
    throw new EtlError(
      `Redshift cannot load ${table.table} from this machine: it stages from S3. Set S3.STAGING to an s3:// location, so extract writes the staging parts there and Redshift COPYs them`,
    );
  }

  /** COPY of the staged CSV parts listed in `manifestUrl` (written by `writeS3Parts`); resolves to rows loaded. */
  async copyFromManifest(table: CsvTable, manifestUrl: string, auth: CopyAuth, options: RedshiftCopyOptions = {}): Promise<number> {
    const sql = copyStatement(table, { format: 'csv-manifest', manifestUrl }, { auth, ...options });
    await this.runCopy(table, manifestUrl, sql);
    return this.lastCopyCount();
  }

  /**
   * The original project's load: COPY of the raw JSON under `source.from`, mapped by the JSONPaths file
   * (events) or by key name (songs). Lines Redshift rejects, up to `maxErrors`, come back as rejections; more
   * fail the load. source_key and source_line stay NULL: Redshift cannot tell which object a row came from.
   */
  async copyDirect(
    table: StagingTable,
    source: Omit<Extract<CopySource, { format: 'json' }>, 'format'>,
    auth: CopyAuth,
    options: RedshiftCopyOptions & { readonly maxErrors?: number } = {},
  ): Promise<DirectLoad> {
    const sql = copyStatement(table, { format: 'json', ...source }, { auth, ...options });
    await this.runCopy(table, source.from, sql);
    const rows = await this.lastCopyCount();
    return { rows, rejections: await this.loadErrorsOf(table) };
  }

  async copyJson(table: StagingTable, from: string, jsonPaths: string | undefined, maxErrors: number): Promise<DirectLoad> {
    return this.copyDirect(table, { from, ...(jsonPaths ? { jsonPaths } : {}) }, await this.s3.auth(), { region: this.s3.region, maxErrors });
  }

  /** The lines the session's last COPY into `table` rejected. */
  async loadErrorsOf(table: CsvTable): Promise<Rejection[]> {
    const load = (await this.query(lastLoadOf, [table.table])).rows[0];
    const sys = load ? (await this.query(loadErrorDetail, [Number(load.query_id)])).rows : [];
    const stl = this.loadErrorView === 'provisioned' ? (await this.query(stlLoadErrors)).rows : [];
    return mergeLoadErrors(sys, stl);
  }

  private async lastCopyId(): Promise<number> {
    const { rows } = await this.query(lastCopyId);
    return Number(rows[0]?.id ?? -1);
  }

  private async lastCopyCount(): Promise<number> {
    // COPY's command tag carries no row count on Redshift; pg_last_copy_count() does.
    const { rows } = await this.query(lastCopyCount);
    return Number(rows[0]?.n ?? 0);
  }

  /** Runs a COPY. A failure names the table, the S3 location and, when Redshift logged one, the first bad line. */
  private async runCopy(table: CsvTable, from: string, sql: string): Promise<void> {
    // A COPY that fails before loading (access, syntax) leaves pg_last_copy_id() at the previous COPY, whose
    // rejected lines must not be blamed on this one.
    const before = await this.lastCopyId();
    try {
      await this.session.query(sql);
    } catch (error) {
      // The statement is never part of the message: with key authorization it holds the secret key.
      let detail = describeError(error);
      const after = await this.lastCopyId().catch(() => before);
      const rejections = after !== before ? await this.loadErrorsOf(table).catch(() => [] as Rejection[]) : [];
      const first = rejections[0];
      if (first) {
        const more = rejections.length > 1 ? ` (and ${rejections.length - 1} more)` : '';
        detail = `${first.source} line ${first.line}: ${first.reason}${more}`;
      }
      throw new EtlError(`Loading ${table.table} from ${from} failed on ${this.description}: ${detail}`, { cause: error });
    }
  }
}
