import { App, Aws, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as cloudformation from 'aws-cdk-lib/aws-cloudformation';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { HUB_FUNCTIONS, spokeRoleName, type HubFunction } from '../lambdas/accounts.ts';
import type { Config } from '../lambdas/config.ts';
import { AUDIT_TRIGGER_EVENTS } from '../lambdas/core/audit-scope.ts';
import { partitionOf } from '../lambdas/core/partitions.ts';
import { unique } from './arns.ts';
import { cloudTrailPattern } from './auditor.ts';
import { throwIfProblems } from './errors.ts';
import { acknowledgeWildcardResource } from './nag.ts';
import { needsSpokeRole, spokeStatements } from './spoke-permissions.ts';

/** The hub function roles that act through each spoke role (retire narrows what the rotation widened). */
export const HUB_CALLERS: Record<HubFunction, readonly string[]> = { rotate: ['rotate', 'retire'], reconcile: ['reconcile'], audit: ['audit'] };

/** `${stackName}-hub-${fn}-${region}`: the hub names its function roles so that spokes can trust exactly them. */
export function hubRoleName(stackName: string, fn: string, hubRegion: string): string {
  const name = `${stackName}-hub-${fn}-${hubRegion}`;
  if (name.length > 64) throw new Error(`hub role name "${name}" is longer than IAM's 64 characters: shorten stackName`);
  return name;
}

export function hubEventBusArn(config: Config): string {
  return `arn:${partitionOf(config.region)}:events:${config.region}:${config.hubAccountId}:event-bus/default`;
}

export interface SpokeStackProps extends StackProps {
  /** The validated configuration; `hubAccountId` is required. */
  readonly config: Config;
  /**
   * The spoke's account (a name from `config.accounts`); `env` must be that account and one of its regions.
   * Absent: the account- and region-agnostic template the StackSet deploys everywhere (all accounts' resources).
   */
  readonly account?: string;
}

/**
 * What origin-guard needs in one spoke account-region: a role per hub function that acts there
 * (`<stackName>-<fn>-<region>`), allowed exactly the configured resources of that account-region
 * (lib/spoke-permissions.ts) and trusted only by the hub's function roles, in the organization (or with the
 * account's external id); and EventBridge rules forwarding the CloudTrail calls the audit reacts to, to the
 * hub's default bus (the hub's EventBusPolicy admits them). Deploy it with `cdk deploy` per account-region, or
 * as the StackSet (SpokeStackSetStack).
 */
export class SpokeStack extends Stack {
  public readonly roles: Partial<Record<HubFunction, iam.Role>> = {};
  public readonly forwardingRule: events.Rule;
  public readonly forwardingRole: iam.Role;

  constructor(scope: Construct, id: string, props: SpokeStackProps) {
    super(scope, id, {
      description: `origin-guard spoke${props.account ? ` (${props.account})` : ' (StackSet)'}: roles for the hub ${props.config.stackName} and CloudTrail forwarding to its bus`,
      ...props,
    });
    const { config } = props;
    const problems: string[] = [];
    if (!config.hubAccountId) problems.push('config.hubAccountId is required: spoke roles trust the hub account’s function roles');
    const account = props.account !== undefined ? config.accounts?.[props.account] : undefined;
    if (props.account !== undefined && !account) problems.push(`account "${props.account}" is not in config.accounts`);
    if (account && this.account !== account.accountId) problems.push(`env.account (${this.account}) must be ${account.accountId} (account "${props.account}")`);
    if (account && !(account.regions ?? [config.region]).includes(this.region)) problems.push(`env.region (${this.region}) is not one of account "${props.account}"’s regions`);
    if (!config.organizationId && !account?.externalId) problems.push('the spoke needs config.organizationId or the account’s externalId for its trust policy');
    throwIfProblems(`SpokeStack ${this.node.path}`, problems);

    const hubPartition = partitionOf(config.region);
    const spokeScope = props.account !== undefined ? { account: props.account, region: this.region } : {};
    for (const fn of HUB_FUNCTIONS) {
      if (!needsSpokeRole(config, fn, spokeScope)) continue;
      const callers = HUB_CALLERS[fn].map((c) => `arn:${hubPartition}:iam::${config.hubAccountId}:role/${hubRoleName(config.stackName, c, config.region)}`);
      const condition: Record<string, Record<string, unknown>> = { ArnEquals: { 'aws:PrincipalArn': callers } };
      if (config.organizationId) condition.StringEquals = { 'aws:PrincipalOrgID': config.organizationId };
      else condition.StringEquals = { 'sts:ExternalId': account!.externalId };
      const role = new iam.Role(this, `${fn[0]!.toUpperCase()}${fn.slice(1)}Role`, {
        roleName: props.account !== undefined ? spokeRoleName(config.stackName, fn, this.region) : `${config.stackName}-${fn}-${Aws.REGION}`,
        description: `origin-guard: the hub's ${fn} function acts in this account-region through this role`,
        assumedBy: new iam.AccountPrincipal(config.hubAccountId).withConditions(condition),
        maxSessionDuration: undefined,
      });
      for (const s of spokeStatements(config, fn, spokeScope)) {
        role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: s.actions, resources: s.resources }));
        const policy = role.node.tryFindChild('DefaultPolicy');
        if (s.wildcardReason && policy) {
          for (const r of s.resources.filter((x) => x.includes('*'))) acknowledgeWildcardResource(policy, r, s.wildcardReason);
        }
      }
      this.roles[fn] = role;
      new CfnOutput(this, `${role.node.id}Arn`, { value: role.roleArn });
    }

    // CloudTrail calls of this account-region that trigger an audit, to the hub's default bus.
    const hubBus = events.EventBus.fromEventBusArn(this, 'HubEventBus', hubEventBusArn(config));
    this.forwardingRole = new iam.Role(this, 'ForwardingRole', {
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com'),
      description: `origin-guard: forwards CloudTrail events to the hub bus in ${config.hubAccountId}/${config.region}`,
    });
    this.forwardingRule = new events.Rule(this, 'ForwardToHub', {
      description: `origin-guard: forward audit-triggering API calls to the hub ${config.stackName} (${config.hubAccountId}, ${config.region})`,
      eventPattern: cloudTrailPattern(Object.keys(AUDIT_TRIGGER_EVENTS), unique(Object.values(AUDIT_TRIGGER_EVENTS).flat())),
      targets: [new targets.EventBus(hubBus, { role: this.forwardingRole })],
    });
  }
}

export interface SpokeStackSetStackProps extends StackProps {
  readonly config: Config;
}

/**
 * The spoke as a service-managed CloudFormation StackSet, deployed from the hub (or the delegated StackSets
 * administrator) to every account of `organizationalUnitIds`, in every region the config's accounts list, and
 * to accounts that join those units later (auto-deployment).
 */
export class SpokeStackSetStack extends Stack {
  public readonly stackSet: cloudformation.CfnStackSet;
  /** The template every instance runs (SpokeStack without account: all accounts' resources, scoped by ARN). */
  public readonly spokeTemplate: Record<string, unknown>;

  constructor(scope: Construct, id: string, props: SpokeStackSetStackProps) {
    super(scope, id, { description: `origin-guard: the spoke StackSet of ${props.config.stackName}`, ...props });
    const { config } = props;
    const problems: string[] = [];
    if (!config.spokeStackSet) problems.push('config.spokeStackSet is not true');
    if (!config.organizationalUnitIds) problems.push('config.organizationalUnitIds is required');
    throwIfProblems(`SpokeStackSetStack ${this.node.path}`, problems);

    // Synthesized on its own (env-agnostic, no assets), then embedded: StackSets take a template body.
    const inner = new App();
    const template = new SpokeStack(inner, 'Spoke', { config, synthesizer: undefined });
    this.spokeTemplate = inner.synth().getStackByName(template.stackName).template as Record<string, unknown>;
    const regions = unique(Object.values(config.accounts ?? {}).flatMap((a) => a.regions ?? [config.region]));
    this.stackSet = new cloudformation.CfnStackSet(this, 'SpokeStackSet', {
      stackSetName: `${config.stackName}-spokes`,
      description: `origin-guard spokes for the hub ${config.stackName} (${config.hubAccountId}, ${config.region})`,
      permissionModel: 'SERVICE_MANAGED',
      autoDeployment: { enabled: true, retainStacksOnAccountRemoval: false },
      capabilities: ['CAPABILITY_NAMED_IAM'],
      callAs: 'SELF',
      managedExecution: { Active: true },
      operationPreferences: { maxConcurrentPercentage: 25, failureToleranceCount: 0, regionConcurrencyType: 'PARALLEL' },
      stackInstancesGroup: [{ deploymentTargets: { organizationalUnitIds: config.organizationalUnitIds }, regions }],
      templateBody: JSON.stringify(this.spokeTemplate),
    });
  }
}
