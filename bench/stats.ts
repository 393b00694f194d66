/** Medians and spreads over a case's repetitions. */
import type { Spread, StepTime } from './types.js';

export const round = (s: number): number => Math.round(s * 1e6) / 1e6;

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function spread(values: readonly number[]): Spread {
  return { median: round(median(values)), min: round(Math.min(...values)), max: round(Math.max(...values)) };
}

/** Each step's median over the samples, in the first sample's order (a step missing from a sample counts 0). */
export function medianSteps(samples: readonly (readonly StepTime[] | undefined)[]): StepTime[] | undefined {
  const first = samples[0];
  if (!first) return undefined;
  const names = [...new Set(samples.flatMap((steps) => (steps ?? []).map((s) => s.name)))];
  const secondsOf = (steps: readonly StepTime[] | undefined, name: string) => (steps ?? []).filter((s) => s.name === name).reduce((a, s) => a + s.seconds, 0);
  return names.map((name) => ({ name, seconds: round(median(samples.map((steps) => secondsOf(steps, name)))) }));
}
