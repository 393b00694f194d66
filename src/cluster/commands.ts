import { GetCallerIdentityCommand, type GetCallerIdentityCommandOutput } from '@aws-sdk/client-sts';
import { MASK, type Config } from '../config/config.js';
import { EtlError } from '../errors.js';
import type { AwsCalls } from './aws.js';
import { updateIniFile, type IniUpdates } from './config-edit.js';
import { hourlyCost, serverlessCost } from './cost.js';
import { checkedCidr, defaultSecurityGroup, ensureIngress, portRules, revokeIngress } from './ingress.js';
import { checkedPassword, PASSWORD_VARIABLE } from './password.js';
import { deleteCluster, ensureCluster, findCluster, waitForCluster } from './provisioned.js';
import { deleteRole, ensureRole, findRole } from './role.js';
import { deleteServerless, ensureServerless, findNamespace, findWorkgroup, waitForWorkgroup } from './serverless.js';
import { clusterSpec, type ClusterSpec } from './spec.js';
import { isOurs, TAG_KEY, TAG_VALUE } from './tags.js';
import type { Clock } from './wait.js';

/** What the commands need from outside, injectable so tests run without a network, a terminal or waiting. */
export interface ClusterDeps {
  readonly calls: AwsCalls;
  readonly config: Config;
  /** Progress and notices (stderr). */
  readonly log: (line: string) => void;
  readonly clock: Clock;
  /** The caller's public IPv4 address, asked only when no --cidr is given. */
  readonly lookupIp: () => Promise<string>;
  /** Asks for the admin password (echo off), or undefined when there is no terminal to ask on. */
  readonly askPassword?: () => Promise<string>;
  /** Asks a yes/no question, or undefined when there is no terminal. */
  readonly confirm?: (question: string) => Promise<boolean>;
}

export interface CreateOptions {
  cidr?: string;
  /** Write the settings into the config file (default); false prints them only. */
  write?: boolean;
}

export interface CreateResult {
  /** The settings for dwh.cfg, by section. */
  readonly settings: IniUpdates;
  /** The file written, if any. */
  readonly written: string | undefined;
}

async function account(calls: AwsCalls): Promise<string> {
  // Also the first check of credentials and region, before anything is made.
  const identity = await calls.send<GetCallerIdentityCommandOutput>('sts', new GetCallerIdentityCommand({}));
  return identity?.Account ?? '<account-id>';
}

/** The password from DWH.DWH_DB_PASSWORD (best: SPARKIFY_DWH_DWH_DB_PASSWORD), else the prompt; asked only when a cluster is to be made. */
function passwordSource(deps: ClusterDeps): () => Promise<string> {
  return async () => {
    const given = deps.config.dwh.DWH_DB_PASSWORD ?? '';
    if (given) return checkedPassword(given);
    if (deps.calls.dryRun) return MASK;
    if (!deps.askPassword) {
      throw new EtlError(`No Redshift admin password: set ${PASSWORD_VARIABLE} (8-64 characters with upper and lower case and a digit), or run on a terminal to be asked`);
    }
    return checkedPassword(await deps.askPassword());
  };
}

async function cidrOf(deps: ClusterDeps, given: string | undefined): Promise<string> {
  if (given) return checkedCidr(given);
  if (deps.calls.dryRun) return '<your-public-ip>/32';
  const ip = await deps.lookupIp();
  deps.log(`ingress: this machine's public address is ${ip} (pass --cidr to choose another)`);
  return checkedCidr(`${ip}/32`);
}

const settingsFor = (spec: ClusterSpec, host: string, port: number, arn: string): IniUpdates => ({
  CLUSTER: { HOST: host, DB_NAME: spec.database, DB_USER: spec.user, DB_PORT: String(port) },
  IAM_ROLE: { ARN: arn },
});

/**
 * `etl cluster create`: role, ingress, cluster (or Serverless namespace + workgroup), wait, settings. Each
 * step looks first and makes only what is missing, so after a failure the same command completes the rest.
 */
export async function createCluster(deps: ClusterDeps, options: CreateOptions = {}): Promise<CreateResult> {
  const { calls, config, log } = deps;
  const spec = clusterSpec(config);
  // A weak password is refused before anything is made; one that is missing is asked for only when needed.
  if (config.dwh.DWH_DB_PASSWORD) checkedPassword(config.dwh.DWH_DB_PASSWORD);
  const password = passwordSource(deps);
  const cidr = await cidrOf(deps, options.cidr);
  const owner = await account(calls);
  const role = await ensureRole(calls, spec.roleName, spec.buckets, owner, log);

  let endpoint: { host: string; port: number };
  if (spec.kind === 'provisioned') {
    const existing = await findCluster(calls, spec.identifier);
    const group = existing?.VpcSecurityGroups?.[0]?.VpcSecurityGroupId ?? (await defaultSecurityGroup(calls));
    await ensureIngress(calls, group, spec.port, cidr, log);
    await ensureCluster(calls, spec, existing, password, role.arn, group, log);
    endpoint = calls.dryRun ? { host: `${spec.identifier}.<id>.${await calls.region()}.redshift.amazonaws.com`, port: spec.port } : await waitForCluster(calls, spec.identifier, deps.clock, log);
  } else {
    const workgroup = await findWorkgroup(calls, spec.identifier);
    const group = workgroup?.securityGroupIds?.[0] ?? (await defaultSecurityGroup(calls));
    await ensureIngress(calls, group, spec.port, cidr, log);
    await ensureServerless(calls, spec, password, role.arn, group, log);
    endpoint = calls.dryRun
      ? { host: `${spec.identifier}.<account-id>.${await calls.region()}.redshift-serverless.amazonaws.com`, port: spec.port }
      : await waitForWorkgroup(calls, spec.identifier, deps.clock, log);
  }
  const settings = settingsFor(spec, endpoint.host, endpoint.port, role.arn);
  const file = options.write === false || calls.dryRun ? undefined : (config.file ?? 'dwh.cfg');
  if (file) updateIniFile(file, settings);
  return { settings, written: file };
}

/** The settings as INI lines, for --no-write and the dry run. */
export const formatSettings = (settings: IniUpdates): string =>
  Object.entries(settings)
    .map(([section, keys]) => `[${section}]\n${Object.entries(keys).map(([k, v]) => `${k} = ${v}\n`).join('')}`)
    .join('');

/** `etl cluster status` as `label: value` lines. */
export async function clusterStatus(deps: ClusterDeps): Promise<string> {
  const { calls, config } = deps;
  const spec = clusterSpec(config);
  const region = await calls.region();
  const lines: [string, string][] = [];
  let group: string | undefined;
  if (spec.kind === 'provisioned') {
    const cluster = await findCluster(calls, spec.identifier);
    if (!cluster) {
      lines.push(['cluster', `${spec.identifier}: none in ${region} (\`etl cluster create\` makes it)`]);
    } else {
      const nodes = cluster.NumberOfNodes ?? 1;
      group = cluster.VpcSecurityGroups?.[0]?.VpcSecurityGroupId;
      lines.push(
        ['cluster', `${spec.identifier} in ${region}${isOurs(cluster.Tags) ? '' : ' (not made by sparkify-etl)'}`],
        ['state', cluster.ClusterStatus ?? 'unknown'],
        ['endpoint', cluster.Endpoint?.Address ? `${cluster.Endpoint.Address}:${cluster.Endpoint.Port ?? spec.port}` : '(none yet)'],
        ['nodes', `${nodes} x ${cluster.NodeType ?? spec.nodeType}`],
        ['roles', (cluster.IamRoles ?? []).map((r) => `${r.IamRoleArn} (${r.ApplyStatus})`).join(', ') || '(none)'],
        ['cost', hourlyCost(cluster.NodeType ?? spec.nodeType, nodes)],
      );
    }
  } else {
    const namespace = await findNamespace(calls, spec.identifier);
    const workgroup = await findWorkgroup(calls, spec.identifier);
    group = workgroup?.securityGroupIds?.[0];
    lines.push(
      ['namespace', namespace ? `${spec.identifier} in ${region}: ${namespace.status?.toLowerCase()}` : `${spec.identifier}: none in ${region} (\`etl cluster create\` makes it)`],
      ['workgroup', workgroup ? `${spec.identifier}: ${workgroup.status?.toLowerCase()}` : 'none'],
    );
    if (workgroup) {
      lines.push(
        ['endpoint', workgroup.endpoint?.address ? `${workgroup.endpoint.address}:${workgroup.endpoint.port ?? spec.port}` : '(none yet)'],
        ['capacity', `${workgroup.baseCapacity ?? spec.baseCapacity} RPU`],
        ['cost', serverlessCost(workgroup.baseCapacity ?? spec.baseCapacity)],
      );
    }
    if (namespace) lines.push(['roles', (namespace.iamRoles ?? []).join(', ') || '(none)']);
  }
  const role = await findRole(calls, spec.roleName);
  lines.push(['role', role ? `${role.Arn}${isOurs(role.Tags) ? '' : ' (not made by sparkify-etl)'}` : `${spec.roleName}: none`]);
  if (group) {
    const rules = await portRules(calls, group, spec.port);
    const described = rules.map((r) => `${r.CidrIpv4 ?? r.CidrIpv6 ?? r.ReferencedGroupInfo?.GroupId ?? '?'}${isOurs(r.Tags) ? ' (sparkify-etl)' : ''}`);
    lines.push(['ingress', `${group} tcp/${spec.port} from ${described.join(', ') || 'nowhere'}`]);
  }
  const width = Math.max(...lines.map(([label]) => label.length)) + 1;
  return lines.map(([label, value]) => `${`${label}:`.padEnd(width)} ${value}\n`).join('');
}

export interface DeleteOptions {
  yes?: boolean;
  skipFinalSnapshot?: boolean;
}

const snapshotName = (id: string, now: number) => `${id}-final-${new Date(now).toISOString().slice(0, 16).replace(/[-:T]/g, '')}`;

/**
 * `etl cluster delete`: the cluster (or workgroup and namespace), then the ingress rules and the role, each only
 * when it carries the sparkify-etl tag. A final snapshot is kept unless --skip-final-snapshot.
 */
export async function deleteClusterResources(deps: ClusterDeps, options: DeleteOptions = {}): Promise<string[]> {
  const { calls, config, log } = deps;
  const spec = clusterSpec(config);
  const region = await calls.region();
  if (!options.yes) {
    if (!deps.confirm) throw new EtlError(`Deleting ${spec.identifier} in ${region} needs a yes: pass --yes (off a terminal nobody can be asked)`);
    const snapshot = options.skipFinalSnapshot ? 'without a final snapshot' : 'keeping a final snapshot';
    if (!(await deps.confirm(`Delete ${spec.kind === 'provisioned' ? 'cluster' : 'Serverless namespace and workgroup'} ${spec.identifier} in ${region}, ${snapshot}, and the role and ingress rule sparkify-etl made? [y/N] `))) {
      throw new EtlError('Nothing deleted: answer y to delete, or pass --yes');
    }
  }
  const finalSnapshot = options.skipFinalSnapshot ? undefined : snapshotName(spec.identifier, deps.clock.now());
  const done: string[] = [];
  let group: string | undefined;
  if (spec.kind === 'provisioned') {
    const cluster = await findCluster(calls, spec.identifier);
    if (cluster) {
      if (!isOurs(cluster.Tags)) {
        throw new EtlError(`Cluster ${spec.identifier} was not made by sparkify-etl (no tag ${TAG_KEY}=${TAG_VALUE}): delete it in the AWS console, or set another DWH.DWH_CLUSTER_IDENTIFIER`);
      }
      group = cluster.VpcSecurityGroups?.[0]?.VpcSecurityGroupId;
      done.push(await deleteCluster(calls, cluster, finalSnapshot));
    } else {
      done.push(`cluster ${spec.identifier}: not there`);
    }
  } else {
    const workgroup = await findWorkgroup(calls, spec.identifier);
    group = workgroup?.securityGroupIds?.[0];
    done.push(...(await deleteServerless(calls, spec.identifier, workgroup, finalSnapshot, deps.clock, log)));
    if (!done.length) done.push(`namespace and workgroup ${spec.identifier}: not there`);
  }
  // After a cluster already gone (a second delete), the rule is still looked for where create puts it.
  group ??= await defaultSecurityGroup(calls).catch(() => undefined);
  if (group) done.push(await revokeIngress(calls, group));
  done.push(await deleteRole(calls, spec.roleName));
  return done;
}
