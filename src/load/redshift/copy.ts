/**
 * Every Redshift-only statement: COPY from S3 (the staged CSV parts through their manifest, or the raw JSON
 * as the original project loaded it) and the query that reads back a COPY's rejected lines.
 *
 * Every value that comes from configuration is checked for its shape first and then written as a string
 * literal, so a quote in a bucket prefix or a role name can never end the literal early.
 */
import { EtlError } from '../../errors.js';
import { parseS3Url, type S3Location } from '../../extract/s3-location.js';
import type { Rejection } from '../../transform/record-encoder.js';
import type { CsvTable, StagingTable } from '../../transform/schema.js';

// ---------------------------------------------------------------------------------------------------------
// Literals and checked values

/**
 * `value` as a Redshift string literal. Redshift reads backslash escapes in ordinary literals (its
 * QUOTE_LITERAL doubles both quotes and backslashes), so both are doubled: the literal always denotes
 * exactly `value`, and `\'` can never close it.
 */
export const sqlString = (value: string): string => `'${value.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;

// Control characters have no place in a URL, ARN or key, and would make messages span lines.
// eslint-disable-next-line no-control-regex -- matching them is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A value for messages: quoted, control characters escaped, so a message stays one line. */
const shown = (value: string): string => JSON.stringify(value);

/** An s3:// URL as COPY takes it: a valid bucket name, no control characters. `what` names the setting. */
export function checkS3Url(value: string, what: string): S3Location {
  if (CONTROL.test(value)) throw new EtlError(`${what} ${shown(value)} contains a control character: expected s3://bucket/prefix`);
  try {
    return parseS3Url(value);
  } catch (error) {
    if (error instanceof EtlError) throw new EtlError(`${what}: ${error.message}`);
    throw error;
  }
}

/** An S3 object (not a prefix): a manifest or a JSONPaths file. */
function checkS3Object(value: string, what: string): S3Location {
  const location = checkS3Url(value, what);
  if (location.prefix === '' || location.prefix.endsWith('/')) {
    throw new EtlError(`${what} ${shown(value)} names a folder: expected the URL of one object, s3://bucket/key`);
  }
  return location;
}

// Partitions aws, aws-cn, aws-us-gov; role names and paths allow letters, digits and + = , . @ _ - /.
const ROLE_ARN = /^arn:aws(-cn|-us-gov)?:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const REGION = /^[a-z]{2}(-gov)?-[a-z]+-\d{1,2}$/;

/** The region in a Redshift endpoint: <cluster>.<id>.<region>.redshift.amazonaws.com, or ...redshift-serverless... */
export const clusterRegionOf = (host: string): string | undefined =>
  /\.([a-z]{2}(?:-gov)?-[a-z]+-\d{1,2})\.redshift(?:-serverless)?\.amazonaws\.com\.?$/i.exec(host)?.[1]?.toLowerCase();
const ACCESS_KEY_ID = /^[A-Z0-9]{16,128}$/;
const BASE64 = /^[A-Za-z0-9/+=]+$/;

export function checkRoleArn(value: string): string {
  if (!ROLE_ARN.test(value)) {
    throw new EtlError(`IAM_ROLE.ARN ${shown(value)} is not an IAM role ARN: expected arn:aws:iam::<12-digit account id>:role/<role name>`);
  }
  return value;
}

export function checkRegion(value: string, setting = 'S3.REGION'): string {
  if (!REGION.test(value)) throw new EtlError(`${setting} ${shown(value)} is not an AWS region name such as us-west-2`);
  return value;
}

// ---------------------------------------------------------------------------------------------------------
// Authorization

/** How Redshift authenticates to S3 during a COPY. */
export type CopyAuth =
  /** A role attached to the cluster (IAM_ROLE.ARN): no secret travels in the statement. */
  | { readonly kind: 'role'; readonly roleArn: string }
  /** Keys of the caller, e.g. the session credentials the S3 client resolved from the AWS credential chain. */
  | { readonly kind: 'keys'; readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/**
 * The COPY authorization: the IAM role when one is configured, else the credentials given. Checks every
 * value's shape; messages never repeat a secret.
 */
export function copyAuth(roleArn: string, credentials?: AwsCredentials): CopyAuth {
  if (roleArn !== '') return { kind: 'role', roleArn: checkRoleArn(roleArn) };
  if (!credentials || credentials.accessKeyId === '' || credentials.secretAccessKey === '') {
    throw new EtlError('Redshift COPY needs a way into S3: set IAM_ROLE.ARN to a role attached to the cluster, or give AWS credentials (AWS.KEY and AWS.SECRET, or the AWS credential chain)');
  }
  if (!ACCESS_KEY_ID.test(credentials.accessKeyId)) {
    throw new EtlError('The AWS access key id (AWS.KEY or the credential chain) is malformed: expected 16 or more capital letters and digits');
  }
  if (!BASE64.test(credentials.secretAccessKey)) {
    throw new EtlError("The AWS secret access key (AWS.SECRET or the credential chain) is malformed: expected letters, digits, '/', '+' and '='");
  }
  const token = credentials.sessionToken ?? '';
  if (token !== '' && !BASE64.test(token)) {
    throw new EtlError("The AWS session token (AWS.SESSION_TOKEN or the credential chain) is malformed: expected letters, digits, '/', '+' and '='");
  }
  return {
    kind: 'keys',
    accessKeyId: credentials.accessKeyId,
    secretAccessKey: credentials.secretAccessKey,
    ...(token !== '' ? { sessionToken: token } : {}),
  };
}

const authClause = (auth: CopyAuth): string => {
  // Checked again here: a CopyAuth may also be built by hand.
  if (auth.kind === 'role') return `IAM_ROLE ${sqlString(checkRoleArn(auth.roleArn))}`;
  const checked = copyAuth('', auth) as Extract<CopyAuth, { kind: 'keys' }>;
  const token = checked.sessionToken !== undefined ? ` SESSION_TOKEN ${sqlString(checked.sessionToken)}` : '';
  return `ACCESS_KEY_ID ${sqlString(checked.accessKeyId)} SECRET_ACCESS_KEY ${sqlString(checked.secretAccessKey)}${token}`;
};

// ---------------------------------------------------------------------------------------------------------
// COPY

/**
 * The null marker of the staged CSV on Redshift. Redshift's CSV reader cannot keep NULL and '' apart the
 * way PostgreSQL's does: an empty VARCHAR field loads as '' whether quoted or not, and EMPTYASNULL turns
 * both `,,` and `,"",` into NULL. So NULL is written as an unquoted `\N` (numbers too: NULL AS applies to
 * every column type) and '' as `""`; PostgreSQL reads the same bytes alike with `NULL '\N'`. A string value
 * `\N` is quoted by the encoder (it contains a backslash).
 */
export const CSV_NULL_MARKER = '\\N';

/** Redshift's ceiling for MAXERROR. */
export const REDSHIFT_MAX_ERRORS = 100_000;
/** The most rejected lines one COPY can tolerate: it fails at MAXERROR errors, so at most the ceiling less one. */
export const REDSHIFT_TOLERABLE_ERRORS = REDSHIFT_MAX_ERRORS - 1;

/** Where a COPY reads from. */
export type CopySource =
  /** The staged CSV parts (gzip) listed in a manifest written by `writeS3Parts`. */
  | { readonly format: 'csv-manifest'; readonly manifestUrl: string }
  /**
   * The raw JSON under a prefix, the original project's direct load: mapped by a JSONPaths file (events), or
   * by key name with `JSON 'auto'` when `jsonPaths` is absent (songs, whose keys are the column names).
   */
  | { readonly format: 'json'; readonly from: string; readonly jsonPaths?: string };

export interface CopyOptions {
  readonly auth: CopyAuth;
  /** The buckets' region, when it is not the cluster's (the public udacity-dend bucket is in us-west-2). */
  readonly region?: string;
  /**
   * JSON loads only: rejected lines the COPY tolerates (ETL.MAX_ERRORS, at most 99,999); the rejected lines
   * are read back with `loadErrorsQuery`. Staged CSV is already validated: any error fails it.
   */
  readonly maxErrors?: number;
  /** NOLOAD: check the files parse and can be read, load nothing (`etl preflight`). */
  readonly noLoad?: boolean;
}

/**
 * The COPY of one staging table from S3.
 *
 * Both forms name the contract columns; the CSV form adds the lineage columns source_key and source_line,
 * which the raw JSON cannot fill (they stay NULL in a direct load). Options and why:
 * - MANIFEST: exactly this run's parts, never a stale part left under the same prefix.
 * - CSV GZIP NULL AS '\N': see CSV_NULL_MARKER. No EMPTYASNULL or BLANKSASNULL (they erase ''), no
 *   TRUNCATECOLUMNS or ACCEPTINVCHARS (too-long or invalid text is a rejection, never silently altered),
 *   no TIMEFORMAT (no timestamp column is staged: ts stays epoch milliseconds).
 * - COMPUPDATE OFF: staging tables are emptied and refilled on every load; an automatic compression analysis
 *   of each first load into the empty table costs more than it saves. Statistics are still refreshed
 *   (STATUPDATE defaults to on for a load into an empty table), which the transform's join plans need.
 */
export function copyStatement(table: CsvTable | StagingTable, source: CopySource, options: CopyOptions): string {
  const lines: string[] = [];
  let format: string;
  if (source.format === 'csv-manifest') {
    checkS3Object(source.manifestUrl, `The staging manifest of ${table.table}`);
    lines.push(`COPY ${table.table} (${table.columns.join(', ')})`, `FROM ${sqlString(source.manifestUrl)}`);
    format = `MANIFEST CSV GZIP NULL AS ${sqlString(CSV_NULL_MARKER)}`;
  } else {
    if (!('fields' in table)) throw new Error(`direct JSON COPY loads staging tables only, not ${table.table}`);
    const contractColumns = table.fields.map((f) => f.column);
    const what = table.kind === 'events' ? 'S3.LOG_DATA' : 'S3.SONG_DATA';
    const from = checkS3Url(source.from, what);
    lines.push(`COPY ${table.table} (${contractColumns.join(', ')})`, `FROM ${sqlString(source.from)}`);
    if (source.jsonPaths !== undefined) {
      const paths = checkS3Object(source.jsonPaths, 'S3.LOG_JSONPATH');
      // COPY reads every object under the FROM prefix: a JSONPaths file inside it would be loaded as data.
      if (paths.bucket === from.bucket && paths.prefix.startsWith(from.prefix)) {
        throw new EtlError(`S3.LOG_JSONPATH ${shown(source.jsonPaths)} lies under ${what} ${shown(source.from)}: COPY would load it as data; move it out of that prefix`);
      }
      format = `FORMAT AS JSON ${sqlString(source.jsonPaths)}`;
    } else {
      format = `FORMAT AS JSON 'auto'`;
    }
  }
  lines.push(authClause(options.auth));
  // REGION names where the objects are (the manifest and its parts for a manifest COPY): the source buckets'
  // region for raw JSON, the staging bucket's (S3.STAGING_REGION) for staged parts; absent, the cluster's.
  const regionSetting = source.format === 'csv-manifest' ? 'S3.STAGING_REGION' : 'S3.REGION';
  if (options.region !== undefined && options.region !== '') lines.push(`REGION ${sqlString(checkRegion(options.region, regionSetting))}`);
  lines.push(format);
  if (source.format === 'json' && options.maxErrors !== undefined) {
    if (!Number.isInteger(options.maxErrors) || options.maxErrors < 0) {
      throw new EtlError(`ETL.MAX_ERRORS must be a whole number of at least 0, got ${options.maxErrors}`);
    }
    if (options.maxErrors > REDSHIFT_TOLERABLE_ERRORS) {
      throw new EtlError(
        `ETL.MAX_ERRORS = ${options.maxErrors} is more than a Redshift COPY can tolerate with ETL.LOAD_MODE = json (at most ${REDSHIFT_TOLERABLE_ERRORS.toLocaleString('en-US')}): lower it, or use LOAD_MODE = csv`,
      );
    }
    // "COPY fails if the load returns MAXERROR errors or more": tolerating n rejected lines takes n + 1.
    lines.push(`MAXERROR ${options.maxErrors + 1}`);
  }
  // "NOLOAD - Checks the validity of the data file without actually loading the data."
  if (options.noLoad) lines.push('NOLOAD');
  lines.push('COMPUPDATE OFF');
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------------
// Rejected lines

/**
 * Which views a cluster has: `provisioned` clusters have STL_LOAD_ERRORS (with the raw line, main cluster
 * only), `serverless` workgroups the SYS views alone ("STL_LOAD_ERRORS ... doesn't contain queries run on
 * concurrency scaling clusters or on serverless namespaces").
 */
export type LoadErrorView = 'provisioned' | 'serverless';

/** The kind of a cluster at `host`: Serverless endpoints end in .redshift-serverless.amazonaws.com. */
export const loadErrorViewFor = (host: string): LoadErrorView => (/\.redshift-serverless\.amazonaws\.com\.?$/i.test(host) ? 'serverless' : 'provisioned');

/**
 * The rejected lines of a COPY come from the SYS views, which cover every COPY (main cluster, concurrency
 * scaling, Serverless). Their query_id is not PG_LAST_COPY_ID()'s (the docs: SYS query identifiers "are
 * different from those recorded in the provisioned-only views"), so the COPY is found by what SYS_LOAD_HISTORY
 * documents: the session's process (session_id, the PG_BACKEND_PID() of this connection) and its table.
 * $1: the table name. Rows {query_id}: the session's latest COPY into that table.
 */
export const lastLoadOf = `SELECT query_id FROM sys_load_history
WHERE session_id = PG_BACKEND_PID() AND TRIM(table_name) = $1
ORDER BY start_time DESC
LIMIT 1`;

/** $1: a query_id of SYS_LOAD_HISTORY. Rows {source, line, column_name, reason}, in file and line order. */
export const loadErrorDetail = `SELECT TRIM(file_name) AS source, line_number AS line, TRIM(column_name) AS column_name, TRIM(error_message) AS reason
FROM sys_load_error_detail
WHERE query_id = $1
ORDER BY file_name, line_number`;

/**
 * Provisioned clusters: the raw text of the last COPY's rejected lines ("you can use PG_LAST_COPY_ID when you
 * query STL_LOAD_ERRORS"), at most 1,024 bytes each; SYS_LOAD_ERROR_DETAIL keeps none. Rows {source, line,
 * column_name, reason, raw_line}; the fixed-width CHAR columns trimmed.
 */
export const stlLoadErrors = `SELECT TRIM(filename) AS source, line_number AS line, TRIM(colname) AS column_name, TRIM(err_reason) AS reason, RTRIM(raw_line) AS raw_line
FROM stl_load_errors
WHERE query = PG_LAST_COPY_ID()
ORDER BY filename, line_number`;

/** The query id of the session's last COPY (or -1), and the rows it loaded. */
export const lastCopyId = 'SELECT pg_last_copy_id() AS id';
export const lastCopyCount = 'SELECT pg_last_copy_count() AS n';

/**
 * The rejections of one COPY: SYS rows (every COPY), with the raw line from the STL rows where there are some
 * for the same file and line; STL rows alone when SYS has none (e.g. SYS_LOAD_HISTORY not yet showing it).
 */
export function mergeLoadErrors(sys: readonly Record<string, unknown>[], stl: readonly Record<string, unknown>[]): Rejection[] {
  const raw = new Map(stl.map((row) => [`${String(row.source).trim()}\u0000${Number(row.line)}`, row.raw_line]));
  const rows = sys.length > 0 ? sys.map((row) => ({ ...row, raw_line: raw.get(`${String(row.source).trim()}\u0000${Number(row.line)}`) ?? null })) : stl;
  return rows.map(loadErrorRejection);
}

/** One row of the load-error queries as a rejection, reported like those of extract: `<column>: <reason>`. */
export function loadErrorRejection(row: Record<string, unknown>): Rejection {
  const text = (value: unknown): string => (value === null || value === undefined ? '' : String(value).trim());
  const column = text(row.column_name);
  const reason = text(row.reason);
  return {
    source: text(row.source),
    line: Number(row.line ?? 0),
    reason: column !== '' ? `${column}: ${reason}` : reason,
    raw: row.raw_line === null || row.raw_line === undefined ? '' : String(row.raw_line),
  };
}
