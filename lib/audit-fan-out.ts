import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { auditSlices } from '../lambdas/accounts.ts';
import type { Config } from '../lambdas/config.ts';
import type { Auditor } from './auditor.ts';
import { acknowledgeWildcardResource } from './nag.ts';

export interface AuditFanOutProps {
  /** The validated configuration with `accounts`. */
  readonly config: Config;
  readonly auditor: Auditor;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * The scheduled audit split per account-region on a managed engine: a Step Functions Map over every configured
 * account-region, `audit.concurrency` at a time, each item one invocation of the audit function
 * (`{"source": "origin-guard.audit-fan-out", "account", "region"}`), so no invocation loops over every account. A
 * failed item is retried, then recorded (caught), and never stops the others. The audit's own
 * schedule rule is disabled in favour of this one; its CloudTrail rule still audits what an API call names.
 */
export class AuditFanOut extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly scheduleRule: events.Rule;
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: AuditFanOutProps) {
    super(scope, id);
    const { config, auditor } = props;
    const items = auditSlices(config).map((s) => ({ account: s.account ?? '', region: s.region }));
    const list = new sfn.Pass(this, 'AccountRegions', { result: sfn.Result.fromObject({ items }), resultPath: '$.fanOut' });
    const auditOne = new tasks.LambdaInvoke(this, 'AuditAccountRegion', {
      lambdaFunction: auditor.function.function,
      payload: sfn.TaskInput.fromObject({ source: 'origin-guard.audit-fan-out', 'account.$': '$.account', 'region.$': '$.region' }),
      payloadResponseOnly: true,
      retryOnServiceExceptions: true,
    });
    auditOne.addRetry({ errors: ['States.ALL'], maxAttempts: 2, interval: Duration.seconds(10), backoffRate: 2 });
    // One account-region's failure is recorded in the execution history and never stops the others.
    auditOne.addCatch(new sfn.Pass(this, 'AccountRegionFailed'), { resultPath: '$.error' });
    const map = new sfn.Map(this, 'EachAccountRegion', {
      itemsPath: '$.fanOut.items',
      maxConcurrency: config.audit?.concurrency ?? 8,
      resultPath: sfn.JsonPath.DISCARD,
    });
    map.itemProcessor(auditOne);
    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS, removalPolicy: RemovalPolicy.DESTROY });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      definitionBody: sfn.DefinitionBody.fromChainable(list.next(map)),
      timeout: Duration.hours(1),
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    const policy = this.stateMachine.role.node.tryFindChild('DefaultPolicy');
    if (policy) {
      acknowledgeWildcardResource(policy, `${auditor.function.function.functionArn}:*`, 'lambda:InvokeFunction on the versions and aliases of the audit function only (CDK LambdaInvoke grants both the function and its qualified ARNs).');
      acknowledgeWildcardResource(policy, '*', 'X-Ray PutTraceSegments/PutTelemetryRecords and CloudWatch Logs delivery actions have no resource-level permissions.');
    }
    const scheduleMinutes = config.audit?.scheduleMinutes ?? 15;
    this.scheduleRule = new events.Rule(this, 'Schedule', {
      description: `origin-guard: audit every account-region every ${scheduleMinutes} minutes (Step Functions fan-out)`,
      schedule: events.Schedule.rate(Duration.minutes(scheduleMinutes)),
      targets: [new targets.SfnStateMachine(this.stateMachine)],
    });
    (auditor.scheduleRule.node.defaultChild as events.CfnRule).state = 'DISABLED';
  }
}
