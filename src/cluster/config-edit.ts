import { readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';

export type IniUpdates = Readonly<Record<string, Readonly<Record<string, string>>>>;

const SECTION = /^\s*\[([^\]]+)\]\s*$/;
const keyLine = (key: string) => new RegExp(`^(\\s*${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*=)(.*)$`);
// The INI parser treats ; and # as comment starts: such values must be quoted to survive.
const quoted = (value: string) => (/[;#]/.test(value) ? JSON.stringify(value) : value);

/**
 * `text` with each key of `updates` set, editing lines in place: a key present gets its value replaced on its
 * own line (an inline comment after it dropped with the old value), a missing key is added after the last
 * setting of its section, a missing section is appended. Comments, blank lines, order and every other key stay
 * as they were, which re-serializing the parsed INI would lose.
 */
export function setIniValues(text: string, updates: IniUpdates): string {
  const newline = text.includes('\r\n') ? '\r\n' : '\n';
  const lines = text === '' ? [] : text.replace(/\r?\n$/, '').split(/\r?\n/);
  for (const [section, keys] of Object.entries(updates)) {
    for (const [key, value] of Object.entries(keys)) {
      let start = -1;
      let end = lines.length;
      for (let i = 0; i < lines.length; i++) {
        const name = SECTION.exec(lines[i]!)?.[1]?.trim();
        if (name === undefined) continue;
        if (start >= 0) {
          end = i;
          break;
        }
        if (name === section) start = i;
      }
      if (start < 0) {
        if (lines.length && lines[lines.length - 1]!.trim() !== '') lines.push('');
        lines.push(`[${section}]`, `${key} = ${quoted(value)}`);
        continue;
      }
      const pattern = keyLine(key);
      const at = lines.findIndex((line, i) => i > start && i < end && pattern.test(line));
      if (at >= 0) {
        lines[at] = lines[at]!.replace(pattern, (_m, head: string) => `${head} ${quoted(value)}`);
        continue;
      }
      let last = start;
      for (let i = start + 1; i < end; i++) if (/^\s*[^\s;#][^=]*=/.test(lines[i]!)) last = i;
      lines.splice(last + 1, 0, `${key} = ${quoted(value)}`);
    }
  }
  return lines.join(newline) + newline;
}

/** Applies `updates` to the INI file `file` (made if missing), through a temporary file so a crash leaves the old one whole. */
export function updateIniFile(file: string, updates: IniUpdates): void {
  const before = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, setIniValues(before, updates), { mode: 0o600 });
  renameSync(temporary, file);
}
