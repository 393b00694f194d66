import { EC2Client } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { RedshiftClient } from '@aws-sdk/client-redshift';
import { RedshiftServerlessClient } from '@aws-sdk/client-redshift-serverless';
import { STSClient } from '@aws-sdk/client-sts';
import { MASK } from '../config/config.js';
import { awsError, awsErrorName } from './aws-errors.js';

/** The AWS clients `etl cluster` uses. */
export interface AwsClients {
  readonly redshift: RedshiftClient;
  readonly serverless: RedshiftServerlessClient;
  readonly iam: IAMClient;
  readonly ec2: EC2Client;
  readonly sts: STSClient;
}
export type ServiceName = keyof AwsClients;

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}

/**
 * Clients for `region` (empty: the SDK's chain, AWS_REGION or the profile, else `fallbackRegion`) with the
 * given keys (empty: the SDK's credential chain). Endpoints are left to the SDK, which honours
 * AWS_ENDPOINT_URL_REDSHIFT, _IAM, _EC2, _STS and AWS_ENDPOINT_URL itself: an emulator needs no setting here.
 */
export function createAwsClients(region: string, fallbackRegion: string, keys: Credentials): AwsClients {
  let resolved: Promise<string> | undefined;
  const regionOf = region
    ? region
    : () =>
        (resolved ??= new STSClient({}).config.region().then(
          (found) => found || fallbackRegion,
          () => fallbackRegion,
        ));
  const credentials = keys.accessKeyId
    ? { accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey, ...(keys.sessionToken ? { sessionToken: keys.sessionToken } : {}) }
    : undefined;
  const options = { region: regionOf, ...(credentials ? { credentials } : {}), maxAttempts: 4 };
  return {
    redshift: new RedshiftClient(options),
    serverless: new RedshiftServerlessClient(options),
    // IAM and STS are global but signed for a region; the SDK picks their endpoints from it.
    iam: new IAMClient(options),
    ec2: new EC2Client(options),
    sts: new STSClient(options),
  };
}

/** Keys whose values never leave the process: masked in dry-run output. */
const SECRET_KEY = /password|secret|token/i;

/** `value` with every secret-named field masked, for printing. */
export const maskSecrets = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(maskSecrets);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, SECRET_KEY.test(key) && inner !== undefined ? MASK : maskSecrets(inner)]));
  }
  return value;
};

/** A command object of any AWS SDK v3 client, as far as this module needs it. */
interface SdkCommand {
  readonly input: object;
}

/** The API name of a command, e.g. `CreateCluster` for a CreateClusterCommand. */
export const actionOf = (command: SdkCommand): string => command.constructor.name.replace(/Command$/, '');

/**
 * How `etl cluster` talks to AWS: every call goes through `send`, so a dry run can print it instead, and every
 * AWS error becomes one line saying what to do.
 */
export interface AwsCalls {
  readonly dryRun: boolean;
  /** The region calls go to, for messages. */
  region(): Promise<string>;
  /**
   * Sends `command` to `service`. Resolves undefined when the error's name (without Fault/Exception) is in
   * `absent` (a lookup that found nothing), and always in a dry run, where nothing is sent: callers treat
   * undefined as "not there" and go on as on an empty account.
   */
  send<O>(service: ServiceName, command: SdkCommand, absent?: readonly string[]): Promise<O | undefined>;
}

export function liveCalls(clients: AwsClients): AwsCalls {
  const region = async () => (await clients.sts.config.region().catch(() => '')) || '(no region)';
  return {
    dryRun: false,
    region,
    async send<O>(service: ServiceName, command: SdkCommand, absent: readonly string[] = []) {
      const client = clients[service] as unknown as { send(command: SdkCommand): Promise<O> };
      try {
        return await client.send(command);
      } catch (error) {
        if (absent.includes(awsErrorName(error))) return undefined;
        throw awsError(error, service, actionOf(command), await region());
      }
    },
  };
}

/** Calls that print each request (`service Action {parameters}`, secrets masked) and send nothing. */
export function dryRunCalls(print: (line: string) => void, region: string): AwsCalls {
  return {
    dryRun: true,
    region: async () => region,
    async send<O>(service: ServiceName, command: SdkCommand): Promise<O | undefined> {
      print(`${service} ${actionOf(command)} ${JSON.stringify(maskSecrets(command.input))}`);
      return undefined;
    },
  };
}
