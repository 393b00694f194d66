import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { EtlError } from '../errors.js';

/**
 * Why Redshift would refuse `password` as a master user password, or undefined: 8 to 64 characters, an upper
 * and a lower case letter and a digit, printable ASCII without ' " \ / @ or space. Checked before any call, so a
 * weak password fails at once instead of after the role and the ingress rule are made.
 */
export function passwordProblem(password: string): string | undefined {
  if (password.length < 8 || password.length > 64) return `it must have 8 to 64 characters (it has ${password.length})`;
  if (!/[A-Z]/.test(password)) return 'it needs an upper case letter';
  if (!/[a-z]/.test(password)) return 'it needs a lower case letter';
  if (!/[0-9]/.test(password)) return 'it needs a digit';
  if (/[^\x21-\x7e]/.test(password)) return 'it may hold only printable ASCII characters without spaces';
  if (/['"\\/@]/.test(password)) return `it may not contain ' " \\ / or @`;
  return undefined;
}

export const PASSWORD_VARIABLE = 'SPARKIFY_DWH_DWH_DB_PASSWORD';

/** The password, checked; the message never holds the password itself. */
export function checkedPassword(password: string): string {
  const problem = passwordProblem(password);
  if (problem) throw new EtlError(`The Redshift admin password (DWH.DWH_DB_PASSWORD, ${PASSWORD_VARIABLE}) is refused: ${problem}`);
  return password;
}

/** Asks for a password on the terminal (stderr) with echo off: what is typed is never shown. */
export async function promptPassword(question: string): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const prompt = createInterface({ input: process.stdin, output, terminal: true });
  try {
    return await new Promise<string>((resolve) => {
      prompt.question(question, (answer) => resolve(answer));
      muted = true;
    });
  } finally {
    prompt.close();
    process.stderr.write('\n');
  }
}
