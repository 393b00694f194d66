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
