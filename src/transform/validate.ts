import { isUtf8 } from 'node:buffer';
import type { RawRecord } from './record-splitter.js';
import { MAX_RECORD_BYTES } from './record-splitter.js';
import type { FieldSpec, StagingTable } from './schema.js';

/** Contract fields of one valid record, in staging column order (lineage columns not included). */
export type FieldValues = (string | number | null)[];

export type Verdict = { readonly values: FieldValues } | { readonly reason: string };

/** Why a record is rejected. */
export interface Rejected {
  readonly reason: string;
}

// A user id: at most 10 digits, then compared with the INTEGER range.
const DIGITS = /^\d{0,10}$/;

/**
 * DOUBLE PRECISION on Redshift: "a range of around 1E-307 to 1E+308", i.e. the normal doubles (its
 * PostgreSQL 8 lineage rejects a nonzero magnitude below DBL_MIN as an underflow; PostgreSQL itself takes
 * subnormals). Every finite JavaScript number is at most DBL_MAX, so only the small end is checked.
 */
export const DOUBLE_MIN = 2 ** -1022;
const DOUBLE_RANGE_TEXT = 'DOUBLE PRECISION (0, or magnitudes 2.2250738585072014e-308 to 1.7976931348623157e308)';

/** A value as it appears in a reason: short, quoted like JSON; numbers as JavaScript prints them (Infinity too). */
const show = (value: unknown): string => {
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  const text = typeof value === 'number' ? String(value) : JSON.stringify(value);
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

/** Numbers JSON.parse made Infinity of (`1e400`): no engine's column holds them. */
const notFinite = (field: FieldSpec, value: number): string => `${field.json}: not a finite number, got ${show(value)}`;

/** Why a present (non-null) value breaks its field's rule, or undefined when it keeps it. */
export function checkField(field: FieldSpec, value: unknown): string | undefined {
  switch (field.type) {
    case 'string':
      return typeof value === 'string' ? checkString(field, value) : `${field.json}: expected string, got ${show(value)}`;
    case 'number':
      if (typeof value !== 'number') return `${field.json}: expected number, got ${show(value)}`;
      if (!Number.isFinite(value)) return notFinite(field, value);
      if (value !== 0 && Math.abs(value) < DOUBLE_MIN) return `${field.json}: out of range for ${DOUBLE_RANGE_TEXT}, got ${show(value)}`;
      return undefined;
    case 'integer': {
      if (typeof value === 'number' && !Number.isFinite(value)) return notFinite(field, value);
      if (typeof value !== 'number' || !Number.isInteger(value)) return `${field.json}: expected integer, got ${show(value)}`;
      const range = field.range!;
      return value < range.min || value > range.max ? `${field.json}: out of range for ${range.text}, got ${show(value)}` : undefined;
    }
    case 'digits': {
      if (typeof value !== 'string' || !DIGITS.test(value)) return `${field.json}: expected a string of decimal digits or "", got ${show(value)}`;
      const range = field.range!;
      return value !== '' && Number(value) > range.max ? `${field.json}: out of range for ${range.text}, got ${show(value)}` : undefined;
    }
  }
}

export const missing = (field: FieldSpec): Rejected => ({ reason: `missing required field ${field.json}` });

export const notAnObject = (record: unknown): Rejected => ({
  reason: `expected a JSON object, got ${record === null ? 'null' : Array.isArray(record) ? 'an array' : typeof record}`,
});

export const isObject = (record: unknown): record is Record<string, unknown> => typeof record === 'object' && record !== null && !Array.isArray(record);

/**
 * Checks one parsed record against the contract; returns its staging values or why it is rejected. The rules'
 * plain form: the pipeline itself runs csvRowOf (csv-row.ts), which must agree with it on every value.
 */
export function validateObject(table: StagingTable, record: unknown): Verdict {
  if (!isObject(record)) return notAnObject(record);
  const fields = table.fields;
  const values: FieldValues = new Array(fields.length);
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    const value = record[field.json];
    if (value === undefined || value === null) {
      if (field.required) return missing(field);
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

/**
 * Why a text JSON.parse refused is rejected. Truncated: an object or array begun and cut off by the end of
 * the object. Text that never began as JSON (plain text, garbage) is malformed, wherever it stands.
 */
export const unparsable = (text: string, unterminated: boolean): Rejected => ({
  reason: unterminated && /^\s*[{[]/.test(text) ? 'truncated last line' : 'malformed JSON',
});

/** Parses and validates one record's text (already known to be valid UTF-8). */
export function validateText(table: StagingTable, text: string, unterminated: boolean): Verdict {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return unparsable(text, unterminated);
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
