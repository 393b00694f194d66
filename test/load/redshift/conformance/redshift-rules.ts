/**
 * Rules from the Amazon Redshift Database Developer Guide that every statement sent to Redshift must keep,
 * each citing the page it comes from. Redshift cannot be reached from the test machine: these rules are the
 * oracle. They run over statements recorded from the real pipeline (conformance.test.ts), and each one is
 * shown to catch a planted violation (redshift-rules.test.ts).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { RecordedStatement } from '../../../../src/load/recording-session.js';
import { closingParen, command, tokenize, wordsAt, type Token } from './sql-tokens.js';

export interface DocPage {
  readonly title: string;
  readonly url: string;
}

export interface Violation {
  readonly rule: string;
  readonly sql: string;
  readonly why: string;
}

export interface RuleContext {
  /** S3.STAGING_REGION: the only REGION a staging-manifest COPY may name (none when undefined). */
  readonly stagingRegion?: string;
  /** ETL.MAX_ERRORS: rejected lines a direct JSON COPY must tolerate. */
  readonly toleratedErrors?: number;
  /** How many entries the manifest at `url` lists (read from the S3 server the run wrote it to). */
  readonly manifestEntries?: (url: string) => Promise<number>;
}

export interface Rule {
  readonly id: string;
  readonly doc: DocPage;
  /** The rule, as the docs state it. */
  readonly says: string;
  check(statements: readonly RecordedStatement[], context: RuleContext): Promise<Violation[]> | Violation[];
}

const DOCS = 'https://docs.aws.amazon.com/redshift/latest/dg/';
const page = (title: string, file: string): DocPage => ({ title, url: `${DOCS}${file}` });

// ---------------------------------------------------------------------------------------------------------
// Reserved words

/** The list of the "Reserved words" page, kept as a fixture. */
export const RESERVED_WORDS: ReadonlySet<string> = new Set(
  readFileSync(fileURLToPath(new URL('../fixtures/reserved-words.txt', import.meta.url)), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#')),
);

/** "The following PostgreSQL system column names cannot be used as names of user-defined columns" (Names and identifiers). */
const SYSTEM_COLUMNS = new Set(['oid', 'tableoid', 'xmin', 'cmin', 'xmax', 'cmax', 'ctid']);

/**
 * Reserved words the pipeline uses as the keywords they are (SELECT, TIMESTAMP as a type, OFF in COMPUPDATE
 * OFF, ...). Any other reserved word written bare is an identifier that Redshift refuses.
 */
const KEYWORDS_IN_USE = new Set([
  'ALL', 'ANALYZE', 'AND', 'AS', 'ASC', 'BETWEEN', 'BY', 'CASE', 'CAST', 'CHECK', 'COLLATE', 'CREATE', 'CROSS', 'DEFAULT', 'DESC',
  'DISTINCT', 'ELSE', 'END', 'EXCEPT', 'FALSE', 'FOR', 'FROM', 'FULL', 'GROUP', 'GZIP', 'HAVING', 'IDENTITY', 'IN', 'INNER', 'INTERVAL',
  'INTO', 'IS', 'JOIN', 'LEFT', 'LIKE', 'LIMIT', 'NOT', 'NULL', 'OFF', 'ON', 'OR', 'ORDER', 'OUTER', 'PARTITION', 'PRIMARY', 'RIGHT',
  'SELECT', 'TABLE', 'THEN', 'TIMESTAMP', 'TO', 'TRUE', 'UNION', 'UNIQUE', 'USING', 'WHEN', 'WHERE', 'WITH',
]);

/** Bare (unquoted) words that stand where an identifier stands: table, column and alias names. */
function identifiers(tokens: readonly Token[]): Token[] {
  const found: Token[] = [];
  const add = (t: Token | undefined) => void (t && t.type === 'word' && found.push(t));
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const next = tokens[i + 1];
    // a.b: both parts name something.
    if (next?.upper === '.' && (t.type === 'word' || t.type === 'quoted')) {
      add(t);
      add(tokens[i + 2]);
    }
    // Table names after the words that introduce one.
    if (t.type === 'word' && ['FROM', 'JOIN', 'INTO', 'UPDATE', 'LOCK', 'TRUNCATE', 'USING'].includes(t.upper) && tokens[i + 2]?.upper !== '.') {
      if (next?.type === 'word' && !['SELECT', 'TABLE', '('].includes(next.upper)) add(next);
    }
    // CREATE [TEMP] TABLE [IF NOT EXISTS] name [(column TYPE, ...)]
    if (wordsAt(tokens, i, 'CREATE')) {
      let k = i + 1;
      while (tokens[k] && ['TEMP', 'TEMPORARY', 'TABLE', 'IF', 'NOT', 'EXISTS'].includes(tokens[k]!.upper)) k++;
      add(tokens[k]);
      if (tokens[k + 1]?.upper === '(') {
        const close = closingParen(tokens, k + 1);
        let itemStart = true;
        for (let m = k + 2; m < close; m++) {
          const item = tokens[m]!;
          if (itemStart && !['PRIMARY', 'UNIQUE', 'FOREIGN', 'CONSTRAINT', 'CHECK'].includes(item.upper)) add(item);
          itemStart = item.upper === ',' && item.depth === tokens[k + 1]!.depth + 1;
        }
      }
    }
    // Column lists: INSERT INTO t (a, b), COPY t (a, b).
    if ((wordsAt(tokens, i, 'INSERT', 'INTO') && tokens[i + 3]?.upper === '(') || (command(tokens) === 'COPY' && i === 1 && next?.upper === '(')) {
      const open = t.upper === 'INSERT' ? i + 3 : i + 1;
      for (let m = open + 1; m < closingParen(tokens, open); m++) if (tokens[m]!.upper !== ',') add(tokens[m]);
    }
    // Aliases: AS name (not CAST(x AS type), not CREATE ... AS SELECT).
    if (t.upper === 'AS' && t.type === 'word' && next?.type === 'word' && !['SELECT', 'WITH', '('].includes(next.upper)) {
      const castOpen = lastOpenParen(tokens, i);
      if (!(castOpen > 0 && tokens[castOpen - 1]?.upper === 'CAST')) add(next);
    }
    // UPDATE ... SET a = ..., b = ...
    if (t.upper === 'SET' && tokens.some((x) => x.upper === 'UPDATE')) {
      for (let m = i + 1; m < tokens.length && !['FROM', 'WHERE'].includes(tokens[m]!.upper); m++) {
        if (tokens[m + 1]?.upper === '=' && (tokens[m - 1]?.upper === 'SET' || tokens[m - 1]?.upper === ',')) add(tokens[m]);
      }
    }
  }
  return found;
}

/** The `(` enclosing token `i`, or -1 at the top level. */
function lastOpenParen(tokens: readonly Token[], i: number): number {
  const depth = tokens[i]!.depth;
  for (let k = i - 1; k >= 0; k--) if (tokens[k]!.upper === '(' && tokens[k]!.depth === depth - 1) return k;
  return -1;
}

const reservedWords: Rule = {
  id: 'reserved words',
  doc: page('Reserved words', 'r_pg_keywords.html'),
  says: '"You can use the reserved words with delimited identifiers (double quotation marks)": bare, they cannot name a table, column or alias.',
  check: (statements) =>
    statements.flatMap(({ sql }) => {
      const tokens = tokenize(sql);
      const named = identifiers(tokens)
        .filter((t) => RESERVED_WORDS.has(t.upper) || SYSTEM_COLUMNS.has(t.text.toLowerCase()))
        .map((t) => t.text);
      const bare = tokens.filter((t) => t.type === 'word' && RESERVED_WORDS.has(t.upper) && !KEYWORDS_IN_USE.has(t.upper)).map((t) => t.text);
      const words = [...new Set([...named, ...bare])];
      return words.map((word) => ({ rule: 'reserved words', sql, why: `the reserved word or system column name ${word} is used as a bare identifier` }));
    }),
};

const typeNameQualifier: Rule = {
  id: 'type names as qualifiers',
  doc: page('Names and identifiers', 'r_names.html'),
  says:
    'A delimited identifier ("time") may hold any name. This project\'s rule on top of the page: a table named after a datetime type (time) is quoted where it qualifies a column ("time".start_time), so the qualifier is never read as the type.',
  check: (statements) =>
    statements.flatMap(({ sql }) => {
      const tokens = tokenize(sql);
      return tokens
        .filter((t, i) => t.type === 'word' && ['TIME', 'DATE', 'TIMESTAMP', 'INTERVAL'].includes(t.upper) && tokens[i + 1]?.upper === '.')
        .map((t) => ({ rule: 'type names as qualifiers', sql, why: `${t.text}. qualifies a column without quotes: write "${t.text}".` }));
    }),
};

// ---------------------------------------------------------------------------------------------------------
// Transactions

/** The statements of each session, cut into explicit transactions (BEGIN ... COMMIT/END/ROLLBACK). */
function transactions(statements: readonly RecordedStatement[]): { session: string; body: RecordedStatement[] }[] {
  const open = new Map<string, RecordedStatement[]>();
  const done: { session: string; body: RecordedStatement[] }[] = [];
  for (const statement of statements) {
    const word = command(tokenize(statement.sql));
    const current = open.get(statement.session);
    if (word === 'BEGIN' || wordsAt(tokenize(statement.sql), 0, 'START', 'TRANSACTION')) open.set(statement.session, []);
    else if (['COMMIT', 'END', 'ROLLBACK', 'ABORT'].includes(word) && current) {
      done.push({ session: statement.session, body: current });
      open.delete(statement.session);
    } else current?.push(statement);
  }
  for (const [session, body] of open) done.push({ session, body });
  return done;
}

const lockFirst: Rule = {
  id: 'lock first',
  doc: page('Serializable isolation', 'c_serial_isolation.html'),
  says:
    'A snapshot is taken at the first SELECT or DML of a transaction; to force serialization instead of error 1023, "Lock all tables at the beginning of the transaction, before performing any operations". Every transaction opens with LOCK.',
  check: (statements) =>
    transactions(statements)
      .filter(({ body }) => body.length > 0 && command(tokenize(body[0]!.sql)) !== 'LOCK')
      .map(({ body }) => ({ rule: 'lock first', sql: body[0]!.sql, why: 'opens a transaction without a LOCK first' })),
};

const notInTransaction: Rule = {
  id: 'not in a transaction',
  doc: page('TRUNCATE', 'r_TRUNCATE.html'),
  says:
    '"TRUNCATE commits the transaction in which it is run"; VACUUM: "You can\'t run VACUUM within a transaction block" (r_VACUUM_command.html). SET: the SET page states no such restriction; this project keeps SET out of Redshift transactions, because its only SET (work_mem) is PostgreSQL\'s.',
  check: (statements) =>
    transactions(statements).flatMap(({ body }) =>
      body
        .filter(({ sql }) => ['TRUNCATE', 'VACUUM', 'SET'].includes(command(tokenize(sql))))
        .map(({ sql }) => ({ rule: 'not in a transaction', sql, why: `${command(tokenize(sql))} runs inside a transaction` })),
    ),
};

// ---------------------------------------------------------------------------------------------------------
// Statements and constructs

const mergeShape: Rule = {
  id: 'MERGE shape',
  doc: page('MERGE', 'r_MERGE.html'),
  says:
    'MERGE INTO target_table USING source_table ON match_condition [WHEN MATCHED THEN {UPDATE ... | DELETE} WHEN NOT MATCHED THEN INSERT ...]: one clause of each, no condition on either; "You can\'t use the WITH clause in a MERGE statement". The source is kept a table (the page now also allows a subquery; its earlier version did not).',
  check: (statements) =>
    statements.flatMap(({ sql }) => {
      const tokens = tokenize(sql);
      if (command(tokens) === 'WITH' && tokens.some((t) => t.upper === 'MERGE')) return [{ rule: 'MERGE shape', sql, why: 'MERGE after WITH' }];
      if (command(tokens) !== 'MERGE') return [];
      const why: string[] = [];
      const using = tokens.findIndex((t) => t.upper === 'USING' && t.depth === 0);
      if (using === -1 || tokens[using + 1]?.type !== 'word' || tokens[using + 1]?.upper === 'SELECT') why.push('its source is not a table');
      if (tokens.some((t) => t.upper === '(' && tokens[tokens.indexOf(t) + 1]?.upper === 'SELECT')) why.push('it holds a subquery');
      const whens = tokens.map((t, i) => (t.upper === 'WHEN' && t.depth === 0 ? i : -1)).filter((i) => i >= 0);
      const matched = whens.filter((i) => wordsAt(tokens, i, 'WHEN', 'MATCHED'));
      const notMatched = whens.filter((i) => wordsAt(tokens, i, 'WHEN', 'NOT', 'MATCHED'));
      if (matched.length !== 1) why.push(`${matched.length} WHEN MATCHED clauses`);
      if (notMatched.length !== 1) why.push(`${notMatched.length} WHEN NOT MATCHED clauses`);
      for (const i of [...matched, ...notMatched]) {
        const then = tokens.findIndex((t, k) => k > i && t.upper === 'THEN');
        const words = tokens.slice(i + 1, then).map((t) => t.upper);
        if (words.join(' ') !== 'MATCHED' && words.join(' ') !== 'NOT MATCHED') why.push(`a condition on WHEN ${words.join(' ')}`);
      }
      return why.map((w) => ({ rule: 'MERGE shape', sql, why: w }));
    }),
};

/** PostgreSQL constructs Redshift lacks, each as a token pattern. */
const UNSUPPORTED: readonly { readonly what: string; readonly found: (tokens: readonly Token[], i: number) => boolean }[] = [
  { what: 'INSERT ... ON CONFLICT', found: (t, i) => wordsAt(t, i, 'ON', 'CONFLICT') },
  { what: 'DISTINCT ON', found: (t, i) => wordsAt(t, i, 'DISTINCT', 'ON') },
  { what: 'an aggregate FILTER clause', found: (t, i) => wordsAt(t, i, 'FILTER') && t[i + 1]?.upper === '(' },
  { what: 'RETURNING', found: (t, i) => wordsAt(t, i, 'RETURNING') },
  { what: 'a :: cast', found: (t, i) => t[i]!.upper === '::' },
  { what: 'an array', found: (t, i) => t[i]!.upper === '[' || wordsAt(t, i, 'ARRAY') },
  { what: 'an advisory lock', found: (t, i) => t[i]!.type === 'word' && /advisory/i.test(t[i]!.text) },
  { what: 'COPY from the client (FROM STDIN)', found: (t, i) => wordsAt(t, i, 'FROM', 'STDIN') },
  { what: 'a COLLATE clause (Redshift has the COLLATE function only)', found: (t, i) => wordsAt(t, i, 'COLLATE') && t[i + 1]?.type === 'quoted' },
  { what: 'GENERATED ... AS IDENTITY (Redshift: IDENTITY(seed, step))', found: (t, i) => wordsAt(t, i, 'GENERATED') },
];

const postgresOnly: Rule = {
  id: 'PostgreSQL-only constructs',
  doc: page('Unsupported PostgreSQL features', 'c_unsupported-postgresql-features.html'),
  says:
    'The page lists array constructors and subscripts and locale collations (COLLATE "C") as unsupported; "Unsupported PostgreSQL functions" (c_unsupported-postgresql-functions.html) lists advisory lock functions. ON CONFLICT, DISTINCT ON, RETURNING and FILTER are not in the syntax of Redshift\'s INSERT, SELECT and DELETE pages, nor FROM STDIN in its COPY page. `::` is Redshift syntax too, but kept out so one CAST text serves every engine.',
  check: (statements) =>
    statements.flatMap(({ sql }) => {
      const tokens = tokenize(sql);
      const seen = UNSUPPORTED.filter(({ found }) => tokens.some((_, i) => found(tokens, i)));
      return seen.map(({ what }) => ({ rule: 'PostgreSQL-only constructs', sql, why: `uses ${what}` }));
    }),
};

const AGGREGATES = new Set(['SUM', 'COUNT', 'AVG', 'MIN', 'MAX', 'STDDEV', 'STDDEV_SAMP', 'STDDEV_POP', 'VARIANCE', 'VAR_SAMP', 'VAR_POP', 'LISTAGG', 'MEDIAN', 'FIRST_VALUE', 'LAST_VALUE']);

const windowFrames: Rule = {
  id: 'window frames',
  doc: page('Window functions', 'c_Window_functions.html'),
  says: '"If an ORDER BY clause is used for an aggregate function, an explicit frame clause is required."',
  check: (statements) =>
    statements.flatMap(({ sql }) => {
      const tokens = tokenize(sql);
      const violations: Violation[] = [];
      tokens.forEach((t, i) => {
        if (t.type !== 'word' || !AGGREGATES.has(t.upper) || tokens[i + 1]?.upper !== '(') return;
        const close = closingParen(tokens, i + 1);
        if (tokens[close + 1]?.upper !== 'OVER' || tokens[close + 2]?.upper !== '(') return;
        const window = tokens.slice(close + 3, closingParen(tokens, close + 2)).map((w) => w.upper);
        if (window.includes('ORDER') && !window.includes('ROWS')) violations.push({ rule: 'window frames', sql, why: `${t.text}() OVER (... ORDER BY ...) has no ROWS frame` });
      });
      return violations;
    }),
};

// ---------------------------------------------------------------------------------------------------------
// COPY

interface CopyShape {
  readonly sql: string;
  readonly table: string;
  readonly from: string;
  readonly manifest: boolean;
  readonly json: boolean;
  readonly region: string | undefined;
  readonly maxErrors: number | undefined;
}

function copies(statements: readonly RecordedStatement[]): CopyShape[] {
  return statements
    .filter(({ sql }) => command(tokenize(sql)) === 'COPY')
    .map(({ sql }) => {
      const tokens = tokenize(sql);
      const after = (word: string) => tokens[tokens.findIndex((t) => t.upper === word && t.type === 'word' && t.depth === 0) + 1];
      const has = (word: string) => tokens.some((t) => t.upper === word && t.type === 'word' && t.depth === 0);
      return {
        sql,
        table: tokens[1]?.text ?? '',
        from: after('FROM')?.text ?? '',
        manifest: has('MANIFEST'),
        json: has('JSON'),
        region: has('REGION') ? after('REGION')?.text : undefined,
        maxErrors: has('MAXERROR') ? Number(after('MAXERROR')?.text) : undefined,
      };
    });
}

const stagingRegion: Rule = {
  id: 'COPY REGION',
  doc: page('COPY from Amazon S3', 'copy-parameters-data-source-s3.html'),
  says:
    '"If the REGION parameter is specified, all resources, including a manifest file or multiple Amazon S3 buckets, must be located in the specified Region"; "By default, COPY assumes that the data is located in the same Region as the Amazon Redshift cluster". So the staging COPY names the staging bucket\'s region, or none.',
  check: (statements, context) =>
    copies(statements)
      .filter((c) => c.manifest && c.region !== context.stagingRegion)
      .map((c) => ({
        rule: 'COPY REGION',
        sql: c.sql,
        why: c.region === undefined ? `no REGION, though the staging bucket is in ${context.stagingRegion}` : `REGION '${c.region}' on the staging manifest COPY, which is not the staging bucket's region (${context.stagingRegion ?? "the cluster's"})`,
      })),
};

const maxErrorCount: Rule = {
  id: 'MAXERROR',
  doc: page('Data load operations', 'copy-parameters-data-load.html'),
  says: 'If the load returns the error_count number of errors or greater, the load fails. To tolerate n rejected lines, MAXERROR is n + 1.',
  check: (statements, context) =>
    copies(statements)
      .filter((c) => c.json && context.toleratedErrors !== undefined && c.maxErrors !== context.toleratedErrors + 1)
      .map((c) => ({ rule: 'MAXERROR', sql: c.sql, why: `MAXERROR ${c.maxErrors ?? 'absent'} tolerates ${c.maxErrors === undefined ? 0 : c.maxErrors - 1} errors, not ${context.toleratedErrors}` })),
};

const manifestNotEmpty: Rule = {
  id: 'no empty manifest',
  doc: page('Using a manifest to specify data files', 'loading-data-files-using-manifest.html'),
  says: '"Regardless of any mandatory settings, COPY will terminate if no files are found": a manifest listing no file is not COPYed; the staging table is left empty instead.',
  async check(statements, context) {
    const violations: Violation[] = [];
    for (const c of copies(statements).filter((x) => x.manifest)) {
      const entries = context.manifestEntries ? await context.manifestEntries(c.from) : 1;
      if (entries === 0) violations.push({ rule: 'no empty manifest', sql: c.sql, why: `COPY of ${c.table} from a manifest with no entries` });
    }
    return violations;
  },
};

const plainText: Rule = {
  id: 'values as literals',
  doc: page('PREPARE', 'r_PREPARE.html'),
  says:
    'Parameters ($1, $2, ...) are documented for SQL-level PREPARE only, not for the wire protocol\'s bind step: every value reaches Redshift written into the statement as a checked literal.',
  check: (statements) =>
    statements
      .filter(({ sql, params }) => params.length > 0 || tokenize(sql).some((t) => t.type === 'param'))
      .map(({ sql }) => ({ rule: 'values as literals', sql, why: 'sends a bind parameter' })),
};

export const REDSHIFT_RULES: readonly Rule[] = [
  plainText,
  reservedWords,
  typeNameQualifier,
  lockFirst,
  notInTransaction,
  mergeShape,
  postgresOnly,
  windowFrames,
  stagingRegion,
  maxErrorCount,
  manifestNotEmpty,
];

/** Every violation of every rule in `statements`. */
export async function violations(statements: readonly RecordedStatement[], context: RuleContext = {}, rules: readonly Rule[] = REDSHIFT_RULES): Promise<Violation[]> {
  const all: Violation[] = [];
  for (const rule of rules) all.push(...(await rule.check(statements, context)));
  return all;
}
