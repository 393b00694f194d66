import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli.js';

/** Runs the CLI in this process; captures what it prints. */
async function etl(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((out += String(chunk)), true));
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((err += String(chunk)), true));
  for (const [key, value] of Object.entries(env)) vi.stubEnv(key, value);
  try {
    return { code: await main(['node', 'etl', ...args]), out, err };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
    vi.unstubAllEnvs();
  }
}
afterEach(() => vi.unstubAllEnvs());

const CONFIG = `[S3]
LOG_DATA = s3://udacity-dend/log_data
SONG_DATA = s3://udacity-dend/song_data

[DWH]
DWH_REGION = us-west-2
DWH_CLUSTER_TYPE = single-node
DWH_NODE_TYPE = ra3.xlplus
DWH_IAM_ROLE_NAME = dwhRole
DWH_CLUSTER_IDENTIFIER = dwhCluster
DWH_DB = sparkify
DWH_DB_USER = dwhuser
DWH_PORT = 5439
`;

const configFile = async () => {
  const file = join(await mkdtemp(join(tmpdir(), 'sparkify-cluster-cli-')), 'dwh.cfg');
  await writeFile(file, CONFIG);
  return file;
};

describe('etl cluster', () => {
  it('create --dry-run prints the calls with the password masked, contacts nothing and writes nothing', async () => {
    const file = await configFile();
    const { code, out, err } = await etl(['--config', file, 'cluster', 'create', '--dry-run', '--cidr', '203.0.113.7/32'], { SPARKIFY_DWH_DWH_DB_PASSWORD: 'Sup3rSecretPw' });
    expect({ code, err }).toEqual({ code: 0, err: '' });
    expect(out).not.toContain('Sup3rSecretPw');
    expect(out).toContain('"MasterUserPassword":"********"');
    expect(out).toContain('redshift CreateCluster {"ClusterIdentifier":"dwhcluster","ClusterType":"single-node","NodeType":"ra3.xlplus","DBName":"sparkify"');
    expect(out).toContain('[IAM_ROLE]\nARN = arn:aws:iam::<account-id>:role/dwhRole\n');
    expect(await readFile(file, 'utf8')).toBe(CONFIG);
  });

  it('delete off a terminal without --yes stops with one line, before any call', async () => {
    const file = await configFile();
    const { code, err } = await etl(['--config', file, 'cluster', 'delete']);
    expect({ code, err }).toEqual({ code: 1, err: 'etl: Deleting dwhcluster in us-west-2 needs a yes: pass --yes (off a terminal nobody can be asked)\n' });
  });

  it('a bad --cidr is a usage error', async () => {
    const { code, err } = await etl(['cluster', 'create', '--cidr', 'home']);
    expect(code).toBe(2);
    expect(err).toContain('etl: --cidr must be an IPv4 CIDR such as 203.0.113.7/32, got "home"');
  });

  it('a weak password from the environment is refused in one line, never printed', async () => {
    const file = await configFile();
    const { code, err } = await etl(['--config', file, 'cluster', 'create', '--dry-run', '--cidr', '203.0.113.7/32'], { SPARKIFY_DWH_DWH_DB_PASSWORD: 'weakpass' });
    expect(code).toBe(1);
    expect(err).toBe('etl: The Redshift admin password (DWH.DWH_DB_PASSWORD, SPARKIFY_DWH_DWH_DB_PASSWORD) is refused: it needs an upper case letter\n');
  });
});
