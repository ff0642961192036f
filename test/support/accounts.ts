/**
 * Several accounts on one emulator: moto answers AssumeRole into `arn:aws:iam::<id>:role/<name>` with credentials
 * that act in account <id> (the role need not exist). A missing or untrusting role is a fault injected into the
 * real STS client (SDK middleware) of `fromTemporaryCredentials`: AccessDenied for the chosen role ARNs.
 */
import { AccountClients } from '../../lambdas/adapters/account-clients.ts';
import { allAwsClients } from '../../lambdas/adapters/all-clients.ts';
import type { HubFunction } from '../../lambdas/accounts.ts';
import type { Config } from '../../lambdas/config.ts';
import { serviceError } from './faults.ts';
import { emulatorClientConfig } from './aws.ts';

/** Accounts 1 to n: `acct-01` = 100000000001 ... (moto's own default account is 123456789012). */
export function testAccounts(n: number, regions: string[] = ['eu-west-1']): NonNullable<Config['accounts']> {
  const out: NonNullable<Config['accounts']> = {};
  for (let i = 1; i <= n; i++) out[`acct-${String(i).padStart(2, '0')}`] = { accountId: String(100000000000 + i), regions, externalId: 'og-test' };
  return out;
}

/** An STS client plugin: AssumeRole into any of `roleArns` fails with AccessDenied, as for a missing spoke role. */
export function denyAssumeRole(isDenied: (roleArn: string) => boolean) {
  const seen: string[] = [];
  const plugin = {
    applyToStack: (stack: { add: (...args: any[]) => void }) => {
      stack.add(
        (next: (args: { input: any }) => Promise<unknown>, context: { commandName?: string }) => async (args: { input: any }) => {
          if (context.commandName === 'AssumeRoleCommand') {
            seen.push(args.input.RoleArn);
            if (isDenied(args.input.RoleArn)) {
              throw serviceError('AccessDenied', `User is not authorized to perform: sts:AssumeRole on resource: ${args.input.RoleArn}`, 403);
            }
          }
          return next(args);
        },
        { step: 'initialize', priority: 'high' },
      );
    },
  };
  return { plugin, seen };
}

export function emulatorAccountClients(
  config: Pick<Config, 'accounts' | 'region' | 'stackName' | 'hubAccountId'>,
  fn: HubFunction,
  stsPlugins?: Array<ReturnType<typeof denyAssumeRole>['plugin']>,
) {
  const hub = allAwsClients(emulatorClientConfig(config.region));
  return { hub, accounts: new AccountClients({ config, hub, fn, ...(stsPlugins ? { stsPlugins } : {}) }) };
}
