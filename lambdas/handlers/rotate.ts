/**
 * Secrets Manager rotation function: one invocation per step ({Step, SecretId, ClientRequestToken}).
 * Thin: parse the event, find the secret's config, build its targets, run the core step.
 */
import { CloudFrontClient } from '@aws-sdk/client-cloudfront';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { WAFV2Client } from '@aws-sdk/client-wafv2';
import '../zod-english.ts';
import * as z from 'zod/mini';
import { ROTATION_STEPS, runRotationStep } from '../core/rotation.ts';
import { findSecretConfig, lambdaRuntime } from '../runtime.ts';
import { rotationDeps } from '../adapters/rotation-targets.ts';
import { accountClientsOf } from '../adapters/account-clients.ts';
import { lambdaClock, lambdaLeases, type LambdaContextLike } from '../adapters/lambda-writer.ts';
import { METRIC_SERVICE } from '../core/metric-names.ts';
import { createMetrics, recordRotationStep } from '../metrics.ts';

const metrics = createMetrics(METRIC_SERVICE.rotation);

export const RotationEventSchema = z.object({
  Step: z.enum(ROTATION_STEPS),
  SecretId: z.string().check(z.minLength(1)),
  ClientRequestToken: z.string().check(z.minLength(1)),
  RotationToken: z.optional(z.string()),
});

/**
 * Each step takes the secret's lease (DynamoDB, the alert-state table) and its deadline from the invocation's
 * remaining time: a wait that cannot finish in time stops cleanly and the next invocation resumes it.
 */
export const handler = async (event: unknown, context?: LambdaContextLike): Promise<void> => {
  // CloudWatch is loaded on use (one alarm read per rotation, by createSecret): on-demand-clients.ts.
  const runtime = lambdaRuntime(METRIC_SERVICE.rotation, { SecretsManagerClient, CloudFrontClient, WAFV2Client, SNSClient, DynamoDBClient });
  const parsed = RotationEventSchema.safeParse(event);
  if (!parsed.success) {
    throw new Error(`Not a Secrets Manager rotation event: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  const { Step, SecretId, ClientRequestToken } = parsed.data;
  const secret = findSecretConfig(runtime.config, SecretId);
  runtime.logger.appendKeys({ secret: secret.name, token: ClientRequestToken });
  const deps = rotationDeps(
    secret,
    { ...runtime, clock: lambdaClock(context), accounts: accountClientsOf(runtime.config, runtime.clients, 'rotate') },
    { leases: lambdaLeases(runtime, METRIC_SERVICE.rotation, context) },
  );
  const started = Date.now();
  let ok = false;
  try {
    await runRotationStep(Step, ClientRequestToken, secret, deps);
    ok = true;
  } finally {
    recordRotationStep(metrics, Step, Date.now() - started, ok);
    metrics.publishStoredMetrics();
  }
};
