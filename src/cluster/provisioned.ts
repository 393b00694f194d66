import {
  CreateClusterCommand,
  DeleteClusterCommand,
  DescribeClustersCommand,
  ModifyClusterIamRolesCommand,
  type Cluster,
  type DescribeClustersCommandOutput,
} from '@aws-sdk/client-redshift';
import { EtlError } from '../errors.js';
import type { AwsCalls } from './aws.js';
import type { ClusterSpec } from './spec.js';
import { TAGS } from './tags.js';
import { waitFor, type Clock } from './wait.js';

export const findCluster = async (calls: AwsCalls, id: string): Promise<Cluster | undefined> =>
  (await calls.send<DescribeClustersCommandOutput>('redshift', new DescribeClustersCommand({ ClusterIdentifier: id }), ['ClusterNotFound']))?.Clusters?.[0];

/**
 * Creates the cluster, or completes one that exists: a cluster from an interrupted run may lack the role
 * (attached again); one being deleted cannot be reused.
 */
export async function ensureCluster(
  calls: AwsCalls,
  spec: ClusterSpec,
  existing: Cluster | undefined,
  password: () => Promise<string>,
  roleArn: string,
  group: string,
  log: (line: string) => void,
): Promise<void> {
  if (existing) {
    const state = existing.ClusterStatus ?? 'unknown';
    if (state === 'deleting' || state === 'final-snapshot') {
      throw new EtlError(`Cluster ${spec.identifier} is being deleted: wait until \`etl cluster status\` shows it gone, then run \`etl cluster create\` again`);
    }
    log(`cluster ${spec.identifier}: exists (${state})`);
    if (!(existing.IamRoles ?? []).some((role) => role.IamRoleArn === roleArn)) {
      await calls.send('redshift', new ModifyClusterIamRolesCommand({ ClusterIdentifier: spec.identifier, AddIamRoles: [roleArn] }));
      log(`cluster ${spec.identifier}: role attached`);
    }
    return;
  }
  await calls.send(
    'redshift',
    new CreateClusterCommand({
      ClusterIdentifier: spec.identifier,
      ClusterType: spec.clusterType,
      NodeType: spec.nodeType,
      ...(spec.clusterType === 'multi-node' ? { NumberOfNodes: spec.numNodes } : {}),
      DBName: spec.database,
      MasterUsername: spec.user,
      MasterUserPassword: await password(),
      Port: spec.port,
      IamRoles: [roleArn],
      VpcSecurityGroupIds: [group],
      // Reached from this machine through the ingress rule; a private cluster would need a VPN or a bastion.
      PubliclyAccessible: true,
      Encrypted: true,
      Tags: TAGS,
    }),
  );
  log(`cluster ${spec.identifier}: creating`);
}

/** Polls until the cluster is available with an endpoint (and the role's attachment is in sync). */
export function waitForCluster(calls: AwsCalls, id: string, clock: Clock, log: (line: string) => void): Promise<{ host: string; port: number }> {
  return waitFor<{ host: string; port: number }>(
    `cluster ${id}`,
    async () => {
      const cluster = await findCluster(calls, id);
      if (!cluster) return { state: 'not visible yet' };
      const address = cluster.Endpoint?.Address;
      const syncing = (cluster.IamRoles ?? []).some((role) => role.ApplyStatus === 'adding');
      if (cluster.ClusterStatus === 'available' && address && !syncing) return { done: { host: address, port: cluster.Endpoint?.Port ?? 5439 } };
      return { state: syncing && cluster.ClusterStatus === 'available' ? 'attaching role' : (cluster.ClusterStatus ?? 'unknown') };
    },
    { clock, log },
  );
}

export async function deleteCluster(calls: AwsCalls, cluster: Cluster, finalSnapshot: string | undefined): Promise<string> {
  const id = cluster.ClusterIdentifier!;
  if (cluster.ClusterStatus === 'deleting') return `cluster ${id}: already being deleted`;
  await calls.send(
    'redshift',
    new DeleteClusterCommand(finalSnapshot ? { ClusterIdentifier: id, SkipFinalClusterSnapshot: false, FinalClusterSnapshotIdentifier: finalSnapshot } : { ClusterIdentifier: id, SkipFinalClusterSnapshot: true }),
  );
  return `cluster ${id}: deleting${finalSnapshot ? `, final snapshot ${finalSnapshot}` : ', no final snapshot'}`;
}
