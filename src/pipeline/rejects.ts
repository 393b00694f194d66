import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Rejection } from '../transform/record-encoder.js';
import { reasonCategory } from '../transform/validate.js';
import type { SourceReport } from './report.js';

/**
 * The run's rejects file: one JSON object per rejected record (source, line, reason, raw), in the order
 * found, so a user can read it, fix the raw text and replay it (`etl replay`).
 */
export class RejectsFile {
  private readonly out: WriteStream;
  count = 0;

  constructor(readonly path: string) {
    this.out = createWriteStream(path, { flags: 'a' });
  }

  /** Appends rejections and counts their reasons into the source's report; waits if the disk is behind. */
  async write(rejections: readonly Rejection[], report: SourceReport): Promise<void> {
    if (rejections.length === 0) return;
    let text = '';
    for (const r of rejections) {
      text += JSON.stringify({ source: r.source, line: r.line, reason: r.reason, raw: r.raw }) + '\n';
      const kind = reasonCategory(r.reason);
      report.reasons[kind] = (report.reasons[kind] ?? 0) + 1;
    }
    this.count += rejections.length;
    if (!this.out.write(text)) await once(this.out, 'drain');
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve, reject) => this.out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  }
}
