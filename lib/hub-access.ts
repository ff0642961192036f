import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { accountRegions, resolvePlacement, type HubFunction } from '../lambdas/accounts.ts';
import type { Config } from '../lambdas/config.ts';
import { throwIfProblems } from './errors.ts';
import { hubEventBusArn, hubRoleName } from './spoke-stack.ts';
import { partitionOf } from '../lambdas/core/partitions.ts';

export interface HubAccessProps {
  /** The validated configuration; acts only when it lists `accounts`. */
  readonly config: Config;
  /** The hub's function roles by hub function name (`rotate`, `retire`, `reconcile`, `audit`). */
  readonly functionRoles: Partial<Record<'rotate' | 'retire' | 'reconcile' | 'audit', iam.Role>>;
}

/**
 * The hub's side of several accounts: its function roles get fixed names (spoke roles trust exactly those),
 * each may assume only its own spoke role in each configured account-region, and the hub's default event bus
 * admits the CloudTrail events the spoke stacks forward (from the configured accounts, in the organization).
 */
export class HubAccess extends Construct {
  public readonly eventBusPolicy: events.CfnEventBusPolicy;

  constructor(scope: Construct, id: string, props: HubAccessProps) {
    super(scope, id);
    const { config } = props;
    const problems: string[] = [];
    if (!config.hubAccountId) problems.push('config.hubAccountId is required with accounts: spoke roles trust the hub account’s function roles');
    throwIfProblems(`HubAccess ${this.node.path}`, problems);

    const spokeFn: Record<string, HubFunction> = { rotate: 'rotate', retire: 'rotate', reconcile: 'reconcile', audit: 'audit' };
    for (const [caller, role] of Object.entries(props.functionRoles)) {
      if (!role) continue;
      (role.node.defaultChild as iam.CfnRole).roleName = hubRoleName(config.stackName, caller, config.region);
      const fn = spokeFn[caller]!;
      const arns = [...new Set(accountRegions(config).map((ar) => resolvePlacement(config, { account: ar.account, region: ar.region }, fn).roleArn).filter((a): a is string => !!a))];
      if (arns.length > 0) role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['sts:AssumeRole'], resources: arns }));
    }

    const spokeAccounts = [...new Set(Object.values(config.accounts ?? {}).map((a) => a.accountId))].filter((a) => a !== config.hubAccountId);
    this.eventBusPolicy = new events.CfnEventBusPolicy(this, 'SpokeEvents', {
      statementId: `${config.stackName}-spokes`,
      eventBusName: 'default',
      statement: {
        Sid: `${config.stackName}-spokes`,
        Effect: 'Allow',
        Principal: { AWS: spokeAccounts.map((a) => `arn:${partitionOf(config.region)}:iam::${a}:root`) },
        Action: 'events:PutEvents',
        Resource: hubEventBusArn(config),
        ...(config.organizationId ? { Condition: { StringEquals: { 'aws:PrincipalOrgID': config.organizationId } } } : {}),
      },
    });
  }
}
