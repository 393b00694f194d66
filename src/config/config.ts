import { existsSync, readFileSync } from 'node:fs';
import { parse } from 'ini';
import { EtlError } from '../errors.js';
import { ENGINES, envName, SETTINGS, type EngineName, type SectionName, type SettingSpec } from './settings.js';

/** Raw values by section and key, after file, environment and defaults are merged. */
type Values = Record<string, Record<string, string>>;

/** One setting as read: its text, and where it came from (the config file's path, its SPARKIFY_* variable, or `default`). */
export interface SettingValue {
  readonly value: string;
  readonly source: string;
}

/** Every setting by section and key, as written in dwh.cfg. */
export type Settings = Readonly<Record<SectionName, Readonly<Record<string, SettingValue>>>>;

export interface Config {
  /** The config file read, if any. */
  readonly file: string | undefined;
  /** Every setting's text and origin as loaded, for `etl config` (a config derived by spreading keeps the loaded ones). */
  readonly settings: Settings;
  readonly cluster: { host: string; database: string; user: string; password: string; port: number; ssl: 'auto' | 'require' | 'disable' };
  readonly iamRoleArn: string;
  readonly s3: {
    logData: string;
    logJsonPath: string;
    songData: string;
    staging: string;
    region: string;
    stagingRegion: string;
    endpoint: string;
    forcePathStyle: boolean | undefined;
    concurrency: number;
  };
  readonly aws: { accessKeyId: string; secretAccessKey: string; sessionToken: string };
  readonly dwh: Readonly<Record<string, string>>;
  readonly warehouse: { engine: EngineName; pgliteDir: string };
  readonly etl: { workDir: string; maxErrors: number; workers: number; partSizeMb: number; loadMode: 'csv' | 'json'; runLockTtlSeconds: number; keepRuns: number };
}

export const DEFAULT_CONFIG_FILE = 'dwh.cfg';

const sectionNames = Object.keys(SETTINGS) as SectionName[];
const specOf = (section: string, key: string): SettingSpec | undefined =>
  (SETTINGS as Record<string, Record<string, SettingSpec>>)[section]?.[key];

function readFile(file: string): Values {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new EtlError(`Cannot read config file ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  const parsed = parse(text) as Record<string, unknown>;
  const values: Values = {};
  for (const [section, body] of Object.entries(parsed)) {
    if (!sectionNames.includes(section as SectionName)) {
      throw new EtlError(`${file}: unknown section [${section}] (known: ${sectionNames.join(', ')})`);
    }
    if (typeof body !== 'object' || body === null) {
      throw new EtlError(`${file}: ${section} must be a section header [${section}], not a key`);
    }
    values[section] = {};
    for (const [key, value] of Object.entries(body)) {
      if (!specOf(section, key)) {
        const known = Object.keys(SETTINGS[section as SectionName]).join(', ');
        throw new EtlError(`${file}: unknown setting ${section}.${key} (known in [${section}]: ${known})`);
      }
      values[section]![key] = typeof value === 'string' ? value.trim() : String(value);
    }
  }
  return values;
}

function readEnv(env: NodeJS.ProcessEnv): Values {
  const values: Values = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('SPARKIFY_') || value === undefined) continue;
    const match = sectionNames
      .map((section) => ({ section, prefix: `SPARKIFY_${section}_` }))
      .find(({ prefix }) => name.startsWith(prefix));
    const key = match ? name.slice(match.prefix.length) : '';
    if (!match || !specOf(match.section, key)) {
      throw new EtlError(`Unknown environment variable ${name}: expected SPARKIFY_<SECTION>_<KEY> for a known setting`);
    }
    (values[match.section] ??= {})[key] = value.trim();
  }
  return values;
}

function checked(section: string, key: string, raw: string, origin: string): string {
  const spec = specOf(section, key)!;
  const where = `${section}.${key} (${origin})`;
  if (spec.type === 'integer' && raw !== '' && !/^-?\d+$/.test(raw)) {
    throw new EtlError(`Setting ${where} must be an integer, got "${raw}"`);
  }
  if (spec.type === 'boolean' && raw !== '' && !/^(true|false|yes|no|on|off|1|0)$/i.test(raw)) {
    throw new EtlError(`Setting ${where} must be true or false, got "${raw}"`);
  }
  if (typeof spec.type === 'object' && !spec.type.enum.includes(raw)) {
    throw new EtlError(`Setting ${where} must be one of ${spec.type.enum.join(', ')}, got "${raw}"`);
  }
  return raw;
}

/**
 * Reads settings: defaults, then the config file (if any), then `SPARKIFY_<SECTION>_<KEY>` variables.
 * `file` undefined means dwh.cfg in the working directory when it exists, else defaults only.
 */
export function loadConfig(file?: string, env: NodeJS.ProcessEnv = process.env): Config {
  const path = file ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);
  const fromFile = path ? readFile(path) : {};
  const fromEnv = readEnv(env);
  const origin = (section: string, key: string) =>
    fromEnv[section]?.[key] !== undefined ? envName(section, key) : fromFile[section]?.[key] !== undefined ? path! : 'default';

  const value = (section: SectionName, key: string): string => {
    const spec = specOf(section, key)!;
    const raw = fromEnv[section]?.[key] ?? fromFile[section]?.[key] ?? spec.default ?? '';
    return checked(section, key, raw, origin(section, key));
  };
  const integer = (section: SectionName, key: string, min: number): number => {
    const n = Number(value(section, key));
    if (n < min) throw new EtlError(`Setting ${section}.${key} (${origin(section, key)}) must be at least ${min}, got ${n}`);
    return n;
  };
  const bool = (section: SectionName, key: string): boolean | undefined => {
    const raw = value(section, key);
    return raw === '' ? undefined : /^(true|yes|on|1)$/i.test(raw);
  };
  const required = (section: SectionName, key: string): string => {
    const raw = value(section, key);
    if (raw === '') throw new EtlError(`Setting ${section}.${key} is empty: set it in ${path ?? DEFAULT_CONFIG_FILE} or ${envName(section, key)}`);
    return raw;
  };

  const engine = value('WAREHOUSE', 'ENGINE') as EngineName;
  const dwh: Record<string, string> = {};
  for (const key of Object.keys(SETTINGS.DWH)) dwh[key] = value('DWH', key);
  const settings = Object.fromEntries(
    sectionNames.map((section) => [
      section,
      Object.fromEntries(Object.keys(SETTINGS[section]).map((key) => [key, { value: value(section, key), source: origin(section, key) }])),
    ]),
  ) as Settings;

  return {
    file: path,
    settings,
    cluster: {
      host: required('CLUSTER', 'HOST'),
      database: required('CLUSTER', 'DB_NAME'),
      user: required('CLUSTER', 'DB_USER'),
      password: value('CLUSTER', 'DB_PASSWORD'),
      port: integer('CLUSTER', 'DB_PORT', 1),
      ssl: value('CLUSTER', 'SSL') as 'auto' | 'require' | 'disable',
    },
    iamRoleArn: value('IAM_ROLE', 'ARN'),
    s3: {
      logData: required('S3', 'LOG_DATA'),
      logJsonPath: value('S3', 'LOG_JSONPATH'),
      songData: required('S3', 'SONG_DATA'),
      staging: value('S3', 'STAGING'),
      region: required('S3', 'REGION'),
      stagingRegion: value('S3', 'STAGING_REGION'),
      endpoint: value('S3', 'ENDPOINT_URL'),
      forcePathStyle: bool('S3', 'FORCE_PATH_STYLE'),
      concurrency: integer('S3', 'CONCURRENCY', 1),
    },
    aws: { accessKeyId: value('AWS', 'KEY'), secretAccessKey: value('AWS', 'SECRET'), sessionToken: value('AWS', 'SESSION_TOKEN') },
    dwh,
    warehouse: { engine: ENGINES.includes(engine) ? engine : 'pglite', pgliteDir: required('WAREHOUSE', 'PGLITE_DIR') },
    etl: {
      workDir: required('ETL', 'WORK_DIR'),
      maxErrors: integer('ETL', 'MAX_ERRORS', 0),
      workers: integer('ETL', 'WORKERS', 0),
      partSizeMb: integer('ETL', 'PART_SIZE_MB', 1),
      loadMode: value('ETL', 'LOAD_MODE') as 'csv' | 'json',
      runLockTtlSeconds: integer('ETL', 'RUN_LOCK_TTL', 5),
      keepRuns: integer('ETL', 'KEEP_RUNS', 1),
    },
  };
}

export const MASK = '********';

/**
 * The settings as a reader may see them, keyed as in dwh.cfg, each with its source: secrets that are set are
 * masked, so the output can go into logs (an empty secret stays empty: whether one is set is worth seeing).
 */
export function describeConfig(config: Config): Settings {
  return Object.fromEntries(
    sectionNames.map((section) => [
      section,
      Object.fromEntries(
        Object.entries(config.settings[section]).map(([key, { value, source }]) => [
          key,
          { value: specOf(section, key)?.type === 'secret' && value !== '' ? MASK : value, source },
        ]),
      ),
    ]),
  ) as Settings;
}

/**
 * `describeConfig` as INI lines: `[SECTION]` headers and `KEY = value  (source)`. A value holding `;` or `#` is
 * quoted, as dwh.cfg would need it, so every line still reads as INI.
 */
export function formatConfig(settings: Settings): string {
  const quoted = (value: string) => (/[;#]/.test(value) ? JSON.stringify(value) : value);
  const lines = Object.entries(settings).flatMap(([section, keys]) => [
    `[${section}]`,
    ...Object.entries(keys).map(([key, { value, source }]) => `${`${key} = ${quoted(value)}`.trimEnd()}  (${source})`),
  ]);
  return lines.join('\n') + '\n';
}
