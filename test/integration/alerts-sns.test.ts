/**
 * One alert as subscribers receive it from the emulator's SNS: published per protocol (MessageStructure json)
 * by the real publisher, read back from an SQS queue subscribed to the topic. With `alerts.format: email`
 * every subscriber reads text; with `chat` the queue (like a chat channel over HTTPS) gets the custom
 * notification of AWS Chatbot / Amazon Q Developer in chat applications, while email subscribers keep text.
 */
import { randomBytes } from 'node:crypto';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { SnsAlertPublisher } from '../../lambdas/adapters/sns-alerts.ts';
import { MAX_MESSAGE_BYTES } from '../../lambdas/core/alerts.ts';
import { fingerprint } from '../../lambdas/core/fingerprint.ts';
import type { AlertEvent } from '../../lambdas/core/ports.ts';
import { emulatorClientConfig, uniqueName } from '../support/aws.ts';

/** The documented event schema of custom notifications (docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html). */
const ChatNotificationSchema = z.strictObject({
  version: z.literal('1.0'),
  source: z.literal('custom'),
  id: z.optional(z.string()),
  content: z.strictObject({
    textType: z.optional(z.literal('client-markdown')),
    title: z.string().min(1),
    description: z.string(),
    nextSteps: z.optional(z.array(z.string())),
    keywords: z.optional(z.array(z.string())),
  }),
  metadata: z.optional(
    z.strictObject({
      threadId: z.optional(z.string()),
      summary: z.optional(z.string()),
      eventType: z.optional(z.string()),
      relatedResources: z.optional(z.array(z.string())),
      additionalContext: z.optional(z.record(z.string(), z.string())),
    }),
  ),
});

const SECRET_VALUE = `origin-verify-${randomBytes(24).toString('hex')}`;
const event: AlertEvent = {
  kind: 'NEW',
  finding: {
    id: 'waf.origin-verify:wafv2:REGIONAL/gateway-acl/origin-verify',
    checkId: 'waf.origin-verify',
    severity: 'CRITICAL',
    status: 'FAIL',
    resource: 'wafv2:REGIONAL/gateway-acl/origin-verify',
    message: `wafv2:REGIONAL/gateway-acl/origin-verify accepts ${fingerprint(SECRET_VALUE)}, which is not the current value: CloudFront's requests are refused.`,
    remediation: 'Run origin-guard rotate --secret cdn-to-gateway, or origin-guard adopt if senders send the right value.',
    // A large detail, as a finding with many rules has: the message must stay under the SNS limit anyway.
    details: { accepted: [fingerprint(SECRET_VALUE)], rules: Array.from({ length: 3000 }, (_, i) => `rule-${i}-${'x'.repeat(40)}`) },
  },
};

const settings = emulatorClientConfig();
const sns = new SNSClient(settings);
const sqs = new SQSClient(settings);
let topicArn: string;
let queueUrl: string;
/** The Message parameter of each Publish call, as sent over the wire. */
const sent: string[] = [];

beforeAll(async () => {
  sns.middlewareStack.add(
    (next) => async (args) => {
      const input = args.input as { Message?: string };
      if (input.Message) sent.push(input.Message);
      return next(args);
    },
    { step: 'initialize', name: 'captureMessage' },
  );
  topicArn = (await sns.send(new CreateTopicCommand({ Name: uniqueName('alerts-format') }))).TopicArn!;
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: uniqueName('alerts-format-inbox') }))).QueueUrl!;
  const queueArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: queueArn }));
});
afterAll(() => {
  sns.destroy();
  sqs.destroy();
});

async function receiveOne(): Promise<{ Subject?: string; Message: string }> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    if (Messages.length === 0) continue;
    await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
    expect(Messages).toHaveLength(1);
    return JSON.parse(Messages[0].Body!) as { Subject?: string; Message: string };
  }
  throw new Error('no alert reached the queue subscribed to the topic');
}

function expectWithinSnsLimits(envelope: { Subject?: string }, published: string): void {
  expect(new TextEncoder().encode(published).length).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
  expect(envelope.Subject!.length).toBeLessThan(100);
  expect(envelope.Subject).toMatch(/^[\x20-\x7e]+$/);
}

describe('alert renderings from the published SNS message', () => {
  it('email: every subscriber reads the text alert, under the SNS limits, without the secret value', async () => {
    await new SnsAlertPublisher(sns, topicArn, () => new Date('2026-12-03T03:00:00Z'), 'email').publish(event);

    const envelope = await receiveOne();
    const published = sent.at(-1)!;
    expect(Object.keys(JSON.parse(published)).sort()).toEqual(['default', 'email']);
    expect(envelope.Subject).toMatch(/^\[CRITICAL\] DRIFT waf\.origin-verify: wafv2:REGIONAL\/gateway-acl\/origin-verify accepts [0-9a-f]{8},/);
    // Text twice (default and email) with 150 KB of details would pass the limit: the details were left out.
    expect(envelope.Message).toContain('"truncated": true');
    expect(envelope.Message).toContain('origin-guard: Drift detected (CRITICAL)');
    expect(envelope.Message).toContain('How to fix:     Run origin-guard rotate --secret cdn-to-gateway');
    expectWithinSnsLimits(envelope, published);
    expect(`${envelope.Subject} ${published}`).not.toContain(SECRET_VALUE);
    console.info(`email rendering (${envelope.Message.length} chars), first lines:\n${envelope.Message.split('\n').slice(0, 12).join('\n')}`);
  });

  it('chat: the queue gets the documented custom notification, email subscribers still get text', async () => {
    await new SnsAlertPublisher(sns, topicArn, () => new Date('2026-12-03T03:00:00Z'), 'chat').publish(event);

    const envelope = await receiveOne();
    const published = JSON.parse(sent.at(-1)!) as Record<string, string>;
    expect(Object.keys(published).sort()).toEqual(['default', 'email', 'https']);
    const chat = ChatNotificationSchema.parse(JSON.parse(envelope.Message));
    expect(chat.content.title).toBe(':red_circle: Drift detected: waf.origin-verify (CRITICAL)');
    expect(chat.content.description).toContain('CloudFront\'s requests are refused');
    expect(chat.content.nextSteps?.[0]).toMatch(/^Run origin-guard rotate/);
    expect(chat.metadata).toMatchObject({ threadId: event.finding.id, eventType: 'origin-guard:NEW', relatedResources: [event.finding.resource] });
    expect(published.https).toBe(envelope.Message);
    expect(published.email).toContain('origin-guard: Drift detected (CRITICAL)');
    expectWithinSnsLimits(envelope, sent.at(-1)!);
    expect(`${envelope.Subject} ${sent.at(-1)}`).not.toContain(SECRET_VALUE);
    console.info(`chat rendering:\n${JSON.stringify(chat, null, 2)}`);
  });
});
