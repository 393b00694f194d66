import { describeError, EtlError } from '../errors.js';

/** An AWS error's name without the SDK's `Fault`/`Exception` suffix, so `ClusterNotFoundFault` and `ClusterNotFound` match alike. */
export const awsErrorName = (error: unknown): string =>
  String((error as { name?: unknown } | undefined)?.name ?? '').replace(/(Fault|Exception)$/, '');

/** What to do about an error, by its name: AWS's own message says what went wrong, rarely what to change. */
const ADVICE: Record<string, (action: string) => string> = {
  AccessDenied: (action) => `give these credentials permission for ${action} (or use others: [AWS] KEY/SECRET, AWS_PROFILE)`,
  UnauthorizedOperation: (action) => `give these credentials permission for ${action} (or use others: [AWS] KEY/SECRET, AWS_PROFILE)`,
  Unauthorized: (action) => `give these credentials permission for ${action} (or use others: [AWS] KEY/SECRET, AWS_PROFILE)`,
  ClusterQuotaExceeded: () => 'delete a cluster you no longer need or ask AWS for a higher Redshift cluster quota in this region',
  NumberOfNodesQuotaExceeded: () => 'lower DWH.DWH_NUM_NODES or ask AWS for a higher Redshift node quota in this region',
  InsufficientClusterCapacity: () => 'try another DWH.DWH_NODE_TYPE or DWH.DWH_REGION, or retry later',
  InvalidClusterState: () => 'wait until `etl cluster status` shows the cluster available (or gone), then run the command again',
  ClusterAlreadyExists: () => 'the name is taken: choose another DWH.DWH_CLUSTER_IDENTIFIER',
  EntityAlreadyExists: () => 'the name is taken: choose another DWH.DWH_IAM_ROLE_NAME',
  Conflict: () => 'the name is taken or the resource is busy: choose another DWH.DWH_CLUSTER_IDENTIFIER, or wait and run the command again',
  InvalidClientTokenId: () => 'these AWS credentials are not valid: check [AWS] KEY/SECRET, AWS_ACCESS_KEY_ID or AWS_PROFILE',
  UnrecognizedClient: () => 'these AWS credentials are not valid (or DWH.DWH_REGION is not a region they can use): check them and the region',
  SignatureDoesNotMatch: () => 'the secret access key does not match the key id: check [AWS] SECRET or the profile',
  ExpiredToken: () => 'the session token has expired: renew the credentials (aws sso login, or a new [AWS] SESSION_TOKEN)',
  AuthFailure: () => 'these AWS credentials are not valid in this region: check them and DWH.DWH_REGION',
  OptInRequired: () => 'this region is not enabled for the account: enable it or set another DWH.DWH_REGION',
  InvalidParameterValue: () => 'fix the [DWH] setting it names',
  InvalidParameterCombination: () => 'fix the [DWH] settings it names (DWH_CLUSTER_TYPE single-node takes no DWH_NUM_NODES above 1)',
  UnsupportedOperation: () => 'the node type or option is not offered here: check DWH.DWH_NODE_TYPE and DWH.DWH_REGION',
  InvalidVPCNetworkState: () => 'the VPC needs subnets and an internet gateway: use the default VPC (`aws ec2 create-default-vpc`)',
};

/**
 * An AWS error as one line naming the call that failed and what to do. `service` and `action` name the call
 * (e.g. `redshift`, `CreateCluster`); `region` is the region it went to, named when the error may be a wrong region.
 */
export function awsError(error: unknown, service: string, action: string, region: string): EtlError {
  if (error instanceof EtlError) return error;
  const name = awsErrorName(error);
  const call = `${service}:${action}`;
  const raw = String((error as { name?: unknown } | undefined)?.name ?? '');
  const described = describeError(error).replace(/\.$/, '');
  const text = raw && raw !== 'Error' && !described.includes(raw) ? `${described} (${raw})` : described;
  if (name === 'CredentialsProvider' || /Could not load credentials/i.test(text)) {
    return new EtlError(`No AWS credentials found for ${call}: set [AWS] KEY and SECRET, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE`, { cause: error });
  }
  if (/Region is missing/i.test(text)) {
    return new EtlError(`No AWS region for ${call}: set DWH.DWH_REGION (or AWS_REGION), e.g. us-west-2 where the public udacity-dend bucket is`, { cause: error });
  }
  // An unknown region has no endpoint: the SDK builds a host name that does not resolve.
  const code = (error as { code?: unknown }).code;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || /getaddrinfo/.test(text)) {
    return new EtlError(`Cannot reach AWS for ${call} in region ${region} (${text}): check DWH.DWH_REGION is a real region such as us-west-2, and the network`, { cause: error });
  }
  const advice = ADVICE[name];
  if (advice) return new EtlError(`AWS refused ${call} in ${region}: ${text}; ${advice(call)}`, { cause: error });
  return new EtlError(`AWS ${call} failed in ${region}: ${text}`, { cause: error });
}
