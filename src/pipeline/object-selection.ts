import type { SourceObject } from '../extract/source.js';

/** What the load ledger holds of an object loaded before: its size and version as listed then. */
export interface LedgerEntry {
  readonly size: number;
  /** S3: the ETag. Local: `<mtime ms>:<ctime ns>:<inode>`, or the mtime alone in entries of older releases. */
  readonly version: string;
}

/** Which objects a run loads: those not loaded before (unless a full refresh), log days within a range. */
export interface Selection {
  /** Loaded objects of this kind by key; absent for a full refresh. */
  readonly ledger?: ReadonlyMap<string, LedgerEntry>;
  /** Inclusive day range, `YYYY-MM-DD`, applied to log objects by the date in their key. */
  readonly since?: string;
  readonly until?: string;
}

export interface SelectionCounts {
  /** Already loaded and unchanged since. */
  unchanged: number;
  /** Outside --since/--until, or with no date in the key while a range is set. */
  outOfRange: number;
}

const DAY = /(\d{4})-(\d{2})-(\d{2})/;
const MONTH = /(?:^|\/)(\d{4})\/(\d{2})\//;

/** The days an object key covers: its `YYYY-MM-DD`, else its `YYYY/MM/` partition; undefined if neither. */
export function keyDays(key: string): { first: string; last: string } | undefined {
  const name = key.slice(key.lastIndexOf('/') + 1);
  const day = DAY.exec(name);
  if (day) return { first: day[0], last: day[0] };
  const month = MONTH.exec(key);
  if (month) return { first: `${month[1]}-${month[2]}-01`, last: `${month[1]}-${month[2]}-31` };
  return undefined;
}

/** A real calendar day `YYYY-MM-DD`: Date.parse alone takes 2018-11-31 for December 1st, so the day must round-trip. */
export const isDay = (value: string): boolean => {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const time = Date.parse(`${value}T00:00:00Z`);
  return !Number.isNaN(time) && new Date(time).toISOString().slice(0, 10) === value;
};

/** Why `value` cannot be the `flag` (--since, --until) day, or undefined when it can. */
export const dayProblem = (flag: string, value: string): string | undefined =>
  isDay(value) ? undefined : `${flag} ${value} is not a date: expected YYYY-MM-DD`;

/** Why --since/--until do not make a day range (not dates, or since after until), or undefined when they do. */
export function dayRangeProblem(since: string | undefined, until: string | undefined): string | undefined {
  const notDay = (since === undefined ? undefined : dayProblem('--since', since)) ?? (until === undefined ? undefined : dayProblem('--until', until));
  if (notDay) return notDay;
  // ISO days compare as text.
  if (since !== undefined && until !== undefined && since > until) return `--since ${since} is after --until ${until}`;
  return undefined;
}

/** The ledger of one kind from the rows of `ledgerEntries` (source_key, size, version; BIGINT may come as text). */
export const ledgerOf = (rows: readonly Record<string, unknown>[]): Map<string, LedgerEntry> =>
  new Map(rows.map((r) => [String(r.source_key), { size: Number(r.size), version: String(r.version) }]));

/** A local version of this release, whose first field is the mtime in ms. */
const LOCAL_VERSION = /^(-?\d+):\d+:\d+$/;
/** A local version written before versions held the change time: the mtime in ms alone (maybe fractional). */
const MTIME_ONLY = /^-?\d+(\.\d+)?$/;

/**
 * Whether `object` is the one the ledger recorded: same size and same version. An entry of an older release
 * (a local file's mtime alone) still matches while size and mtime do, so an upgrade does not reload every
 * object; such an entry gets the stronger version when its object is next loaded (or with --full-refresh).
 */
export function isUnchanged(entry: LedgerEntry | undefined, object: SourceObject): boolean {
  if (entry === undefined || entry.size !== object.size) return false;
  if (entry.version === object.version) return true;
  const local = LOCAL_VERSION.exec(object.version);
  return local !== null && MTIME_ONLY.test(entry.version) && Math.trunc(Number(entry.version)) === Number(local[1]);
}

/** Filters listed objects by the selection, counting what it leaves out. */
export async function* selectObjects(
  objects: AsyncIterable<SourceObject>,
  selection: Selection & { readonly dated: boolean },
  counts: SelectionCounts,
): AsyncGenerator<SourceObject> {
  const ranged = selection.dated && (selection.since !== undefined || selection.until !== undefined);
  for await (const object of objects) {
    if (ranged) {
      const days = keyDays(object.key);
      if (!days || (selection.since !== undefined && days.last < selection.since) || (selection.until !== undefined && days.first > selection.until)) {
        counts.outOfRange += 1;
        continue;
      }
    }
    if (selection.ledger && isUnchanged(selection.ledger.get(object.key), object)) {
      counts.unchanged += 1;
      continue;
    }
    yield object;
  }
}
