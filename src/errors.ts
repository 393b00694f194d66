/**
 * An error the user can act on: its message is one sentence naming the object, line or setting to fix.
 * The CLI prints it alone, without a stack trace; anything else is a bug and keeps its trace.
 */
export class EtlError extends Error {
  override readonly name = 'EtlError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A short description of any thrown value, for one-line messages. */
export const describeError = (error: unknown): string => {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const text = error.message.split('\n')[0] ?? error.name;
    return typeof code === 'string' && !text.includes(code) ? `${text} (${code})` : text;
  }
  return String(error);
};

/** SQLSTATE 42P01 (undefined_table), as PostgreSQL, PGlite and Redshift report a table that does not exist. */
export const isMissingTable = (error: unknown): boolean => (error as { code?: unknown } | undefined)?.code === '42P01';

/** The message for a command that needs tables the warehouse does not have yet. */
export const missingTables = (where: string, error: unknown): EtlError =>
  new EtlError(`${where} has no pipeline tables yet (${describeError(error)}): run \`etl create-tables\` first, or \`etl run\`, which creates missing tables`, { cause: error });
