import type pg from 'pg';
import type { Config } from '../../config/config.js';
import { EtlError, describeError } from '../../errors.js';
import type { Rejection } from '../../transform/record-encoder.js';
import type { StagingArea } from '../../pipeline/staging-area.js';
import type { CsvTable, StagingTable } from '../../transform/schema.js';
import { PostgresWarehouse } from '../postgres/postgres-warehouse.js';
import type { Dialect } from '../queries.js';
import { copyStatement, loadErrorRejection, loadErrorsQuery, loadErrorViewFor, type CopyAuth, type CopySource, type LoadErrorView } from './copy.js';
import { redshiftDialect } from './redshift-dialect.js';

type Cluster = Config['cluster'];

/** How this cluster reads S3: the COPY authorization (resolved when first needed) and the buckets' region. */
export interface RedshiftS3Access {
  readonly auth: () => Promise<CopyAuth>;
  readonly region?: string;
}

/** Where the S3 objects are, for every COPY. */
export interface RedshiftCopyOptions {
  /** The buckets' region (S3.REGION), when it is not the cluster's. */
  readonly region?: string;
}

/** What a direct JSON load did: rows loaded, and the lines Redshift rejected (at most MAXERROR of them). */
export interface DirectLoad {
  readonly rows: number;
  readonly rejections: Rejection[];
}

/**
 * Amazon Redshift, through the PostgreSQL wire protocol: queries and transactions are PostgresWarehouse's;
 * staging differs. Redshift cannot take COPY data from the client, so staging tables are loaded by COPY from
 * S3: the staged CSV parts through their manifest (`copyFromManifest`), or the raw JSON as the original project
 * did (`copyDirect`).
 */
export class RedshiftWarehouse extends PostgresWarehouse {
  override readonly engine = 'redshift' as const;
  override readonly dialect: Dialect = redshiftDialect;

  protected constructor(
    client: pg.Client,
    description: string,
    private readonly loadErrorView: LoadErrorView,
    private readonly s3: RedshiftS3Access,
  ) {
    super(client, description);
  }

  /**
   * Connects with TLS, always, verifying the server certificate against Node's CA store (Redshift's
   * certificates are issued by Amazon's public CAs). CLUSTER.SSL=disable is refused: the password and, with
   * key authorization, the AWS keys of every COPY would cross the network in clear.
   */
  static override async open(cluster: Cluster, s3: RedshiftS3Access = { auth: () => Promise.reject(new EtlError('No S3 access configured for Redshift COPY')) }): Promise<RedshiftWarehouse> {
    if (cluster.ssl === 'disable') {
      throw new EtlError('CLUSTER.SSL=disable is not allowed for Redshift: its connections always use TLS (set CLUSTER.SSL to auto or require)');
    }
    const client = await PostgresWarehouse.connect('Redshift', cluster, { rejectUnauthorized: true });
    return new RedshiftWarehouse(client, `Redshift at ${cluster.host}:${cluster.port}/${cluster.database}`, loadErrorViewFor(cluster.host), s3);
  }

  /** Redshift loads from S3 only: the chunks become gzipped parts in the run's S3 staging area first. */
  override async loadStream(table: CsvTable, chunks: AsyncIterable<string | Buffer>, area: () => StagingArea): Promise<number> {
    const target = area();
    const manifest = await target.write(table, chunks);
    return manifest.entries.length === 0 ? 0 : this.loadArea(table, target);
  }

  /** COPY of a staging area's manifest; the area must be on S3. */
  override async loadArea(table: CsvTable, area: StagingArea): Promise<number> {
    const manifestUrl = area.manifestUrl(table);
    if (!manifestUrl.startsWith('s3://')) return this.copyCsv(table);
    return this.copyFromManifest(table, manifestUrl, await this.s3.auth(), { region: this.s3.region });
  }

  /** Redshift has no advisory locks: concurrent transforms queue on the dialect's transformLock instead. */
  override async lockRuns(): Promise<void> {}

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
    return { rows, rejections: await this.lastLoadErrors() };
  }

  async copyJson(table: StagingTable, from: string, jsonPaths: string | undefined, maxErrors: number): Promise<DirectLoad> {
    return this.copyDirect(table, { from, ...(jsonPaths ? { jsonPaths } : {}) }, await this.s3.auth(), { region: this.s3.region, maxErrors });
  }

  /** The lines the last COPY of this session rejected (STL_LOAD_ERRORS, or SYS_LOAD_ERROR_DETAIL on Serverless). */
  async lastLoadErrors(): Promise<Rejection[]> {
    const { rows } = await this.query(loadErrorsQuery(this.loadErrorView));
    return rows.map(loadErrorRejection);
  }

  private async lastCopyId(): Promise<number> {
    const { rows } = await this.query('SELECT pg_last_copy_id() AS id');
    return Number(rows[0]?.id ?? -1);
  }

  private async lastCopyCount(): Promise<number> {
    // COPY's command tag carries no row count on Redshift; pg_last_copy_count() does.
    const { rows } = await this.query('SELECT pg_last_copy_count() AS n');
    return Number(rows[0]?.n ?? 0);
  }

  /** Runs a COPY; a failure names the table, the S3 location and, when Redshift logged one, the first bad line. */
  private async runCopy(table: CsvTable, from: string, sql: string): Promise<void> {
    // A COPY that fails before loading (access, syntax) leaves pg_last_copy_id() at the previous COPY, whose
    // rejected lines must not be blamed on this one.
    const before = await this.lastCopyId();
    try {
      await this.client.query(sql);
    } catch (error) {
      // The statement is never part of the message: with key authorization it holds the secret key.
      let detail = describeError(error);
      const after = await this.lastCopyId().catch(() => before);
      const rejections = after !== before ? await this.lastLoadErrors().catch(() => [] as Rejection[]) : [];
      const first = rejections[0];
      if (first) {
        const more = rejections.length > 1 ? ` (and ${rejections.length - 1} more)` : '';
        detail = `${first.source} line ${first.line}: ${first.reason}${more}`;
      }
      throw new EtlError(`Loading ${table.table} from ${from} failed on ${this.description}: ${detail}`, { cause: error });
    }
  }
}
