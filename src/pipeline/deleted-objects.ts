/**
 * Objects the load ledger lists that the source no longer holds. A run's listing is watched for the ledger's
 * keys; those it never shows (for log objects: within the run's --since/--until) are gone. A run with
 * `--prune`, and every `--full-refresh` (which must give what a fresh load of the source gives), stages them
 * in staging_pruned: the transform removes what came from them and their ledger entries. Otherwise they are
 * only counted in the report.
 */
import { isMissingTable } from '../errors.js';
import type { SourceObject } from '../extract/source.js';
import { ledgerKeys } from '../load/queries.js';
import type { Warehouse } from '../load/warehouse.js';
import { csvLine } from '../transform/csv.js';
import type { CsvTable, RecordKind } from '../transform/schema.js';
import { keyDays, type Selection } from './object-selection.js';
import type { RunReport } from './report.js';

/** The ledger entries a batch removes: staged like staging_objects, truncated before each batch. */
export const STAGING_PRUNED: CsvTable & { readonly table: 'staging_pruned' } = { table: 'staging_pruned', columns: ['run_id', 'kind', 'source_key'] };

/** Watches one listing for the keys the ledger lists. */
export class LedgerWatch {
  private readonly unseen: Set<string>;

  constructor(known: Iterable<string>) {
    this.unseen = new Set(known);
  }

  /** The listing as it comes, each key it shows struck off. */
  async *watch<T extends SourceObject>(listing: AsyncIterable<T>): AsyncGenerator<T> {
    for await (const object of listing) {
      this.unseen.delete(object.key);
      yield object;
    }
  }

  /**
   * Once the listing has ended: the ledger's keys it did not show, in key order. With a day range (log
   * objects), only keys of days within it: a backfill of some days says nothing of the others.
   */
  gone(range: Pick<Selection, 'since' | 'until'> & { readonly dated: boolean }): string[] {
    const ranged = range.dated && (range.since !== undefined || range.until !== undefined);
    const inRange = (key: string): boolean => {
      if (!ranged) return true;
      const days = keyDays(key);
      return days !== undefined && (range.since === undefined || days.last >= range.since) && (range.until === undefined || days.first <= range.until);
    };
    return [...this.unseen].filter(inRange).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  }
}

/**
 * The keys of the ledger's entries of `kind`: those of the selection's ledger, else (a full refresh reads
 * none) read from the warehouse; none where it has no ledger yet.
 */
export async function knownObjects(warehouse: Warehouse, kind: RecordKind, selection: Selection): Promise<string[]> {
  if (selection.ledger) return [...selection.ledger.keys()];
  try {
    const { rows } = await warehouse.query(ledgerKeys, [kind]);
    return rows.map((r) => String(r.source_key));
  } catch (error) {
    if (isMissingTable(error)) return [];
    throw error;
  }
}

/** The batch's pruned objects as staging_pruned CSV. */
export async function* prunedObjectsCsv(report: RunReport): AsyncGenerator<string> {
  for (const kind of ['songs', 'events'] as const) {
    const gone = report.sources[kind]?.gone;
    if (!gone?.pruned) continue;
    for (let i = 0; i < gone.keys.length; i += 5000) yield gone.keys.slice(i, i + 5000).map((key) => csvLine([report.runId, kind, key]) + '\n').join('');
  }
}
