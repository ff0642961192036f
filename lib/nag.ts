import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * The text cdk-nag puts in a finding id for a resource of an IAM statement (as its flattenCfnReference does):
 * `Fn::Join` joined, `Ref`s as `<Name>`, `Fn::GetAtt`s as `<Name.Attr>`, `${...}` as `<...>`.
 * Acknowledging `AwsSolutions-IAM5[Resource::<this>]` then suppresses exactly that one finding.
 */
export function nagResourceText(scope: IConstruct, value: string): string {
  const visit = (node: unknown): string => {
    if (node === undefined) return '';
    if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
    const object = node as Record<string, unknown>;
    if (object['Fn::Join']) {
      const [delimiter, items] = object['Fn::Join'] as [string, unknown[]];
      return items.map(visit).join(delimiter);
    }
    if (object['Fn::Sub']) return visit(object['Fn::Sub']);
    if (object['Fn::GetAtt']) {
      const [resource, attribute] = object['Fn::GetAtt'] as [unknown, unknown];
      return `<${visit(resource)}.${visit(attribute)}>`;
    }
    if (object['Fn::ImportValue']) return visit(object['Fn::ImportValue']);
    if (object.Ref) return `<${visit(object.Ref)}>`;
    return JSON.stringify(node);
  };
  return visit(Stack.of(scope).resolve(value));
}

/**
 * Acknowledges one AwsSolutions-IAM5 finding (one wildcard resource) on one policy, with the reason a
 * reviewer reads in the validation report.
 */
export function acknowledgeWildcardResource(policy: IConstruct, resource: string, reason: string): void {
  Validations.of(policy).acknowledge({ id: `AwsSolutions-IAM5[Resource::${nagResourceText(policy, resource)}]`, reason });
}
