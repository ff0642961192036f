import type { Rule } from '@aws-sdk/client-wafv2';
import { describe, expect, it } from 'vitest';
import {
  acceptedValuesOfRule,
  buildOriginVerifyRule,
  invalidValuesReason,
  metricNameOf,
  sameRule,
} from '../../lambdas/core/waf-rule.ts';

const bytes = (text: string) => new TextEncoder().encode(text);
const spec = { ruleName: 'origin-verify', priority: 3, headerName: 'X-Origin-Verify' };

function headerMatch(value: string, header = 'x-origin-verify') {
  return {
    ByteMatchStatement: {
      SearchString: bytes(value),
      FieldToMatch: { SingleHeader: { Name: header } },
      TextTransformations: [{ Priority: 0, Type: 'NONE' as const }],
      PositionalConstraint: 'EXACTLY' as const,
    },
  };
}

describe('buildOriginVerifyRule', () => {
  it('blocks requests whose header is not the single accepted value', () => {
    const rule = buildOriginVerifyRule({ ...spec, values: ['value-one'] });

    expect(rule).toEqual({
      Name: 'origin-verify',
      Priority: 3,
      Action: { Block: {} },
      Statement: { NotStatement: { Statement: headerMatch('value-one') } },
      VisibilityConfig: { SampledRequestsEnabled: true, CloudWatchMetricsEnabled: true, MetricName: 'origin-verify' },
    });
  });

  it('accepts either of two values through an OrStatement, in the given order', () => {
    const rule = buildOriginVerifyRule({ ...spec, values: ['value-one', 'value-two'] });

    expect(rule.Statement).toEqual({
      NotStatement: { Statement: { OrStatement: { Statements: [headerMatch('value-one'), headerMatch('value-two')] } } },
    });
  });

  it('matches the header name in lower case and the value as UTF-8 bytes', () => {
    const rule = buildOriginVerifyRule({ ...spec, headerName: 'X-Custom-HEADER', values: ['grüße'] });

    const match = rule.Statement?.NotStatement?.Statement?.ByteMatchStatement;
    expect(match?.FieldToMatch?.SingleHeader?.Name).toBe('x-custom-header');
    expect(match?.SearchString).toEqual(new Uint8Array([0x67, 0x72, 0xc3, 0xbc, 0xc3, 0x9f, 0x65]));
  });

  it('treats a repeated value as one value', () => {
    const rule = buildOriginVerifyRule({ ...spec, values: ['same', 'same'] });

    expect(rule.Statement?.NotStatement?.Statement).toEqual(headerMatch('same'));
  });

  it.each([
    ['no value', [], 'expected one or two distinct values, got 0'],
    ['three values', ['a', 'b', 'c'], 'expected one or two distinct values, got 3'],
    ['an empty value', [''], 'value #1 is empty'],
    ['a value over 200 bytes', ['ok', 'x'.repeat(201)], 'value #2 is 201 bytes; WAF matches at most 200'],
  ])('refuses %s, saying why without quoting any value', (_, values, reason) => {
    expect(invalidValuesReason(values)).toBe(reason);
    expect(() => buildOriginVerifyRule({ ...spec, values })).toThrow(RangeError);
  });

  it('derives a CloudWatch-safe metric name from the rule name', () => {
    expect(metricNameOf('origin verify (edge)')).toBe('origin-verify--edge-');
    expect(metricNameOf('origin-verify_1')).toBe('origin-verify_1');
  });
});

describe('acceptedValuesOfRule', () => {
  it('reads back the values of a rule it built, one or two', () => {
    expect(acceptedValuesOfRule(buildOriginVerifyRule({ ...spec, values: ['a1'] }), 'X-Origin-Verify')).toEqual(['a1']);
    expect(acceptedValuesOfRule(buildOriginVerifyRule({ ...spec, values: ['a1', 'b2'] }), 'x-origin-verify')).toEqual(['a1', 'b2']);
  });

  it('reads a search string that went through JSON as text', () => {
    const rule = buildOriginVerifyRule({ ...spec, values: ['a1'] });
    (rule.Statement!.NotStatement!.Statement!.ByteMatchStatement as { SearchString: unknown }).SearchString = 'a1';

    expect(acceptedValuesOfRule(rule, 'X-Origin-Verify')).toEqual(['a1']);
  });

  const ours = () => buildOriginVerifyRule({ ...spec, values: ['a1', 'b2'] });
  const notOurShape: Array<[string, (rule: Rule) => void]> = [
    ['counts instead of blocking', (r) => (r.Action = { Count: {} })],
    ['checks another header', (r) => (r.Statement!.NotStatement!.Statement!.OrStatement!.Statements![1] = headerMatch('b2', 'x-other'))],
    ['matches a prefix', (r) => (r.Statement!.NotStatement!.Statement!.OrStatement!.Statements![0].ByteMatchStatement!.PositionalConstraint = 'STARTS_WITH')],
    ['lower-cases the header value first', (r) => (r.Statement!.NotStatement!.Statement!.OrStatement!.Statements![0].ByteMatchStatement!.TextTransformations = [{ Priority: 0, Type: 'LOWERCASE' }])],
    ['has no NotStatement', (r) => (r.Statement = headerMatch('a1'))],
    ['accepts three values', (r) => r.Statement!.NotStatement!.Statement!.OrStatement!.Statements!.push(headerMatch('c3'))],
    ['ANDs instead of ORs', (r) => (r.Statement!.NotStatement!.Statement = { AndStatement: { Statements: [headerMatch('a1'), headerMatch('b2')] } })],
    ['is a managed rule group', (r) => (r.Statement = { ManagedRuleGroupStatement: { VendorName: 'AWS', Name: 'AWSManagedRulesCommonRuleSet' } })],
  ];
  it.each(notOurShape)('is undefined for a rule that %s', (_, edit) => {
    const rule = ours();
    edit(rule);

    expect(acceptedValuesOfRule(rule, 'X-Origin-Verify')).toBeUndefined();
  });
});

describe('sameRule', () => {
  it('is true for equal rules whatever the byte array instances', () => {
    const a = buildOriginVerifyRule({ ...spec, values: ['a1', 'b2'] });
    const b = structuredClone(a);
    (b.Statement!.NotStatement!.Statement!.OrStatement!.Statements![0].ByteMatchStatement as { SearchString: Uint8Array }).SearchString =
      Buffer.from('a1');

    expect(sameRule(a, b)).toBe(true);
  });

  it('treats an absent field as equal to an undefined one', () => {
    const a = buildOriginVerifyRule({ ...spec, values: ['a1'] });

    expect(sameRule(a, { ...a, RuleLabels: undefined })).toBe(true);
  });

  it('is false when a value, the priority or the value order differs', () => {
    const a = buildOriginVerifyRule({ ...spec, values: ['a1', 'b2'] });

    expect(sameRule(a, buildOriginVerifyRule({ ...spec, values: ['a1', 'b3'] }))).toBe(false);
    expect(sameRule(a, buildOriginVerifyRule({ ...spec, priority: 4, values: ['a1', 'b2'] }))).toBe(false);
    expect(sameRule(a, buildOriginVerifyRule({ ...spec, values: ['b2', 'a1'] }))).toBe(false);
  });
});
