/**
 * Secrets Manager rotation function: one invocation per step ({Step, SecretId, ClientRequestToken}).
 * Thin: parse the event, find the secret's config, build its targets, run the core step.
 */
import { CloudFrontClient } from '@aws-sdk/client-cloudfront';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { WAFV2Client } from '@aws-sdk/client-wafv2';
import '../zod-english.ts';
import * as z from 'zod/mini';
import { ROTATION_STEPS, runRotationStep } from '../core/rotation.ts';
import { findSecretConfig, lambdaRuntime } from '../runtime.ts';
import { rotationDeps } from '../adapters/rotation-targets.ts';
import { accountClientsOf } from '../adapters/account-clients.ts';

export const RotationEventSchema = z.object({
  Step: z.enum(ROTATION_STEPS),
  SecretId: z.string().check(z.minLength(1)),
  ClientRequestToken: z.string().check(z.minLength(1)),
  RotationToken: z.optional(z.string()),
});

export const handler = async (event: unknown): Promise<void> => {
  const runtime = lambdaRuntime('origin-guard-rotation', { SecretsManagerClient, CloudFrontClient, WAFV2Client, SNSClient });
  const parsed = RotationEventSchema.safeParse(event);
  if (!parsed.success) {
    throw new Error(`Not a Secrets Manager rotation event: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  const { Step, SecretId, ClientRequestToken } = parsed.data;
  const secret = findSecretConfig(runtime.config, SecretId);
  runtime.logger.appendKeys({ secret: secret.name, token: ClientRequestToken });
  await runRotationStep(Step, ClientRequestToken, secret, rotationDeps(secret, { ...runtime, accounts: accountClientsOf(runtime.config, runtime.clients, 'rotate') }));
};
