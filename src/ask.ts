import { createInterface } from 'node:readline/promises';

/** Asks a yes/no question on the terminal (the prompt on stderr); anything but y or yes is no. */
export async function askYesNo(question: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await prompt.question(question)).trim());
  } finally {
    prompt.close();
  }
}
