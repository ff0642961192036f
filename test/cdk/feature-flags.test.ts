/**
 * cdk.json sets every feature flag a new CDK app gets (`cdk init` writes aws-cdk-lib's recommended flags), so
 * `cdk synth` prints no "feature flags are not configured" notice; a flag set otherwise is listed with its reason.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { cdkJsonContext } from './support.ts';

/** Recommended flags cdk.json sets to another value, and why. */
const DIFFERENT_FROM_RECOMMENDED: Record<string, string> = {
  '@aws-cdk/core:enablePartitionLiterals':
    'false: policies keep {"Ref": "AWS::Partition"} instead of a literal "aws", so the same template deploys in aws-cn and aws-us-gov',
};

const recommended: Record<string, unknown> = JSON.parse(
  readFileSync(createRequire(import.meta.url).resolve('aws-cdk-lib/recommended-feature-flags.json'), 'utf8'),
);

describe('cdk.json feature flags', () => {
  it('configures every flag cdk init writes, with the recommended value unless listed with a reason', () => {
    const context = cdkJsonContext();
    expect(Object.keys(recommended).filter((flag) => !(flag in context))).toEqual([]);
    const different = Object.keys(recommended).filter((flag) => JSON.stringify(context[flag]) !== JSON.stringify(recommended[flag]));
    expect(different.sort()).toEqual(Object.keys(DIFFERENT_FROM_RECOMMENDED).sort());
  });
});
