import {
  AttachRolePolicyCommand,
  CreateRoleCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  DetachRolePolicyCommand,
  GetRoleCommand,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
  PutRolePolicyCommand,
  type AttachedPolicy,
  type GetRoleCommandOutput,
  type ListAttachedRolePoliciesCommandOutput,
  type ListRolePoliciesCommandOutput,
  type CreateRoleCommandOutput,
} from '@aws-sdk/client-iam';
import type { AwsCalls } from './aws.js';
import { isOurs, TAGS } from './tags.js';

export const TRUST_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'redshift.amazonaws.com' }, Action: 'sts:AssumeRole' }],
});
export const POLICY_NAME = 'sparkify-etl-s3-read';
export const S3_READ_ONLY_ARN = 'arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess';

/** Read access to `buckets` only: what COPY needs (list, locate, get), and nothing of the account's other buckets. */
export const bucketPolicy = (buckets: readonly string[]): string =>
  JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: ['s3:ListBucket', 's3:GetBucketLocation'], Resource: buckets.map((b) => `arn:aws:s3:::${b}`) },
      { Effect: 'Allow', Action: ['s3:GetObject'], Resource: buckets.map((b) => `arn:aws:s3:::${b}/*`) },
    ],
  });

export interface RoleState {
  readonly arn: string;
  readonly created: boolean;
  readonly ours: boolean;
}

export const findRole = async (calls: AwsCalls, name: string) =>
  (await calls.send<GetRoleCommandOutput>('iam', new GetRoleCommand({ RoleName: name }), ['NoSuchEntity']))?.Role;

/**
 * The role Redshift assumes for COPY: found, or made with the trust policy for redshift.amazonaws.com and the
 * tag. A role of ours gets its S3 policy (again: PutRolePolicy replaces, so a re-run completes a half-made role);
 * a role someone else made is used as it is.
 */
export async function ensureRole(calls: AwsCalls, name: string, buckets: readonly string[], account: string, log: (line: string) => void): Promise<RoleState> {
  const existing = await findRole(calls, name);
  let arn = existing?.Arn ?? `arn:aws:iam::${account}:role/${name}`;
  const ours = existing ? isOurs(existing.Tags) : true;
  if (!existing) {
    const made = await calls.send<CreateRoleCommandOutput>(
      'iam',
      new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: TRUST_POLICY, Description: 'Redshift COPY from S3, made by sparkify-etl', Tags: TAGS }),
    );
    arn = made?.Role?.Arn ?? arn;
    log(`role ${name}: created`);
  } else {
    log(`role ${name}: exists${ours ? '' : ' (not made by sparkify-etl: used as it is)'}`);
  }
  if (ours) {
    // Limited to the configured buckets when there are any; with only local folders configured, read-only to all.
    if (buckets.length) {
      await calls.send('iam', new PutRolePolicyCommand({ RoleName: name, PolicyName: POLICY_NAME, PolicyDocument: bucketPolicy(buckets) }));
    } else {
      await calls.send('iam', new AttachRolePolicyCommand({ RoleName: name, PolicyArn: S3_READ_ONLY_ARN }));
    }
  }
  return { arn, created: !existing, ours };
}

/** Deletes the role if it carries the tag (its inline and attached policies first, as IAM requires); says what it did. */
export async function deleteRole(calls: AwsCalls, name: string): Promise<string> {
  const role = await findRole(calls, name);
  if (!role) return `role ${name}: not there`;
  if (!isOurs(role.Tags)) return `role ${name}: kept (not made by sparkify-etl)`;
  const inline = await calls.send<ListRolePoliciesCommandOutput>('iam', new ListRolePoliciesCommand({ RoleName: name }));
  for (const policy of inline?.PolicyNames ?? []) await calls.send('iam', new DeleteRolePolicyCommand({ RoleName: name, PolicyName: policy }));
  const attached = await calls.send<ListAttachedRolePoliciesCommandOutput>('iam', new ListAttachedRolePoliciesCommand({ RoleName: name }));
  for (const policy of attached?.AttachedPolicies ?? ([] as AttachedPolicy[])) {
    await calls.send('iam', new DetachRolePolicyCommand({ RoleName: name, PolicyArn: policy.PolicyArn }));
  }
  await calls.send('iam', new DeleteRoleCommand({ RoleName: name }));
  return `role ${name}: deleted`;
}
