import { isUtf8 } from 'node:buffer';
import type { RawRecord } from './record-splitter.js';
import { MAX_RECORD_BYTES } from './record-splitter.js';
import type { FieldSpec, StagingTable } from './schema.js';

/** Contract fields of one valid record, in staging column order (lineage columns not included). */
export type FieldValues = (string | number | null)[];

export type Verdict = { readonly values: FieldValues } | { readonly reason: string };

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
// Largest user id the INTEGER column holds: at most 10 digits, compared as a number.
const DIGITS = /^\d{0,10}$/;

/** A value as it appears in a reason: short, quoted like JSON. */
const show = (value: unknown): string => {
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
};

function checkString(field: FieldSpec, value: string): string | undefined {
  // Fast path: no string of n UTF-16 units takes more than 3n bytes.
  if (field.maxBytes !== undefined && value.length * 3 > field.maxBytes) {
    const bytes = Buffer.byteLength(value);
    if (bytes > field.maxBytes) return `${field.json}: field too long for Redshift VARCHAR(${field.maxBytes}) (${bytes} bytes)`;
  }
  if (field.key && value.endsWith(' ')) return `${field.json}: ends in a blank, which Redshift ignores when comparing keys`;
  if (value.includes('\u0000')) return `${field.json}: contains a NUL character, which no warehouse stores`;
  if (!value.isWellFormed()) return `${field.json}: invalid UTF-8 (lone surrogate escape)`;
  return undefined;
}

function checkField(field: FieldSpec, value: unknown): string | undefined {
  switch (field.type) {
    case 'string':
      return typeof value === 'string' ? checkString(field, value) : `${field.json}: expected string, got ${show(value)}`;
    case 'number':
      return typeof value === 'number' ? undefined : `${field.json}: expected number, got ${show(value)}`;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) return `${field.json}: expected integer, got ${show(value)}`;
      if (field.int32 ? value < INT32_MIN || value > INT32_MAX : !Number.isSafeInteger(value)) {
        return `${field.json}: ${value} is out of range for ${field.sqlType}`;
      }
      return undefined;
    case 'digits':
      if (typeof value !== 'string' || !DIGITS.test(value)) return `${field.json}: expected a string of decimal digits or "", got ${show(value)}`;
      return value !== '' && Number(value) > INT32_MAX ? `${field.json}: ${value} is out of range for INTEGER` : undefined;
  }
}

/** Checks one parsed record against the contract; returns its staging values or why it is rejected. */
export function validateObject(table: StagingTable, record: unknown): Verdict {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    return { reason: `expected a JSON object, got ${record === null ? 'null' : Array.isArray(record) ? 'an array' : typeof record}` };
  }
  const fields = table.fields;
  const values: FieldValues = new Array(fields.length);
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    const value = (record as Record<string, unknown>)[field.json];
    if (value === undefined || value === null) {
      if (field.required) return { reason: `missing required field ${field.json}` };
      values[i] = null;
      continue;
    }
    const problem = checkField(field, value);
    if (problem) return { reason: problem };
    values[i] = value as string | number;
  }
  return { values };
}

export const oversizeReason = (bytes: number): string => `record of ${bytes} bytes is longer than the ${MAX_RECORD_BYTES}-byte limit`;

/** Parses and validates one record's text (already known to be valid UTF-8). */
export function validateText(table: StagingTable, text: string, unterminated: boolean): Verdict {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Truncated: an object or array begun and cut off by the end of the object. Text that never began as JSON
    // (plain text, garbage) is malformed, wherever it stands.
    return { reason: unterminated && /^\s*[{[]/.test(text) ? 'truncated last line' : 'malformed JSON' };
  }
  return validateObject(table, parsed);
}

/** Decodes, parses and validates one raw record. */
export function validateRecord(table: StagingTable, raw: RawRecord): Verdict {
  if (raw.oversize !== undefined) return { reason: oversizeReason(raw.oversize) };
  if (!isUtf8(raw.bytes)) return { reason: 'invalid UTF-8' };
  return validateText(table, raw.bytes.toString('utf8'), raw.unterminated);
}

/** The kind of a reason, for counting: its text without the offending value. */
export const reasonCategory = (reason: string): string =>
  reason.replace(/, got .*$/, '').replace(/ \(\d+ bytes\)$/, '').replace(/^record of \d+ bytes/, 'record');
