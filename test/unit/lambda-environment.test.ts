import { describe, expect, it } from 'vitest';
import { MissingEnvironmentError, requireLambdaEnvironment } from '../../lambdas/runtime.ts';

describe('requireLambdaEnvironment', () => {
  const deployed = { AWS_LAMBDA_FUNCTION_NAME: 'OriginGuard-Audit', ALERT_TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:alerts', ALERT_STATE_TABLE: 'state' };

  it('names the missing variable and the function when deployed', () => {
    const { ALERT_STATE_TABLE: _, ...withoutTable } = deployed;
    expect(() => requireLambdaEnvironment(withoutTable)).toThrow(MissingEnvironmentError);
    expect(() => requireLambdaEnvironment(withoutTable)).toThrow(/OriginGuard-Audit: environment variable ALERT_STATE_TABLE is not set/);
  });

  it('accepts a complete deployed environment, and does not apply outside Lambda (CLI, tests)', () => {
    expect(() => requireLambdaEnvironment(deployed)).not.toThrow();
    expect(() => requireLambdaEnvironment({})).not.toThrow();
  });
});
