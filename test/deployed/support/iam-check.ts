/**
 * Each recorded AWS call, as the IAM request AWS would authorize (action, resource ARN, context keys), evaluated
 * against the function's role policies from the template with @cloud-copilot/iam-simulate (AGPL-3.0, a test-only
 * dependency: it is never bundled or shipped).
 */
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { ACCOUNT } from './deployed-world.ts';
import type { RecordedCall } from './recording-proxy.ts';

export interface IamRequest {
  action: string;
  resource: string;
  context: Record<string, string | string[]>;
}

export interface Decision extends IamRequest {
  allowed: boolean;
  detail?: string;
}

type PolicyDocument = { Version?: string; Statement: any[] };

/** IAM's service prefix for each SigV4 signing name this project's clients use. */
const IAM_PREFIX: Record<string, string> = {
  secretsmanager: 'secretsmanager',
  dynamodb: 'dynamodb',
  wafv2: 'wafv2',
  ec2: 'ec2',
  sns: 'sns',
  cloudfront: 'cloudfront',
  events: 'events',
  monitoring: 'cloudwatch',
  sqs: 'sqs',
  securityhub: 'securityhub',
};

/** Numbered query-protocol fields (`Tag.1.Key`, `Tag.2.Key`) as a list. */
function numbered(params: Record<string, any>, pattern: RegExp): string[] {
  return Object.entries(params)
    .filter(([k]) => pattern.test(k))
    .map(([, v]) => String(v));
}

/**
 * The IAM requests one API call needs (usually one). `secretArn` turns a SecretId given by name into the
 * ARN the emulator gave that secret.
 */
export function iamRequestsOf(call: RecordedCall, secretArn: (id: string) => string): IamRequest[] {
  const prefix = IAM_PREFIX[call.service];
  if (!prefix) throw new Error(`unexpected AWS service ${call.service} (${call.action}): add it to test/deployed/support/iam-check.ts`);
  const action = `${prefix}:${call.action}`;
  const p = call.params;
  const one = (resource: string, context: IamRequest['context'] = {}): IamRequest[] => [{ action, resource, context }];
  switch (call.service) {
    case 'secretsmanager':
      return one(p.SecretId ? secretArn(p.SecretId) : '*');
    case 'dynamodb': {
      const tables: string[] = p.TableName ? [p.TableName] : Object.keys(p.RequestItems ?? {});
      // dynamodb:LeadingKeys: the partition keys (`id`) the request touches, so a policy scoped to
      // `lease:secret:*` is evaluated on the item's key, not passed because the key is absent.
      const keysOf = (t: string): string[] => {
        const items = p.TableName ? [p.Key ?? p.Item] : (p.RequestItems?.[t]?.Keys ?? []);
        return items.map((k: any) => k?.id?.S).filter((k: unknown): k is string => typeof k === 'string');
      };
      return tables.map((t): IamRequest => {
        const keys = keysOf(t);
        const context: IamRequest['context'] = keys.length ? { 'dynamodb:LeadingKeys': keys } : {};
        return { action, resource: `arn:aws:dynamodb:${call.region}:${ACCOUNT}:table/${t}`, context };
      });
    }
    case 'sns':
      return one(p.TopicArn ?? '*');
    case 'cloudfront':
      return one(p.Id ? `arn:aws:cloudfront::${ACCOUNT}:distribution/${p.Id}` : '*');
    case 'wafv2': {
      if (p.ResourceArn) return one(p.ResourceArn);
      if (p.Name && p.Id && p.Scope) {
        const arn = p.Scope === 'CLOUDFRONT' ? `arn:aws:wafv2:us-east-1:${ACCOUNT}:global/webacl/${p.Name}/${p.Id}` : `arn:aws:wafv2:${call.region}:${ACCOUNT}:regional/webacl/${p.Name}/${p.Id}`;
        return one(arn);
      }
      return one('*');
    }
    case 'ec2': {
      const sg = (id: string) => `arn:aws:ec2:${call.region}:${ACCOUNT}:security-group/${id}`;
      if (p.GroupId) return one(sg(p.GroupId));
      const resources = numbered(p, /^ResourceId\.\d+$/);
      if (resources.length) {
        const tagKeys = numbered(p, /^Tag\.\d+\.Key$/);
        const context: IamRequest['context'] = tagKeys.length ? { 'aws:TagKeys': tagKeys } : {};
        return resources.map((r) => ({ action, resource: sg(r), context }));
      }
      return one('*');
    }
    case 'events': {
      // DescribeRule names the rule `Name`, ListTargetsByRule `Rule`; origin-guard's rules are on the default bus.
      const rule = p.Name ?? p.Rule;
      if (!rule) return one('*');
      const bus = p.EventBusName && p.EventBusName !== 'default' ? `${p.EventBusName}/` : '';
      return one(`arn:aws:events:${call.region}:${ACCOUNT}:rule/${bus}${rule}`);
    }
    case 'monitoring': {
      // DescribeAlarms by name (JSON `AlarmNames`, or query `AlarmNames.member.N`): one request per alarm ARN.
      const names: string[] = Array.isArray(p.AlarmNames) ? p.AlarmNames : numbered(p, /^AlarmNames\.member\.\d+$/);
      if (names.length === 0) return one('*');
      return names.map((n) => ({ action, resource: `arn:aws:cloudwatch:${call.region}:${ACCOUNT}:alarm:${n}`, context: {} }));
    }
    case 'sqs': {
      const url: string | undefined = p.QueueUrl;
      const name = url?.split('/').pop();
      return one(name ? `arn:aws:sqs:${call.region}:${ACCOUNT}:${name}` : '*');
    }
    default:
      return one('*');
  }
}

/** Allowed or denied by the identity policies of the role, with iam-simulate's reason when it is not allowed. */
export async function evaluate(request: IamRequest, roleArn: string, policies: PolicyDocument[]): Promise<Decision> {
  const response = await runSimulation(
    {
      request: {
        principal: roleArn,
        action: request.action,
        resource: { resource: request.resource, accountId: ACCOUNT },
        contextVariables: request.context,
      },
      identityPolicies: policies.map((policy, i) => ({ name: `policy${i}`, policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    } as any,
    {},
  );
  if (response.resultType === 'error') return { ...request, allowed: false, detail: `iam-simulate rejected the request: ${JSON.stringify(response.errors)}` };
  return { ...request, allowed: response.overallResult === 'Allowed', detail: response.overallResult };
}

/** Every action the policies grant by name (wildcards kept as written). */
export function grantedActions(policies: PolicyDocument[]): string[] {
  const list = (v: unknown) => (Array.isArray(v) ? v : [v]);
  return [...new Set(policies.flatMap((p) => p.Statement.filter((s) => s.Effect === 'Allow').flatMap((s) => list(s.Action) as string[])))].sort();
}

/** Reads are Get*, Describe*, List*, BatchGet*: anything else changes state. */
export function isWriteAction(action: string): boolean {
  return !/^[a-z0-9-]+:(Get|Describe|List|BatchGet|Query|Scan)/.test(action);
}
