import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuthorizeSecurityGroupIngressCommand,
  DescribeSecurityGroupRulesCommand,
  DescribeSecurityGroupsCommand,
  DescribeVpcsCommand,
  EC2Client,
  RevokeSecurityGroupIngressCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateRoleCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  DetachRolePolicyCommand,
  GetRoleCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { CreateClusterCommand, DeleteClusterCommand, DescribeClustersCommand, ModifyClusterIamRolesCommand, RedshiftClient } from '@aws-sdk/client-redshift';
import {
  CreateNamespaceCommand,
  CreateWorkgroupCommand,
  DeleteNamespaceCommand,
  DeleteWorkgroupCommand,
  GetNamespaceCommand,
  GetWorkgroupCommand,
  ListTagsForResourceCommand,
  RedshiftServerlessClient,
} from '@aws-sdk/client-redshift-serverless';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient, type AwsStub } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { createAwsClients, dryRunCalls, liveCalls } from '../../src/cluster/aws.js';
import { clusterStatus, createCluster, deleteClusterResources, type ClusterDeps } from '../../src/cluster/commands.js';
import { bucketPolicy, POLICY_NAME, TRUST_POLICY } from '../../src/cluster/role.js';
import { passwordProblem } from '../../src/cluster/password.js';
import { EtlError } from '../../src/errors.js';

// The SDK's notice about future Node versions is not this test's news.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const PASSWORD = 'Sup3rSecretPw';
const ACCOUNT = '123456789012';
const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/dwhRole`;
const TAGS = [{ Key: 'sparkify-etl', Value: 'created' }];
const HOST = 'dwhcluster.abc123.us-west-2.redshift.amazonaws.com';

const CONFIG_TEXT = `# my settings: keep this comment
[WAREHOUSE]
ENGINE = redshift

[CLUSTER]
HOST = 127.0.0.1
; the old port
DB_PORT = 5432
SSL = auto

[S3]
LOG_DATA = s3://udacity-dend/log_data
SONG_DATA = s3://udacity-dend/song_data
STAGING = s3://my-staging/sparkify/

[DWH]
KIND = provisioned
DWH_REGION = us-west-2
DWH_CLUSTER_TYPE = multi-node
DWH_NUM_NODES = 4
DWH_NODE_TYPE = dc2.large
DWH_IAM_ROLE_NAME = dwhRole
DWH_CLUSTER_IDENTIFIER = dwhCluster
DWH_DB = sparkify
DWH_DB_USER = dwhuser
DWH_PORT = 5439
`;

const EXPECTED_WRITTEN = `# my settings: keep this comment
[WAREHOUSE]
ENGINE = redshift

[CLUSTER]
HOST = ${HOST}
; the old port
DB_PORT = 5439
SSL = auto
DB_NAME = sparkify
DB_USER = dwhuser

[S3]
LOG_DATA = s3://udacity-dend/log_data
SONG_DATA = s3://udacity-dend/song_data
STAGING = s3://my-staging/sparkify/

[DWH]
KIND = provisioned
DWH_REGION = us-west-2
DWH_CLUSTER_TYPE = multi-node
DWH_NUM_NODES = 4
DWH_NODE_TYPE = dc2.large
DWH_IAM_ROLE_NAME = dwhRole
DWH_CLUSTER_IDENTIFIER = dwhCluster
DWH_DB = sparkify
DWH_DB_USER = dwhuser
DWH_PORT = 5439

[IAM_ROLE]
ARN = ${ROLE_ARN}
`;

// The stubs' own types are per client; these tests handle five at once.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Stub = AwsStub<any, any, any>;

const awsError = (name: string, message = name) => Object.assign(new Error(message), { name, $metadata: {} });

let sts: Stub;
let iam: Stub;
let ec2: Stub;
let redshift: Stub;
let serverless: Stub;
let stubs: Stub[];

beforeEach(() => {
  // Class-level mocks: every client of these classes answers from here, nothing goes on the network.
  sts = mockClient(STSClient);
  iam = mockClient(IAMClient);
  ec2 = mockClient(EC2Client);
  redshift = mockClient(RedshiftClient);
  serverless = mockClient(RedshiftServerlessClient);
  stubs = [sts, iam, ec2, redshift, serverless];
  sts.on(GetCallerIdentityCommand).resolves({ Account: ACCOUNT });
});
afterEach(() => stubs.forEach((stub) => stub.restore()));

/** Every command sent, as `service Action`, service by service. */
const actions = () =>
  stubs.flatMap((stub, i) =>
    stub.calls().map((call) => `${['sts', 'iam', 'ec2', 'redshift', 'serverless'][i]} ${(call.args[0] as object).constructor.name.replace(/Command$/, '')}`),
  );
const inputsOf = (stub: Stub, command: new (input: never) => object) => stub.commandCalls(command as never).map((call) => call.args[0].input);

async function setup(text = CONFIG_TEXT, env: Record<string, string> = { SPARKIFY_DWH_DWH_DB_PASSWORD: PASSWORD }) {
  const dir = await mkdtemp(join(tmpdir(), 'sparkify-cluster-'));
  const file = join(dir, 'dwh.cfg');
  await writeFile(file, text);
  const config = loadConfig(file, env);
  const logs: string[] = [];
  const sleeps: number[] = [];
  let now = Date.parse('2026-01-02T03:04:05Z');
  const clients = createAwsClients('us-west-2', 'us-west-2', { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'not-a-secret', sessionToken: '' });
  const deps: ClusterDeps = {
    calls: liveCalls(clients),
    config,
    log: (line) => logs.push(line),
    clock: { now: () => now, sleep: async (ms) => void (sleeps.push(ms), (now += ms)) },
    lookupIp: async () => {
      throw new Error('tests pass --cidr: no network here');
    },
  };
  return { file, config, deps, logs, sleeps };
}

/** An account with a default VPC and nothing of ours in it. */
function emptyAccount() {
  iam.on(GetRoleCommand).rejects(awsError('NoSuchEntityException', 'The role with name dwhRole cannot be found.'));
  iam.on(CreateRoleCommand).resolves({ Role: { Arn: ROLE_ARN, RoleName: 'dwhRole', Path: '/', RoleId: 'R', CreateDate: new Date() } });
  iam.on(PutRolePolicyCommand).resolves({});
  ec2.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: 'vpc-1', IsDefault: true }] });
  ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [{ GroupId: 'sg-1', GroupName: 'default' }] });
  ec2.on(DescribeSecurityGroupRulesCommand).resolves({ SecurityGroupRules: [] });
  ec2.on(AuthorizeSecurityGroupIngressCommand).resolves({ Return: true });
  redshift.on(CreateClusterCommand).resolves({ Cluster: { ClusterIdentifier: 'dwhcluster', ClusterStatus: 'creating' } });
}

const AVAILABLE = {
  ClusterIdentifier: 'dwhcluster',
  ClusterStatus: 'available',
  NodeType: 'dc2.large',
  NumberOfNodes: 4,
  Endpoint: { Address: HOST, Port: 5439 },
  IamRoles: [{ IamRoleArn: ROLE_ARN, ApplyStatus: 'in-sync' }],
  VpcSecurityGroups: [{ VpcSecurityGroupId: 'sg-1', Status: 'active' }],
  Tags: TAGS,
};

const EXPECTED_CREATE = {
  ClusterIdentifier: 'dwhcluster',
  ClusterType: 'multi-node',
  NodeType: 'dc2.large',
  NumberOfNodes: 4,
  DBName: 'sparkify',
  MasterUsername: 'dwhuser',
  MasterUserPassword: PASSWORD,
  Port: 5439,
  IamRoles: [ROLE_ARN],
  VpcSecurityGroupIds: ['sg-1'],
  PubliclyAccessible: true,
  Encrypted: true,
  Tags: TAGS,
};

describe('etl cluster create (provisioned)', () => {
  it('makes the role, the ingress rule for --cidr only and the cluster, waits, and writes the settings keeping comments and keys', async () => {
    emptyAccount();
    redshift
      .on(DescribeClustersCommand)
      .rejectsOnce(awsError('ClusterNotFoundFault', 'Cluster dwhcluster not found.'))
      .resolvesOnce({ Clusters: [{ ...AVAILABLE, ClusterStatus: 'creating', Endpoint: undefined }] })
      .resolvesOnce({ Clusters: [{ ...AVAILABLE, ClusterStatus: 'creating', Endpoint: undefined }] })
      .resolves({ Clusters: [AVAILABLE] });
    const { file, deps, logs, sleeps } = await setup();

    const result = await createCluster(deps, { cidr: '203.0.113.7/32' });

    expect(actions()).toEqual([
      'sts GetCallerIdentity',
      'iam GetRole',
      'iam CreateRole',
      'iam PutRolePolicy',
      'ec2 DescribeVpcs',
      'ec2 DescribeSecurityGroups',
      'ec2 DescribeSecurityGroupRules',
      'ec2 AuthorizeSecurityGroupIngress',
      'redshift DescribeClusters',
      'redshift CreateCluster',
      'redshift DescribeClusters',
      'redshift DescribeClusters',
      'redshift DescribeClusters',
    ]);
    expect(inputsOf(iam, CreateRoleCommand)).toEqual([
      { RoleName: 'dwhRole', AssumeRolePolicyDocument: TRUST_POLICY, Description: 'Redshift COPY from S3, made by sparkify-etl', Tags: TAGS },
    ]);
    expect(JSON.parse(TRUST_POLICY).Statement[0].Principal).toEqual({ Service: 'redshift.amazonaws.com' });
    expect(inputsOf(iam, PutRolePolicyCommand)).toEqual([{ RoleName: 'dwhRole', PolicyName: POLICY_NAME, PolicyDocument: bucketPolicy(['udacity-dend', 'my-staging']) }]);
    expect(inputsOf(ec2, AuthorizeSecurityGroupIngressCommand)).toEqual([
      {
        GroupId: 'sg-1',
        IpPermissions: [{ IpProtocol: 'tcp', FromPort: 5439, ToPort: 5439, IpRanges: [{ CidrIp: '203.0.113.7/32', Description: 'Redshift for sparkify-etl' }] }],
        TagSpecifications: [{ ResourceType: 'security-group-rule', Tags: TAGS }],
      },
    ]);
    expect(inputsOf(redshift, CreateClusterCommand)).toEqual([EXPECTED_CREATE]);
    expect(sleeps).toEqual([15_000, 15_000]);
    expect(logs).toContain('cluster dwhcluster: creating (0m 15s)');
    expect(result.written).toBe(file);
    expect(await readFile(file, 'utf8')).toBe(EXPECTED_WRITTEN);
    // The password went to CreateCluster only: not into the file, not into a log line.
    expect(logs.join('\n')).not.toContain(PASSWORD);
  });

  it('with --no-write returns the settings and leaves the file alone', async () => {
    emptyAccount();
    redshift.on(DescribeClustersCommand).rejectsOnce(awsError('ClusterNotFoundFault')).resolves({ Clusters: [AVAILABLE] });
    const { file, deps } = await setup();
    const result = await createCluster(deps, { cidr: '203.0.113.7/32', write: false });
    expect(result).toEqual({
      settings: { CLUSTER: { HOST, DB_NAME: 'sparkify', DB_USER: 'dwhuser', DB_PORT: '5439' }, IAM_ROLE: { ARN: ROLE_ARN } },
      written: undefined,
    });
    expect(await readFile(file, 'utf8')).toBe(CONFIG_TEXT);
  });

  it('after a failure at CreateCluster, a re-run finds the role and the rule and makes only the cluster', async () => {
    emptyAccount();
    redshift.on(DescribeClustersCommand).rejects(awsError('ClusterNotFoundFault'));
    redshift.on(CreateClusterCommand).rejects(awsError('ClusterQuotaExceededFault', 'The request would exceed the allowed number of clusters for this account.'));
    const first = await setup();
    const failure = await createCluster(first.deps, { cidr: '203.0.113.7/32' }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EtlError);
    expect((failure as Error).message).toBe(
      'AWS refused redshift:CreateCluster in us-west-2: The request would exceed the allowed number of clusters for this account (ClusterQuotaExceededFault); delete a cluster you no longer need or ask AWS for a higher Redshift cluster quota in this region',
    );
    expect(await readFile(first.file, 'utf8')).toBe(CONFIG_TEXT);

    // What the first run left: the tagged role and the tagged rule.
    stubs.forEach((stub) => stub.reset());
    sts.on(GetCallerIdentityCommand).resolves({ Account: ACCOUNT });
    iam.on(GetRoleCommand).resolves({ Role: { Arn: ROLE_ARN, RoleName: 'dwhRole', Tags: TAGS, Path: '/', RoleId: 'R', CreateDate: new Date() } });
    iam.on(PutRolePolicyCommand).resolves({});
    ec2.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: 'vpc-1' }] });
    ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [{ GroupId: 'sg-1' }] });
    ec2.on(DescribeSecurityGroupRulesCommand).resolves({
      SecurityGroupRules: [{ SecurityGroupRuleId: 'sgr-1', GroupId: 'sg-1', IsEgress: false, IpProtocol: 'tcp', FromPort: 5439, ToPort: 5439, CidrIpv4: '203.0.113.7/32', Tags: TAGS }],
    });
    redshift.on(CreateClusterCommand).resolves({});
    redshift.on(DescribeClustersCommand).rejectsOnce(awsError('ClusterNotFoundFault')).resolves({ Clusters: [AVAILABLE] });
    const second = await setup();
    await createCluster(second.deps, { cidr: '203.0.113.7/32' });
    expect(iam.commandCalls(CreateRoleCommand)).toHaveLength(0);
    expect(ec2.commandCalls(AuthorizeSecurityGroupIngressCommand)).toHaveLength(0);
    expect(inputsOf(redshift, CreateClusterCommand)).toEqual([EXPECTED_CREATE]);
    expect(second.logs).toEqual(expect.arrayContaining(['role dwhRole: exists', 'ingress sg-1 tcp/5439 from 203.0.113.7/32: exists']));
    expect(await readFile(second.file, 'utf8')).toBe(EXPECTED_WRITTEN);
  });

  it('completes a cluster that lacks the role, without asking for a password', async () => {
    emptyAccount();
    redshift
      .on(DescribeClustersCommand)
      .resolvesOnce({ Clusters: [{ ...AVAILABLE, IamRoles: [] }] })
      .resolves({ Clusters: [AVAILABLE] });
    redshift.on(ModifyClusterIamRolesCommand).resolves({});
    const { deps } = await setup(CONFIG_TEXT, {});
    await createCluster(deps, { cidr: '198.51.100.0/24' });
    expect(inputsOf(redshift, ModifyClusterIamRolesCommand)).toEqual([{ ClusterIdentifier: 'dwhcluster', AddIamRoles: [ROLE_ARN] }]);
    expect(redshift.commandCalls(CreateClusterCommand)).toHaveLength(0);
    // The cluster's own group gets the rule, found without a VPC lookup.
    expect(ec2.commandCalls(DescribeVpcsCommand)).toHaveLength(0);
    expect(inputsOf(ec2, AuthorizeSecurityGroupIngressCommand)[0]).toMatchObject({ GroupId: 'sg-1' });
  });

  it('refuses a weak password, and a missing one off a terminal, before any call', async () => {
    emptyAccount();
    const weak = await setup(CONFIG_TEXT, { SPARKIFY_DWH_DWH_DB_PASSWORD: 'pass word1A' });
    await expect(createCluster(weak.deps, { cidr: '203.0.113.7/32' })).rejects.toThrow(
      'The Redshift admin password (DWH.DWH_DB_PASSWORD, SPARKIFY_DWH_DWH_DB_PASSWORD) is refused: it may hold only printable ASCII characters without spaces',
    );
    expect(actions()).toEqual([]);
    redshift.on(DescribeClustersCommand).rejects(awsError('ClusterNotFoundFault'));
    const missing = await setup(CONFIG_TEXT, {});
    await expect(createCluster(missing.deps, { cidr: '203.0.113.7/32' })).rejects.toThrow(/^No Redshift admin password: set SPARKIFY_DWH_DWH_DB_PASSWORD/);
    expect(redshift.commandCalls(CreateClusterCommand)).toHaveLength(0);
  });

  it('refuses 0.0.0.0/0, and turns AccessDenied and a wrong region into one line with what to do', async () => {
    const { deps } = await setup();
    await expect(createCluster(deps, { cidr: '0.0.0.0/0' })).rejects.toThrow('--cidr 0.0.0.0/0 opens the warehouse to the whole internet: pass your own address, e.g. 203.0.113.7/32');
    sts.on(GetCallerIdentityCommand).rejects(awsError('AccessDenied', 'User: arn:aws:iam::1:user/x is not authorized to perform: sts:GetCallerIdentity'));
    await expect(createCluster(deps, { cidr: '203.0.113.7/32' })).rejects.toThrow(
      'AWS refused sts:GetCallerIdentity in us-west-2: User: arn:aws:iam::1:user/x is not authorized to perform: sts:GetCallerIdentity (AccessDenied); give these credentials permission for sts:GetCallerIdentity (or use others: [AWS] KEY/SECRET, AWS_PROFILE)',
    );
    sts.on(GetCallerIdentityCommand).rejects(Object.assign(new Error('getaddrinfo ENOTFOUND sts.us-wst-2.amazonaws.com'), { code: 'ENOTFOUND' }));
    await expect(createCluster(deps, { cidr: '203.0.113.7/32' })).rejects.toThrow(/^Cannot reach AWS for sts:GetCallerIdentity in region us-west-2 .*: check DWH.DWH_REGION is a real region/);
  });

  it('names a taken cluster identifier and a cluster in a bad state', async () => {
    emptyAccount();
    redshift.on(DescribeClustersCommand).rejects(awsError('ClusterNotFoundFault'));
    redshift.on(CreateClusterCommand).rejects(awsError('ClusterAlreadyExistsFault', 'Cluster already exists'));
    const { deps } = await setup();
    await expect(createCluster(deps, { cidr: '203.0.113.7/32' })).rejects.toThrow(
      'AWS refused redshift:CreateCluster in us-west-2: Cluster already exists (ClusterAlreadyExistsFault); the name is taken: choose another DWH.DWH_CLUSTER_IDENTIFIER',
    );
    redshift.on(DescribeClustersCommand).resolves({ Clusters: [{ ...AVAILABLE, ClusterStatus: 'deleting' }] });
    await expect(createCluster(deps, { cidr: '203.0.113.7/32' })).rejects.toThrow(/^Cluster dwhcluster is being deleted: wait until `etl cluster status`/);
  });
});

describe('etl cluster create --dry-run', () => {
  it('prints every call with its parameters, the password masked, and sends nothing', async () => {
    const { config, deps } = await setup();
    const lines: string[] = [];
    const result = await createCluster({ ...deps, calls: dryRunCalls((line) => lines.push(line), 'us-west-2'), config }, { cidr: '203.0.113.7/32' });
    expect(actions()).toEqual([]);
    expect(lines.map((line) => line.split(' ').slice(0, 2).join(' '))).toEqual([
      'sts GetCallerIdentity',
      'iam GetRole',
      'iam CreateRole',
      'iam PutRolePolicy',
      'redshift DescribeClusters',
      'ec2 DescribeVpcs',
      'ec2 DescribeSecurityGroups',
      'ec2 DescribeSecurityGroupRules',
      'ec2 AuthorizeSecurityGroupIngress',
      'redshift CreateCluster',
    ]);
    const create = JSON.parse(lines.at(-1)!.replace(/^redshift CreateCluster /, ''));
    expect(create).toEqual({ ...EXPECTED_CREATE, MasterUserPassword: '********', IamRoles: ['arn:aws:iam::<account-id>:role/dwhRole'], VpcSecurityGroupIds: ['<default-security-group-id>'] });
    expect(lines.join('\n')).not.toContain(PASSWORD);
    expect(result.written).toBeUndefined();
  });
});

describe('etl cluster status', () => {
  it('shows state, endpoint, nodes, role, ingress and an hourly estimate', async () => {
    redshift.on(DescribeClustersCommand).resolves({ Clusters: [AVAILABLE] });
    iam.on(GetRoleCommand).resolves({ Role: { Arn: ROLE_ARN, RoleName: 'dwhRole', Tags: TAGS, Path: '/', RoleId: 'R', CreateDate: new Date() } });
    ec2.on(DescribeSecurityGroupRulesCommand).resolves({
      SecurityGroupRules: [
        { SecurityGroupRuleId: 'sgr-1', IsEgress: false, IpProtocol: 'tcp', FromPort: 5439, ToPort: 5439, CidrIpv4: '203.0.113.7/32', Tags: TAGS },
        { SecurityGroupRuleId: 'sgr-2', IsEgress: false, IpProtocol: 'tcp', FromPort: 22, ToPort: 22, CidrIpv4: '10.0.0.0/8' },
        { SecurityGroupRuleId: 'sgr-3', IsEgress: true, IpProtocol: '-1', CidrIpv4: '0.0.0.0/0' },
      ],
    });
    const { deps } = await setup();
    expect(await clusterStatus(deps)).toBe(
      [
        'cluster:  dwhcluster in us-west-2',
        'state:    available',
        `endpoint: ${HOST}:5439`,
        'nodes:    4 x dc2.large',
        `roles:    ${ROLE_ARN} (in-sync)`,
        'cost:     about $1.00/hour (4 x dc2.large at $0.25, on-demand us-east-1 estimate)',
        `role:     ${ROLE_ARN}`,
        'ingress:  sg-1 tcp/5439 from 203.0.113.7/32 (sparkify-etl)',
        '',
      ].join('\n'),
    );
    expect(inputsOf(redshift, DescribeClustersCommand)).toEqual([{ ClusterIdentifier: 'dwhcluster' }]);
  });

  it('says when there is no cluster', async () => {
    redshift.on(DescribeClustersCommand).rejects(awsError('ClusterNotFoundFault'));
    iam.on(GetRoleCommand).rejects(awsError('NoSuchEntityException'));
    const { deps } = await setup();
    expect(await clusterStatus(deps)).toBe('cluster: dwhcluster: none in us-west-2 (`etl cluster create` makes it)\nrole:    dwhRole: none\n');
  });
});

describe('etl cluster delete', () => {
  const ourRole = { Role: { Arn: ROLE_ARN, RoleName: 'dwhRole', Tags: TAGS, Path: '/', RoleId: 'R', CreateDate: new Date() } };

  it('deletes the cluster with a final snapshot, revokes only the tagged rule, and deletes the tagged role', async () => {
    redshift.on(DescribeClustersCommand).resolves({ Clusters: [AVAILABLE] });
    redshift.on(DeleteClusterCommand).resolves({});
    // A rule someone else made comes back too (an emulator ignoring the filter): it must stay.
    ec2.on(DescribeSecurityGroupRulesCommand).resolves({
      SecurityGroupRules: [
        { SecurityGroupRuleId: 'sgr-ours', IsEgress: false, IpProtocol: 'tcp', FromPort: 5439, ToPort: 5439, CidrIpv4: '203.0.113.7/32', Tags: TAGS },
        { SecurityGroupRuleId: 'sgr-theirs', IsEgress: false, IpProtocol: 'tcp', FromPort: 5439, ToPort: 5439, CidrIpv4: '10.0.0.0/8' },
      ],
    });
    ec2.on(RevokeSecurityGroupIngressCommand).resolves({ Return: true });
    iam.on(GetRoleCommand).resolves(ourRole);
    iam.on(ListRolePoliciesCommand).resolves({ PolicyNames: [POLICY_NAME] });
    iam.on(ListAttachedRolePoliciesCommand).resolves({ AttachedPolicies: [{ PolicyArn: 'arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess' }] });
    const { deps } = await setup();
    const done = await deleteClusterResources(deps, { yes: true });
    expect(inputsOf(redshift, DeleteClusterCommand)).toEqual([{ ClusterIdentifier: 'dwhcluster', SkipFinalClusterSnapshot: false, FinalClusterSnapshotIdentifier: 'dwhcluster-final-202601020304' }]);
    expect(inputsOf(ec2, DescribeSecurityGroupRulesCommand)).toEqual([{ Filters: [{ Name: 'group-id', Values: ['sg-1'] }, { Name: 'tag:sparkify-etl', Values: ['created'] }] }]);
    expect(inputsOf(ec2, RevokeSecurityGroupIngressCommand)).toEqual([{ GroupId: 'sg-1', SecurityGroupRuleIds: ['sgr-ours'] }]);
    expect(inputsOf(iam, DeleteRolePolicyCommand)).toEqual([{ RoleName: 'dwhRole', PolicyName: POLICY_NAME }]);
    expect(inputsOf(iam, DetachRolePolicyCommand)).toEqual([{ RoleName: 'dwhRole', PolicyArn: 'arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess' }]);
    expect(inputsOf(iam, DeleteRoleCommand)).toEqual([{ RoleName: 'dwhRole' }]);
    expect(done).toEqual([
      'cluster dwhcluster: deleting, final snapshot dwhcluster-final-202601020304',
      'ingress sg-1: revoked sgr-ours',
      'role dwhRole: deleted',
    ]);
  });

  it('skips the final snapshot only with --skip-final-snapshot', async () => {
    redshift.on(DescribeClustersCommand).resolves({ Clusters: [AVAILABLE] });
    ec2.on(DescribeSecurityGroupRulesCommand).resolves({ SecurityGroupRules: [] });
    iam.on(GetRoleCommand).rejects(awsError('NoSuchEntityException'));
    const { deps } = await setup();
    await deleteClusterResources(deps, { yes: true, skipFinalSnapshot: true });
    expect(inputsOf(redshift, DeleteClusterCommand)).toEqual([{ ClusterIdentifier: 'dwhcluster', SkipFinalClusterSnapshot: true }]);
  });

  it('deletes nothing it did not make: an untagged cluster is refused, an untagged role and rules are kept', async () => {
    redshift.on(DescribeClustersCommand).resolves({ Clusters: [{ ...AVAILABLE, Tags: [] }] });
    const { deps } = await setup();
    await expect(deleteClusterResources(deps, { yes: true })).rejects.toThrow(
      'Cluster dwhcluster was not made by sparkify-etl (no tag sparkify-etl=created): delete it in the AWS console, or set another DWH.DWH_CLUSTER_IDENTIFIER',
    );
    redshift.on(DescribeClustersCommand).rejects(awsError('ClusterNotFoundFault'));
    ec2.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: 'vpc-1' }] });
    ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [{ GroupId: 'sg-1' }] });
    ec2.on(DescribeSecurityGroupRulesCommand).resolves({ SecurityGroupRules: [{ SecurityGroupRuleId: 'sgr-theirs', IsEgress: false, IpProtocol: 'tcp', FromPort: 5439, ToPort: 5439 }] });
    iam.on(GetRoleCommand).resolves({ Role: { ...ourRole.Role, Tags: [{ Key: 'team', Value: 'data' }] } });
    const done = await deleteClusterResources(deps, { yes: true });
    expect(done).toEqual(['cluster dwhcluster: not there', 'ingress sg-1: no rule made by sparkify-etl', 'role dwhRole: kept (not made by sparkify-etl)']);
    expect(redshift.commandCalls(DeleteClusterCommand)).toHaveLength(0);
    expect(ec2.commandCalls(RevokeSecurityGroupIngressCommand)).toHaveLength(0);
    expect(iam.commandCalls(DeleteRoleCommand)).toHaveLength(0);
    expect(iam.commandCalls(DeleteRolePolicyCommand)).toHaveLength(0);
    expect(iam.commandCalls(DetachRolePolicyCommand)).toHaveLength(0);
  });

  it('asks first: without --yes and no terminal it stops, and "no" deletes nothing', async () => {
    const { deps } = await setup();
    await expect(deleteClusterResources(deps, {})).rejects.toThrow('Deleting dwhcluster in us-west-2 needs a yes: pass --yes (off a terminal nobody can be asked)');
    const questions: string[] = [];
    await expect(deleteClusterResources({ ...deps, confirm: async (q) => (questions.push(q), false) }, {})).rejects.toThrow('Nothing deleted: answer y to delete, or pass --yes');
    expect(questions).toEqual(['Delete cluster dwhcluster in us-west-2, keeping a final snapshot, and the role and ingress rule sparkify-etl made? [y/N] ']);
    expect(actions()).toEqual([]);
  });
});

describe('KIND = serverless', () => {
  const SERVERLESS_TEXT = CONFIG_TEXT.replace('KIND = provisioned', 'KIND = serverless');
  const WG_HOST = 'dwhcluster.123456789012.us-west-2.redshift-serverless.amazonaws.com';
  const WORKGROUP = { workgroupName: 'dwhcluster', workgroupArn: 'arn:wg', status: 'AVAILABLE' as const, baseCapacity: 8, securityGroupIds: ['sg-1'], endpoint: { address: WG_HOST, port: 5439 } };

  it('makes a namespace and a workgroup, waits, and writes the workgroup endpoint', async () => {
    emptyAccount();
    serverless.on(GetNamespaceCommand).rejects(awsError('ResourceNotFoundException'));
    serverless.on(GetWorkgroupCommand).rejectsOnce(awsError('ResourceNotFoundException')).rejectsOnce(awsError('ResourceNotFoundException')).resolvesOnce({ workgroup: { ...WORKGROUP, status: 'CREATING' as const, endpoint: undefined } }).resolves({ workgroup: WORKGROUP });
    serverless.on(CreateNamespaceCommand).resolves({});
    serverless.on(CreateWorkgroupCommand).resolves({});
    const { file, deps } = await setup(SERVERLESS_TEXT);
    await createCluster(deps, { cidr: '203.0.113.7/32' });
    expect(inputsOf(serverless, CreateNamespaceCommand)).toEqual([
      { namespaceName: 'dwhcluster', dbName: 'sparkify', adminUsername: 'dwhuser', adminUserPassword: PASSWORD, iamRoles: [ROLE_ARN], defaultIamRoleArn: ROLE_ARN, tags: [{ key: 'sparkify-etl', value: 'created' }] },
    ]);
    expect(inputsOf(serverless, CreateWorkgroupCommand)).toEqual([
      { workgroupName: 'dwhcluster', namespaceName: 'dwhcluster', baseCapacity: 8, port: 5439, publiclyAccessible: true, securityGroupIds: ['sg-1'], tags: [{ key: 'sparkify-etl', value: 'created' }] },
    ]);
    expect(redshift.calls()).toHaveLength(0);
    expect(await readFile(file, 'utf8')).toBe(EXPECTED_WRITTEN.replace('KIND = provisioned', 'KIND = serverless').replace(HOST, WG_HOST));
  });

  it('deletes the tagged workgroup, waits for it, then the namespace with a final snapshot', async () => {
    serverless.on(GetWorkgroupCommand).resolvesOnce({ workgroup: WORKGROUP }).resolvesOnce({ workgroup: { ...WORKGROUP, status: 'DELETING' as const } }).rejects(awsError('ResourceNotFoundException'));
    serverless.on(GetNamespaceCommand).resolves({ namespace: { namespaceName: 'dwhcluster', namespaceArn: 'arn:ns', status: 'AVAILABLE' } });
    serverless.on(ListTagsForResourceCommand).resolves({ tags: [{ key: 'sparkify-etl', value: 'created' }] });
    serverless.on(DeleteWorkgroupCommand).resolves({});
    serverless.on(DeleteNamespaceCommand).resolves({});
    ec2.on(DescribeSecurityGroupRulesCommand).resolves({ SecurityGroupRules: [] });
    iam.on(GetRoleCommand).rejects(awsError('NoSuchEntityException'));
    const { deps } = await setup(SERVERLESS_TEXT);
    await deleteClusterResources(deps, { yes: true });
    expect(inputsOf(serverless, DeleteWorkgroupCommand)).toEqual([{ workgroupName: 'dwhcluster' }]);
    expect(inputsOf(serverless, DeleteNamespaceCommand)).toEqual([{ namespaceName: 'dwhcluster', finalSnapshotName: 'dwhcluster-final-202601020304' }]);
    expect(inputsOf(serverless, ListTagsForResourceCommand)).toEqual([{ resourceArn: 'arn:wg' }, { resourceArn: 'arn:ns' }]);
  });
});

describe('passwordProblem', () => {
  it.each([
    ['Short1a', 'it must have 8 to 64 characters (it has 7)'],
    ['alllower1', 'it needs an upper case letter'],
    ['ALLUPPER1', 'it needs a lower case letter'],
    ['NoDigitsHere', 'it needs a digit'],
    ['Has@sign1', `it may not contain ' " \\ / or @`],
    ['Has/slash1', `it may not contain ' " \\ / or @`],
    ['Good1Passw', undefined],
  ])('%s', (password, problem) => expect(passwordProblem(password)).toBe(problem));
});

