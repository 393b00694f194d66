import {
  AuthorizeSecurityGroupIngressCommand,
  DescribeSecurityGroupRulesCommand,
  DescribeSecurityGroupsCommand,
  DescribeVpcsCommand,
  RevokeSecurityGroupIngressCommand,
  type DescribeSecurityGroupRulesCommandOutput,
  type DescribeSecurityGroupsCommandOutput,
  type DescribeVpcsCommandOutput,
  type SecurityGroupRule,
} from '@aws-sdk/client-ec2';
import { EtlError } from '../errors.js';
import type { AwsCalls } from './aws.js';
import { TAG_KEY, TAG_VALUE, TAGS, isOurs } from './tags.js';

/** An IPv4 CIDR, checked; the whole internet is refused: a warehouse open to everyone is what this replaces. */
export function checkedCidr(cidr: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr.trim());
  if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32) throw new EtlError(`--cidr "${cidr}" is not an IPv4 CIDR such as 203.0.113.7/32`);
  if (Number(m[5]) === 0) throw new EtlError(`--cidr ${cidr} opens the warehouse to the whole internet: pass your own address, e.g. 203.0.113.7/32`);
  return cidr.trim();
}

/** The caller's public IPv4 address, from AWS's own echo service; injectable, since tests have no network. */
export async function lookupPublicIp(): Promise<string> {
  try {
    const response = await fetch('https://checkip.amazonaws.com', { signal: AbortSignal.timeout(5000) });
    const ip = (await response.text()).trim();
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) throw new Error(`unexpected answer "${ip.slice(0, 40)}"`);
    return ip;
  } catch (error) {
    throw new EtlError(`Cannot find this machine's public IP address (${(error as Error).message}): pass --cidr <your-ip>/32`);
  }
}

/**
 * The default VPC's default security group: what a cluster or workgroup gets when none is named. The rule goes
 * there (a group of our own could not be deleted until the cluster's network interfaces are gone).
 */
export async function defaultSecurityGroup(calls: AwsCalls): Promise<string> {
  const vpcs = await calls.send<DescribeVpcsCommandOutput>('ec2', new DescribeVpcsCommand({ Filters: [{ Name: 'isDefault', Values: ['true'] }] }));
  const vpc = calls.dryRun ? '<default-vpc-id>' : vpcs?.Vpcs?.[0]?.VpcId;
  if (!vpc) throw new EtlError(`This region has no default VPC: make one with \`aws ec2 create-default-vpc\`, or set DWH.DWH_REGION to a region that has one`);
  const groups = await calls.send<DescribeSecurityGroupsCommandOutput>(
    'ec2',
    new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }, { Name: 'group-name', Values: ['default'] }] }),
  );
  const group = calls.dryRun ? '<default-security-group-id>' : groups?.SecurityGroups?.[0]?.GroupId;
  if (!group) throw new EtlError(`The default VPC ${vpc} has no default security group: name one in the console, or recreate the default VPC`);
  return group;
}

/** The group's ingress rules that let TCP `port` in. */
export async function portRules(calls: AwsCalls, group: string, port: number): Promise<SecurityGroupRule[]> {
  const out = await calls.send<DescribeSecurityGroupRulesCommandOutput>('ec2', new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [group] }] }));
  return (out?.SecurityGroupRules ?? []).filter(
    (r) => !r.IsEgress && (r.IpProtocol === '-1' || (r.IpProtocol === 'tcp' && (r.FromPort ?? 0) <= port && port <= (r.ToPort ?? 0))),
  );
}

/** Lets `cidr` in on `port`, tagged, unless a rule for exactly that is there already. */
export async function ensureIngress(calls: AwsCalls, group: string, port: number, cidr: string, log: (line: string) => void): Promise<void> {
  const rules = await portRules(calls, group, port);
  if (rules.some((r) => r.IpProtocol === 'tcp' && r.FromPort === port && r.ToPort === port && r.CidrIpv4 === cidr)) {
    log(`ingress ${group} tcp/${port} from ${cidr}: exists`);
    return;
  }
  await calls.send(
    'ec2',
    new AuthorizeSecurityGroupIngressCommand({
      GroupId: group,
      IpPermissions: [{ IpProtocol: 'tcp', FromPort: port, ToPort: port, IpRanges: [{ CidrIp: cidr, Description: 'Redshift for sparkify-etl' }] }],
      TagSpecifications: [{ ResourceType: 'security-group-rule', Tags: TAGS }],
    }),
  );
  log(`ingress ${group} tcp/${port} from ${cidr}: added`);
}

/** Revokes the rules of `group` that carry the tag, and no other; says what it did. */
export async function revokeIngress(calls: AwsCalls, group: string): Promise<string> {
  const out = await calls.send<DescribeSecurityGroupRulesCommandOutput>(
    'ec2',
    new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [group] }, { Name: `tag:${TAG_KEY}`, Values: [TAG_VALUE] }] }),
  );
  // The filter is the server's; the tag check is ours too, so an emulator that ignores filters cannot widen the delete.
  const ids = (out?.SecurityGroupRules ?? []).filter((r) => !r.IsEgress && isOurs(r.Tags)).map((r) => r.SecurityGroupRuleId!);
  if (!ids.length) return `ingress ${group}: no rule made by sparkify-etl`;
  await calls.send('ec2', new RevokeSecurityGroupIngressCommand({ GroupId: group, SecurityGroupRuleIds: ids }));
  return `ingress ${group}: revoked ${ids.join(', ')}`;
}
