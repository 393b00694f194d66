import { askYesNo as ask } from '../ask.js';
import type { Config } from '../config/config.js';
import { createAwsClients, dryRunCalls, liveCalls } from './aws.js';
import type { ClusterDeps } from './commands.js';
import { lookupPublicIp } from './ingress.js';
import { promptPassword } from './password.js';
import { realClock } from './wait.js';

const onTerminal = () => Boolean(process.stdin.isTTY && process.stderr.isTTY);


/**
 * The real world for `etl cluster`: AWS clients from [AWS] keys or the credential chain, region from
 * DWH.DWH_REGION (else the SDK's, else S3.REGION), progress on stderr, prompts only on a terminal.
 * `print` receives the dry run's lines.
 */
export async function clusterDeps(config: Config, options: { dryRun?: boolean; quiet?: boolean; print: (line: string) => void }): Promise<ClusterDeps> {
  const clients = createAwsClients(config.dwh.DWH_REGION ?? '', config.s3.region, config.aws);
  const calls = options.dryRun ? dryRunCalls(options.print, await clients.sts.config.region().catch(() => config.s3.region)) : liveCalls(clients);
  return {
    calls,
    config,
    log: options.quiet ? () => {} : (line) => process.stderr.write(`etl: ${line}\n`),
    clock: realClock,
    lookupIp: lookupPublicIp,
    askPassword: onTerminal() ? () => promptPassword('Redshift admin password (not shown): ') : undefined,
    confirm: onTerminal() ? ask : undefined,
  };
}
