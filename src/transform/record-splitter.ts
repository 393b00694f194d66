import { Transform, type TransformCallback } from 'node:stream';

/**
 * One record's bytes as found in an object, before any parsing: where it starts, and whether the object
 * ended without a line end after it (a truncated last line is told apart from a malformed one).
 */
export interface RawRecord {
  /** 1-based line of the object where the record starts. */
  readonly line: number;
  readonly bytes: Buffer;
  /** The object ended right after this record, with no line end. */
  readonly unterminated: boolean;
  /** Set when the record was longer than the limit: its full size; `bytes` holds only its start. */
  readonly oversize?: number;
}

/**
 * - `lines`: JSON lines, one record per line (event logs). A broken line never affects its neighbours.
 * - `values`: concatenated JSON values, each may span lines (song files: one pretty or compact object,
 *   or several, or JSON lines).
 */
export type Framing = 'lines' | 'values';

/** Redshift's own limit for one JSON record; anything longer is rejected, with its start kept. */
export const MAX_RECORD_BYTES = 4 * 1024 * 1024;
export const KEPT_OF_OVERSIZE = 64 * 1024;

const NEWLINE = 0x0a;
const CR = 0x0d;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

const isBlank = (bytes: Buffer): boolean => {
  for (const b of bytes) if (b !== 0x20 && b !== 0x09 && b !== CR && b !== NEWLINE) return false;
  return true;
};

/**
 * Cuts an object's bytes into records, whatever the chunking: push chunks in order, then `end()`. Strips a
 * leading byte-order mark and the CR of CRLF line ends. Pure and synchronous, so worker threads use it too.
 */
export class RecordFramer {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private pendingLine = 1;
  /** Current line (1-based): after `end()`, one more than the lines seen. */
  line: number;
  private bomChecked: boolean;
  // `values` framing state: nesting depth and string/escape flags of the value being read.
  private depth = 0;
  private inString = false;
  private escaped = false;
  private inValue = false;

  /** `firstLine` and `atObjectStart` let a block from the middle of an object be framed on its own. */
  constructor(
    private readonly framing: Framing,
    options: { firstLine?: number; atObjectStart?: boolean } = {},
  ) {
    this.line = options.firstLine ?? 1;
    this.pendingLine = this.line;
    this.bomChecked = options.atObjectStart === false;
  }

  push(chunk: Buffer): RawRecord[] {
    if (!this.bomChecked) {
      if (this.pendingBytes + chunk.length < BOM.length) {
        this.hold(chunk);
        return [];
      }
      chunk = this.takePending(chunk);
      this.bomChecked = true;
      if (chunk.subarray(0, 3).equals(BOM)) chunk = chunk.subarray(3);
    }
    const batch: RawRecord[] = [];
    if (this.framing === 'lines') this.splitLines(chunk, batch);
    else this.splitValues(chunk, batch);
    return batch;
  }

  end(): RawRecord[] {
    const batch: RawRecord[] = [];
    if (!this.bomChecked) {
      // Fewer bytes than a BOM came in all: held for the BOM check, never framed. Framed now, so a block of
      // one or two bytes (`}`) ends as the same bytes within a whole object would.
      this.bomChecked = true;
      const held = this.takePending(Buffer.alloc(0));
      if (this.framing === 'lines') this.splitLines(held, batch);
      else this.splitValues(held, batch);
    }
    const rest = this.takePending(Buffer.alloc(0));
    if (!isBlank(rest)) this.pushRecord(batch, this.pendingLine, rest, true);
    return batch;
  }

  private splitLines(chunk: Buffer, batch: RawRecord[]): void {
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE, start); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      const bytes = this.takePending(chunk.subarray(start, end));
      if (!isBlank(bytes)) this.pushRecord(batch, this.line, bytes, false);
      start = end + 1;
      this.line += 1;
      this.pendingLine = this.line;
    }
    if (start < chunk.length) this.hold(chunk.subarray(start));
  }

  private splitValues(chunk: Buffer, batch: RawRecord[]): void {
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (!this.inValue) {
        if (b === NEWLINE) this.line += 1;
        if (b === 0x20 || b === 0x09 || b === CR || b === NEWLINE) {
          start = i + 1;
          continue;
        }
        this.inValue = true;
        this.pendingLine = this.line;
        start = i;
      }
      if (this.inString) {
        if (b === NEWLINE) {
          // JSON strings cannot hold a raw line end, not even after a backslash: the value is broken; end it
          // here so the next line recovers (and is counted).
          this.endValue(batch, chunk.subarray(start, i));
          this.line += 1;
          start = i + 1;
        } else if (this.escaped) this.escaped = false;
        else if (b === 0x5c) this.escaped = true;
        else if (b === 0x22) this.inString = false;
        continue;
      }
      if (b === NEWLINE) this.line += 1;
      if (b === 0x22) this.inString = true;
      else if (b === 0x7b || b === 0x5b) this.depth += 1;
      else if (b === 0x7d || b === 0x5d) {
        this.depth -= 1;
        if (this.depth <= 0) {
          this.endValue(batch, chunk.subarray(start, i + 1));
          start = i + 1;
        }
      } else if (this.depth === 0 && b === NEWLINE) {
        // A bare scalar at the top level ends at its line end.
        this.endValue(batch, chunk.subarray(start, i));
        start = i + 1;
      }
    }
    if (this.inValue && start < chunk.length) this.hold(chunk.subarray(start));
  }

  private endValue(batch: RawRecord[], tail: Buffer): void {
    const bytes = this.takePending(tail);
    if (!isBlank(bytes)) this.pushRecord(batch, this.pendingLine, bytes, false);
    this.inValue = false;
    this.inString = false;
    this.escaped = false;
    this.depth = 0;
  }

  private pushRecord(batch: RawRecord[], line: number, bytes: Buffer, unterminated: boolean): void {
    let end = bytes.length;
    while (end > 0 && (bytes[end - 1] === CR || bytes[end - 1] === 0x20 || bytes[end - 1] === 0x09)) end -= 1;
    const trimmed = end === bytes.length ? bytes : bytes.subarray(0, end);
    if (this.oversize === 0 && trimmed.length > MAX_RECORD_BYTES) {
      batch.push({ line, bytes: Buffer.from(trimmed.subarray(0, KEPT_OF_OVERSIZE)), unterminated, oversize: trimmed.length });
    } else if (this.oversize > 0) {
      batch.push({ line, bytes: trimmed, unterminated, oversize: this.oversize });
      this.oversize = 0;
    } else {
      batch.push({ line, bytes: trimmed, unterminated });
    }
  }

  private oversize = 0;

  /** Keeps the start of an unfinished record; past the limit only its first bytes are kept. */
  private hold(part: Buffer): void {
    if (this.oversize > 0) {
      this.oversize += part.length;
      return;
    }
    // Copy: the chunk's memory may be reused by the producer after the callback.
    this.pending.push(Buffer.from(part));
    this.pendingBytes += part.length;
    if (this.pendingBytes > MAX_RECORD_BYTES) {
      this.oversize = this.pendingBytes;
      const kept = Buffer.concat(this.pending).subarray(0, KEPT_OF_OVERSIZE);
      this.pending = [kept];
      this.pendingBytes = kept.length;
    }
  }

  private takePending(tail: Buffer): Buffer {
    if (this.pendingBytes === 0) return tail;
    if (this.oversize > 0) this.oversize += tail.length;
    const whole = this.oversize > 0 ? Buffer.concat(this.pending) : Buffer.concat([...this.pending, tail]);
    this.pending = [];
    this.pendingBytes = 0;
    return whole;
  }
}

/**
 * Where an object read in `values` framing may be cut into blocks that are framed apart: the points between
 * two values, where RecordFramer holds nothing and starts afresh (outside any value, so outside any string).
 * It follows the states of RecordFramer.splitValues byte for byte (test/transform/object-blocks.test.ts
 * frames objects whole and cut at every point this finds, and requires the same records).
 */
export class ValueBoundaries {
  private depth = 0;
  private inString = false;
  private escaped = false;
  private inValue = false;

  /** Whether the bytes scanned so far end between two values. */
  get between(): boolean {
    return !this.inValue;
  }

  /**
   * Scans the next bytes of the object. Returns the offset (in `bytes`) just after the last point between
   * values, or -1 when there is none; with `first`, the first point at which a value ends.
   */
  scan(bytes: Uint8Array, first = false): number {
    let last = -1;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (!this.inValue) {
        if (b === 0x20 || b === 0x09 || b === CR || b === NEWLINE) {
          last = i + 1;
          continue;
        }
        this.inValue = true;
      }
      let ended: boolean;
      if (this.inString) {
        ended = b === NEWLINE; // a raw line end breaks the value, as in RecordFramer
        if (ended) this.inString = false;
        else if (this.escaped) this.escaped = false;
        else if (b === 0x5c) this.escaped = true;
        else if (b === 0x22) this.inString = false;
      } else if (b === 0x22) {
        this.inString = true;
        ended = false;
      } else if (b === 0x7b || b === 0x5b) {
        this.depth += 1;
        ended = false;
      } else if (b === 0x7d || b === 0x5d) {
        this.depth -= 1;
        ended = this.depth <= 0;
      } else {
        // A bare scalar at the top level ends at its line end.
        ended = this.depth === 0 && b === NEWLINE;
      }
      if (ended) {
        this.inValue = false;
        this.escaped = false;
        this.depth = 0;
        last = i + 1;
        if (first) return last;
      }
    }
    return last;
  }
}

/** Stream form of `RecordFramer`: bytes in, one `RawRecord[]` per input chunk out. */
export class RecordSplitter extends Transform {
  private readonly framer: RecordFramer;

  constructor(framing: Framing) {
    super({ readableObjectMode: true, readableHighWaterMark: 4 });
    this.framer = new RecordFramer(framing);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const batch = this.framer.push(chunk);
    if (batch.length > 0) this.push(batch);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    const batch = this.framer.end();
    if (batch.length > 0) this.push(batch);
    callback();
  }
}
