/**
 * Each Redshift rule catches what it forbids: a violation planted into otherwise valid statements is found,
 * by that rule, and the valid statements pass.
 */
import { describe, expect, it } from 'vitest';
import type { RecordedStatement } from '../../../../src/load/recording-session.js';
import { createTables, transformSteps } from '../../../../src/load/queries.js';
import { redshiftDialect } from '../../../../src/load/redshift/redshift-dialect.js';
import { RESERVED_WORDS, REDSHIFT_RULES, violations, type RuleContext } from './redshift-rules.js';

const main = (...sql: string[]): RecordedStatement[] => sql.map((s) => ({ sql: s, params: [], session: 'main' }));
const rulesBroken = async (statements: RecordedStatement[], context: RuleContext = {}) => [...new Set((await violations(statements, context)).map((v) => v.rule))];

const MANIFEST_COPY = (extra = '') => `COPY staging_songs (song_id, title)
FROM 's3://staging-bucket/run-1/staging_songs.manifest'
IAM_ROLE 'arn:aws:iam::123456789012:role/dwhRole'${extra}
MANIFEST CSV GZIP NULL AS '\\\\N'
COMPUPDATE OFF`;
const JSON_COPY = (maxError: number) => `COPY staging_events (artist, ts)
FROM 's3://udacity-dend/log_data'
IAM_ROLE 'arn:aws:iam::123456789012:role/dwhRole'
REGION 'us-west-2'
FORMAT AS JSON 's3://udacity-dend/log_json_path.json'
MAXERROR ${maxError}
COMPUPDATE OFF`;

describe('the Redshift rules', () => {
  it('hold for the DDL and the transform as the pipeline builds them', async () => {
    const transform = ['BEGIN', 'LOCK load_ledger', ...transformSteps(redshiftDialect).map((s) => s.sql), 'COMMIT'];
    expect(await violations(main(...createTables(redshiftDialect), ...transform))).toEqual([]);
  });

  it('the reserved-word list is the docs\' whole list', () => {
    expect(RESERVED_WORDS.size).toBeGreaterThan(150);
    for (const word of ['RAW', 'OFFSET', 'TIMESTAMP', 'USER', 'TAG', 'OPEN']) expect(RESERVED_WORDS.has(word), word).toBe(true);
  });

  const planted: [rule: string, statements: RecordedStatement[], context?: RuleContext][] = [
    ['values as literals', main('SELECT source_key, version FROM load_ledger WHERE kind = $1')],
    ['values as literals', [{ sql: 'SELECT 1', params: ['songs'], session: 'main' }]],
    ['reserved words', main('CREATE TABLE IF NOT EXISTS load_errors (\n  run_id VARCHAR(64),\n  raw VARCHAR(65535)\n)')],
    ['reserved words', main('SELECT RTRIM(raw_line) AS raw FROM stl_load_errors')],
    ['reserved words', main('SELECT e.offset FROM staging_events e')],
    ['reserved words', main('CREATE TABLE IF NOT EXISTS t (\n  oid INTEGER\n)')],
    ['reserved words', main('CREATE TABLE IF NOT EXISTS t (\n  "user" VARCHAR(8),\n  tag VARCHAR(8)\n)')],
    ['type names as qualifiers', main('DELETE FROM time WHERE NOT EXISTS (SELECT 1 FROM songplays p WHERE p.start_time = time.start_time)')],
    ['lock first', main('BEGIN', 'SELECT COUNT(*) AS n FROM songplays', 'LOCK load_ledger', 'COMMIT')],
    ['not in a transaction', main('BEGIN', 'LOCK load_ledger', 'TRUNCATE staging_events', 'COMMIT')],
    ['not in a transaction', main('BEGIN', 'LOCK load_ledger', "SET LOCAL work_mem = '128MB'", 'COMMIT')],
    ['not in a transaction', main('BEGIN', 'LOCK load_ledger', 'VACUUM songplays', 'COMMIT')],
    ['MERGE shape', main('MERGE INTO songs USING (SELECT * FROM batch_songs) b ON songs.song_id = b.song_id\nWHEN MATCHED THEN UPDATE SET title = b.title\nWHEN NOT MATCHED THEN INSERT (song_id) VALUES (b.song_id)')],
    ['MERGE shape', main('MERGE INTO songs USING batch_songs b ON songs.song_id = b.song_id\nWHEN MATCHED AND b.title <> songs.title THEN UPDATE SET title = b.title\nWHEN NOT MATCHED THEN INSERT (song_id) VALUES (b.song_id)')],
    ['MERGE shape', main('MERGE INTO songs USING batch_songs b ON songs.song_id = b.song_id\nWHEN MATCHED THEN UPDATE SET title = b.title')],
    ['MERGE shape', main('WITH b AS (SELECT 1) MERGE INTO songs USING b ON songs.song_id = b.song_id\nWHEN MATCHED THEN DELETE\nWHEN NOT MATCHED THEN INSERT (song_id) VALUES (b.song_id)')],
    ['PostgreSQL-only constructs', main('INSERT INTO users (user_id) SELECT 1 ON CONFLICT DO NOTHING')],
    ['PostgreSQL-only constructs', main('SELECT DISTINCT ON (user_id) user_id FROM songplays')],
    ['PostgreSQL-only constructs', main("SELECT COUNT(*) FILTER (WHERE level = 'paid') FROM users")],
    ['PostgreSQL-only constructs', main('DELETE FROM users RETURNING user_id')],
    ['PostgreSQL-only constructs', main('SELECT ts::bigint FROM staging_events')],
    ['PostgreSQL-only constructs', main('SELECT ARRAY[1, 2]')],
    ['PostgreSQL-only constructs', main('SELECT pg_try_advisory_lock(1)')],
    ['PostgreSQL-only constructs', main('COPY staging_events (ts) FROM STDIN WITH (FORMAT csv)')],
    ['PostgreSQL-only constructs', main('SELECT song_id FROM songs ORDER BY song_id COLLATE "C"')],
    ['window frames', main('SELECT SUM(n) OVER (PARTITION BY user_id ORDER BY start_time) FROM t')],
    ['COPY REGION', main(MANIFEST_COPY("\nREGION 'us-west-2'"))],
    ['COPY REGION', main(MANIFEST_COPY()), { stagingRegion: 'eu-west-1' }],
    ['MAXERROR', main(JSON_COPY(1000)), { toleratedErrors: 1000 }],
    ['no empty manifest', main(MANIFEST_COPY()), { manifestEntries: async () => 0 }],
  ];

  it.each(planted)('%s: catches %j', async (rule, statements, context) => {
    // Some plants break a second rule as well (ON CONFLICT DO: DO is reserved, so is ARRAY).
    expect(await rulesBroken(statements, context)).toContain(rule);
  });

  it.each([
    ['a quoted reserved word', main('CREATE TABLE IF NOT EXISTS t (\n  "raw" VARCHAR(8)\n)')],
    ['a quoted "time" qualifier', main('SELECT "time".start_time FROM time')],
    ['a transaction that locks first', main('BEGIN', 'LOCK load_ledger', 'SELECT COUNT(*) AS n FROM songplays', 'COMMIT')],
    ['TRUNCATE outside a transaction', main('TRUNCATE staging_events')],
    ['a ranking window without a frame', main('SELECT ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY start_time) FROM t')],
    ['an aggregate window with a frame', main('SELECT SUM(n) OVER (ORDER BY start_time ROWS UNBOUNDED PRECEDING) FROM t')],
    ['an aggregate over the whole result', main('SELECT SUM(n) OVER () AS total FROM t')],
    ['MAXERROR of tolerated + 1', main(JSON_COPY(1001))],
    ['the staging region where one is set', main(MANIFEST_COPY("\nREGION 'eu-west-1'"))],
    ['a reserved word inside a string', main("SELECT 1 FROM t WHERE reason = 'raw offset'")],
  ] as const)('passes %s', async (_what, statements) => {
    const context: RuleContext = statements[0]!.sql.includes('MAXERROR') ? { toleratedErrors: 1000 } : statements[0]!.sql.includes('eu-west-1') ? { stagingRegion: 'eu-west-1' } : {};
    expect(await violations([...statements], context)).toEqual([]);
  });

  it('every rule cites the page of the Redshift docs it comes from', () => {
    for (const rule of REDSHIFT_RULES) expect(rule.doc.url, rule.id).toMatch(/^https:\/\/docs\.aws\.amazon\.com\/redshift\/latest\/dg\/[\w-]+\.html$/);
  });
});
