import { InvalidArgumentError, type Command } from 'commander';
import type { Config } from '../config/config.js';
import type { ClusterDeps } from './commands.js';

// The AWS SDK clients behind these commands take most of a second of CPU to load: loaded only when a cluster
// command runs, not by every `etl` command.
const commands = () => import('./commands.js');
const clusterDeps = async (...args: Parameters<typeof import('./deps.js').clusterDeps>): Promise<ClusterDeps> =>
  (await import('./deps.js')).clusterDeps(...args);

/** `etl cluster create|status|delete`: the warehouse of [DWH] made, shown and removed. */
export function registerClusterCommands(program: Command, configOf: () => Config, out: (text: string) => void): void {
  const quiet = () => Boolean(program.opts<{ quiet?: boolean }>().quiet);
  const cluster = program
    .command('cluster')
    .description('make, show or remove the Redshift warehouse of [DWH] (KIND provisioned or serverless) with its IAM role and ingress rule');

  cluster
    .command('create')
    .description('create (or complete) the IAM role, the ingress rule for your address, and the cluster or Serverless workgroup; wait until available; write CLUSTER.* and IAM_ROLE.ARN into the config file')
    .option('--cidr <cidr>', 'who may connect, e.g. 203.0.113.7/32 (default: this machine\'s public address)', (value: string) => {
      if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(value)) throw new InvalidArgumentError(`--cidr must be an IPv4 CIDR such as 203.0.113.7/32, got "${value}"`);
      return value;
    })
    .option('--no-write', 'print the settings instead of writing them into the config file')
    .option('--dry-run', 'print every AWS call create would make on an empty account, with its parameters (secrets masked); send none')
    .action(async (opts: { cidr?: string; write: boolean; dryRun?: boolean }) => {
      const lines: string[] = [];
      const deps = await clusterDeps(configOf(), { dryRun: opts.dryRun, quiet: quiet() || opts.dryRun, print: (line) => lines.push(line) });
      const { createCluster, formatSettings } = await commands();
      const result = await createCluster(deps, { cidr: opts.cidr, write: opts.write });
      if (opts.dryRun) {
        out(`${lines.join('\n')}\n(dry run: nothing sent; a real run then polls until available and writes these settings)\n${formatSettings(result.settings)}`);
      } else if (result.written) {
        out(`Wrote CLUSTER.HOST, DB_NAME, DB_USER, DB_PORT and IAM_ROLE.ARN into ${result.written}; set WAREHOUSE.ENGINE = redshift and run \`etl preflight\`\n`);
      } else {
        out(formatSettings(result.settings));
      }
    });

  cluster
    .command('status')
    .description('state, endpoint, nodes, role, ingress and an hourly cost estimate of the [DWH] warehouse')
    .action(async () => out(await (await commands()).clusterStatus(await clusterDeps(configOf(), { quiet: quiet(), print: () => {} }))));

  cluster
    .command('delete')
    .description('delete the cluster (a final snapshot unless --skip-final-snapshot), and the ingress rule and role sparkify-etl made; nothing it did not make')
    .option('--yes', 'do not ask (needed when not on a terminal)')
    .option('--skip-final-snapshot', 'delete without a final snapshot: the data is gone for good')
    .action(async (opts: { yes?: boolean; skipFinalSnapshot?: boolean }) => {
      const done = await (await commands()).deleteClusterResources(await clusterDeps(configOf(), { quiet: quiet(), print: () => {} }), opts);
      out(done.map((line) => `${line}\n`).join(''));
    });
}
