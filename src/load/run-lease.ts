/**
 * The run lock of the server engines: a lease row in `etl_run_lock` (holder, command, taken, expires), taken
 * in a short transaction of a connection of its own, renewed while the command works, deleted when it ends.
 * It works across sessions and hosts on PostgreSQL and Redshift alike (Redshift has no advisory locks). A
 * holder that dies stops renewing: once its lease has expired the next command takes it over, and says so.
 */
import { hostname } from 'node:os';
import { EtlError, describeError } from '../errors.js';
import { onInterrupt } from '../exit-hooks.js';
import { runLock } from './queries.js';
import type { Session } from './session.js';

export interface LeaseOptions {
  /** What takes the lock, for the message another command shows (`etl run`). */
  readonly command: string;
  /** How long a lease lasts without renewal. */
  readonly ttlMs: number;
  /** How often it is renewed (default a quarter of the ttl). */
  readonly renewMs?: number;
  /** Said when a stale lease is taken over. */
  readonly notice?: (message: string) => void;
  readonly now?: () => Date;
  /** Who holds it (default host, pid and a random tag). */
  readonly holder?: string;
  /** The engine's count of live sessions of a server process (Dialect.liveSession), if it has one. */
  readonly liveSession?: string;
}

/** A timestamp as both engines read it back: UTC, to the millisecond, without a zone. */
export const sqlTimestamp = (date: Date): string => date.toISOString().replace('T', ' ').replace('Z', '');
const parseTimestamp = (text: unknown): Date => new Date(`${String(text).replace(' ', 'T')}Z`);
const shown = (date: Date): string => `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;

export class RunLease {
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> = Promise.resolve();
  private lost: EtlError | undefined;
  private forget: () => void = () => {};

  private constructor(
    private readonly session: Session,
    private readonly where: string,
    readonly holder: string,
    private readonly options: LeaseOptions,
  ) {}

  /** Takes the lease on `session` (which it then owns), or fails saying who holds it and until when. */
  static async take(session: Session, where: string, options: LeaseOptions): Promise<RunLease> {
    const holder = options.holder ?? `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
    const lease = new RunLease(session, where, holder, options);
    try {
      await lease.acquire();
    } catch (error) {
      await session.close().catch(() => {});
      throw error;
    }
    lease.timer = setInterval(() => void lease.renew(), options.renewMs ?? Math.max(1000, Math.floor(options.ttlMs / 4)));
    // Renewal must never keep a finished command alive.
    lease.timer.unref();
    // Interrupted (Ctrl-C, SIGTERM), the command gives the lock back rather than leave it to expire.
    lease.forget = onInterrupt(() => lease.release());
    return lease;
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  private async acquire(): Promise<void> {
    const q = (sql: string, params?: readonly unknown[]) => this.session.query(sql, params);
    // Two first commands may race to create the table (PostgreSQL then reports a duplicate type): once more.
    await q(runLock.create).catch(() => new Promise((resolve) => setTimeout(resolve, 200)).then(() => q(runLock.create)));
    const pid = Number((await q(runLock.backendPid)).rows[0]?.pid ?? 0);
    await q('BEGIN');
    try {
      // First in the transaction: a second contender waits here until the first has committed.
      await q(runLock.lock);
      const now = this.now();
      const { rows } = await q(runLock.current);
      const current = rows[0];
      if (current) {
        const expires = parseTimestamp(current.expires_at);
        const gone = await this.connectionEnded(current.backend_pid);
        if (expires >= now && !gone) {
          throw new EtlError(
            `Another etl command (${String(current.command)}, ${String(current.holder)}) has held the run lock on ${this.where} since ${shown(parseTimestamp(current.taken_at))}: wait for it to finish; if that process is gone, its lease expires at ${shown(expires)} and the next command takes it over`,
          );
        }
        await q(runLock.dropHolder, [current.holder]);
        const why = gone ? 'its connection has ended' : `it stopped renewing it; its lease expired at ${shown(expires)}`;
        this.options.notice?.(`Took over the run lock on ${this.where} from ${String(current.holder)} (${String(current.command)}): ${why}`);
      }
      await q(runLock.take, [this.holder, this.options.command, pid, sqlTimestamp(now), sqlTimestamp(new Date(now.getTime() + this.options.ttlMs))]);
      await q('COMMIT');
    } catch (error) {
      await q('ROLLBACK').catch(() => {});
      if (error instanceof EtlError) throw error;
      throw new EtlError(`Cannot take the run lock on ${this.where}: ${describeError(error)}`, { cause: error });
    }
  }

  /** True when the engine can tell that the holder's lease connection (server process `pid`) has ended. */
  private async connectionEnded(pid: unknown): Promise<boolean> {
    if (!this.options.liveSession) return false;
    const { rows } = await this.session.query(this.options.liveSession, [Number(pid)]);
    return Number(rows[0]?.n ?? 1) === 0;
  }

  /** Moves the expiry forward; notes when the lease was lost (expired and taken over: this process stalled). */
  private renew(): Promise<void> {
    this.renewing = this.renewing.then(async () => {
      if (this.lost) return;
      try {
        await this.session.query(runLock.renew, [sqlTimestamp(new Date(this.now().getTime() + this.options.ttlMs)), this.holder]);
        const { rows } = await this.session.query(runLock.held, [this.holder]);
        if (Number(rows[0]?.n ?? 0) === 0) this.lost = new EtlError(`The run lock on ${this.where} expired and was taken over by another etl command while this one worked`);
      } catch {
        // A renewal that fails (network blip) is retried at the next tick; the lease still has time left.
      }
    });
    return this.renewing;
  }

  /** Throws when the lease was lost, so a command stops before it writes what another now owns. */
  check(): void {
    if (this.lost) throw this.lost;
  }

  /** Deletes the lease row and closes its connection. */
  async release(): Promise<void> {
    this.forget();
    clearInterval(this.timer);
    await this.renewing;
    try {
      await this.session.query(runLock.release, [this.holder]);
    } finally {
      await this.session.close();
    }
  }
}
