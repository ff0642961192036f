import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, CfnResource, Stack, Validations } from 'aws-cdk-lib';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { addOriginGuardStacks } from '../../lib/origin-guard-stack.ts';
import { exampleConfig, STUB_HANDLERS_DIR, synth } from './support.ts';

/** cdk-nag 3: `validateScope` is the direct entry point; `Annotations.findError` no longer sees its findings. */
function violations(app: IConstruct) {
  return new AwsSolutionsChecks().validateScope(app).violations.flatMap((v) =>
    v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`),
  );
}

/** Every finding, acknowledged or not, so each acknowledgement can be matched to a real one. */
function allFindings(app: IConstruct): Set<string> {
  const pack = new AwsSolutionsChecks();
  (pack as unknown as { isAcknowledged: () => boolean }).isAcknowledged = () => false;
  return new Set(
    pack.validateScope(app).violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`)),
  );
}

/** The acknowledgements recorded with `Validations.of(x).acknowledge`, with where they were made. */
function acknowledgements(app: IConstruct) {
  return app.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          id: id.replace(/^annotation::/i, ''),
          reason,
          construct,
        })),
      ),
  );
}

const configs = {
  'the example (eu-west-1)': () => exampleConfig(),
  'the example homed in us-east-1': () => exampleConfig((json) => (json.region = 'us-east-1')),
  'an imported topic and table': () =>
    exampleConfig((json) => {
      json.alerts.topicArn = 'arn:aws:sns:eu-west-1:123456789012:security-alerts';
      json.alerts.stateTableName = 'security-alert-state';
    }),
  'audit only': () =>
    exampleConfig((json) => {
      json.secrets = [];
      delete json.ipRanges;
      delete json.audit;
    }),
  'a CLOUDFRONT-scope validator and prefix lists': () =>
    exampleConfig((json) => {
      json.secrets[0].validators[0].scope = 'CLOUDFRONT';
      json.ipRanges.targets[0].mode = 'prefix-list';
      json.ipRanges.targets[0].prefixListIds = ['pl-0a1b2c3d4e5f60001'];
    }),
  'a posture report bucket': () =>
    exampleConfig((json) => {
      json.report = { bucket: 'example-origin-guard-posture' };
    }),
};

describe('cdk-nag AwsSolutionsChecks', () => {
  for (const [name, config] of Object.entries(configs)) {
    it(`finds nothing unacknowledged for ${name}`, () => {
      const { app } = synth(config());
      expect(violations(app)).toEqual([]);
    });
  }

  it('finds nothing unacknowledged with X-Ray tracing on', () => {
    const { app, template } = synth(exampleConfig(), { tracing: true });
    template.allResourcesProperties('AWS::Lambda::Function', { TracingConfig: { Mode: 'Active' } });
    expect(violations(app)).toEqual([]);
  });

  it('has every acknowledgement on one IAM policy, matching a real finding, with a reason', () => {
    const { app } = synth();
    const acks = acknowledgements(app);
    const findings = allFindings(app);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      // One resource: the policy construct itself, whose only CloudFormation resource is the policy.
      const resources = ack.construct.node.findAll().filter((c) => CfnResource.isCfnResource(c));
      expect(resources.map((r) => (r as CfnResource).cfnResourceType)).toEqual(['AWS::IAM::Policy']);
      expect(findings).toContain(`${ack.id} at ${resources[0].node.path}`);
      expect(ack.id).toMatch(/^AwsSolutions-IAM5\[Resource::.+\]$/);
      expect(ack.reason.length).toBeGreaterThan(80);
    }
    // The acknowledged wildcards, and nothing else.
    expect(acks.map((a) => `${a.construct.node.path}: ${a.id}`).sort()).toEqual(
      [
        'OriginGuard/Auditor/AuditFunction/Role/DefaultPolicy: AwsSolutions-IAM5[Resource::*]',
        // Read-only prefix-list entries: which lists the audited groups reference is known at run time only.
        'OriginGuard/Auditor/AuditFunction/Role/DefaultPolicy: AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:eu-west-1:<AWS::AccountId>:prefix-list/*]',
        'OriginGuard/Auditor/AuditFunction/Role/DefaultPolicy: AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:eu-west-1:aws:prefix-list/*]',
        'OriginGuard/Reconciler/ReconcileFunction/Role/DefaultPolicy: AwsSolutions-IAM5[Resource::*]',
        ...['Retire', 'Rotation'].flatMap((fn) =>
          ['ipset', 'managedruleset', 'regexpatternset', 'rulegroup'].map(
            (type) =>
              `OriginGuard/Rotation/${fn}Function/Role/DefaultPolicy: AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:wafv2:eu-west-1:<AWS::AccountId>:regional/${type}/*/*]`,
          ),
        ),
        'OriginGuard/Rotation/RotationFunction/Role/DefaultPolicy: AwsSolutions-IAM5[Resource::*]',
      ].sort(),
    );
  });

  it('does report a real problem (the check is not a false pass)', () => {
    const { app, stack } = synth();
    new sns.Topic(stack, 'UnencryptedTopic');
    expect(violations(app)).toContain('AwsSolutions-SNS3 at OriginGuard/UnencryptedTopic/Resource');
  });

  it('runs as a validation plugin at synth, as bin/app.ts registers it, and fails the synth on an error', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'origin-guard-nag-'));
    try {
      const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
      addOriginGuardStacks(app, exampleConfig(), { handlersDir: STUB_HANDLERS_DIR });
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      expect(() => app.synth()).not.toThrow();

      const bad = new App({ outdir: join(outdir, 'bad'), context: { 'aws:cdk:bundling-stacks': [] } });
      new sns.Topic(new Stack(bad, 'Bad'), 'Topic');
      Validations.of(bad).addPlugins(new AwsSolutionsChecks(bad));
      expect(() => bad.synth()).toThrow(/AwsSolutions-SNS3/);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
