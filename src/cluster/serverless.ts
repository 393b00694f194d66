import {
  CreateNamespaceCommand,
  CreateWorkgroupCommand,
  DeleteNamespaceCommand,
  DeleteWorkgroupCommand,
  GetNamespaceCommand,
  GetWorkgroupCommand,
  ListTagsForResourceCommand,
  UpdateNamespaceCommand,
  type GetNamespaceCommandOutput,
  type GetWorkgroupCommandOutput,
  type ListTagsForResourceCommandOutput,
  type Namespace,
  type Workgroup,
} from '@aws-sdk/client-redshift-serverless';
import { EtlError } from '../errors.js';
import type { AwsCalls } from './aws.js';
import type { ClusterSpec } from './spec.js';
import { TAG_KEY, TAG_VALUE, isOurs } from './tags.js';
import { waitFor, type Clock } from './wait.js';

// Serverless spells its tags in lower case.
const TAGS = [{ key: TAG_KEY, value: TAG_VALUE }];
const ABSENT = ['ResourceNotFound'];

export const findNamespace = async (calls: AwsCalls, name: string): Promise<Namespace | undefined> =>
  (await calls.send<GetNamespaceCommandOutput>('serverless', new GetNamespaceCommand({ namespaceName: name }), ABSENT))?.namespace;
export const findWorkgroup = async (calls: AwsCalls, name: string): Promise<Workgroup | undefined> =>
  (await calls.send<GetWorkgroupCommandOutput>('serverless', new GetWorkgroupCommand({ workgroupName: name }), ABSENT))?.workgroup;

export async function hasOurTag(calls: AwsCalls, arn: string | undefined): Promise<boolean> {
  if (!arn) return false;
  const out = await calls.send<ListTagsForResourceCommandOutput>('serverless', new ListTagsForResourceCommand({ resourceArn: arn }));
  return isOurs((out?.tags ?? []).map((t) => ({ Key: t.key, Value: t.value })));
}

/** The namespace (database, admin user, role) and the workgroup (compute, network), each made or completed. */
export async function ensureServerless(
  calls: AwsCalls,
  spec: ClusterSpec,
  password: () => Promise<string>,
  roleArn: string,
  group: string,
  log: (line: string) => void,
): Promise<void> {
  const name = spec.identifier;
  const namespace = await findNamespace(calls, name);
  if (namespace?.status === 'DELETING') throw new EtlError(`Namespace ${name} is being deleted: wait until \`etl cluster status\` shows it gone, then run \`etl cluster create\` again`);
  if (!namespace) {
    await calls.send(
      'serverless',
      new CreateNamespaceCommand({
        namespaceName: name,
        dbName: spec.database,
        adminUsername: spec.user,
        adminUserPassword: await password(),
        iamRoles: [roleArn],
        defaultIamRoleArn: roleArn,
        tags: TAGS,
      }),
    );
    log(`namespace ${name}: created`);
  } else if (!(namespace.iamRoles ?? []).some((role) => role.includes(roleArn))) {
    // iamRoles come back as "IamRole(applyStatus=..., iamRoleArn=...)" strings: a substring test finds the ARN.
    await calls.send('serverless', new UpdateNamespaceCommand({ namespaceName: name, iamRoles: [roleArn], defaultIamRoleArn: roleArn }));
    log(`namespace ${name}: role attached`);
  } else {
    log(`namespace ${name}: exists`);
  }
  const workgroup = await findWorkgroup(calls, name);
  if (workgroup?.status === 'DELETING') throw new EtlError(`Workgroup ${name} is being deleted: wait until \`etl cluster status\` shows it gone, then run \`etl cluster create\` again`);
  if (!workgroup) {
    await calls.send(
      'serverless',
      new CreateWorkgroupCommand({
        workgroupName: name,
        namespaceName: name,
        baseCapacity: spec.baseCapacity,
        port: spec.port,
        publiclyAccessible: true,
        securityGroupIds: [group],
        tags: TAGS,
      }),
    );
    log(`workgroup ${name}: creating`);
  } else {
    log(`workgroup ${name}: exists (${workgroup.status ?? 'unknown'})`);
  }
}

export function waitForWorkgroup(calls: AwsCalls, name: string, clock: Clock, log: (line: string) => void): Promise<{ host: string; port: number }> {
  return waitFor<{ host: string; port: number }>(
    `workgroup ${name}`,
    async () => {
      const workgroup = await findWorkgroup(calls, name);
      const address = workgroup?.endpoint?.address;
      if (workgroup?.status === 'AVAILABLE' && address) return { done: { host: address, port: workgroup.endpoint?.port ?? 5439 } };
      return { state: workgroup?.status?.toLowerCase() ?? 'not visible yet' };
    },
    { clock, log },
  );
}

/** Deletes the workgroup, waits for it to go (a namespace with a workgroup cannot be deleted), then the namespace; ours only. */
export async function deleteServerless(
  calls: AwsCalls,
  name: string,
  workgroup: Workgroup | undefined,
  finalSnapshot: string | undefined,
  clock: Clock,
  log: (line: string) => void,
): Promise<string[]> {
  const done: string[] = [];
  if (workgroup) {
    if (!(await hasOurTag(calls, workgroup.workgroupArn))) {
      throw new EtlError(`Workgroup ${name} was not made by sparkify-etl (no tag ${TAG_KEY}=${TAG_VALUE}): delete it in the AWS console, or set another DWH.DWH_CLUSTER_IDENTIFIER`);
    }
    if (workgroup.status !== 'DELETING') await calls.send('serverless', new DeleteWorkgroupCommand({ workgroupName: name }));
    await waitFor(`workgroup ${name}`, async () => ((await findWorkgroup(calls, name)) ? { state: 'deleting' } : { done: true }), { clock, log });
    done.push(`workgroup ${name}: deleted`);
  }
  const namespace = await findNamespace(calls, name);
  if (namespace) {
    if (!(await hasOurTag(calls, namespace.namespaceArn))) {
      throw new EtlError(`Namespace ${name} was not made by sparkify-etl (no tag ${TAG_KEY}=${TAG_VALUE}): delete it in the AWS console, or set another DWH.DWH_CLUSTER_IDENTIFIER`);
    }
    if (namespace.status !== 'DELETING') {
      await calls.send('serverless', new DeleteNamespaceCommand({ namespaceName: name, ...(finalSnapshot ? { finalSnapshotName: finalSnapshot } : {}) }));
    }
    done.push(`namespace ${name}: deleting${finalSnapshot ? `, final snapshot ${finalSnapshot}` : ', no final snapshot'}`);
  }
  return done;
}
