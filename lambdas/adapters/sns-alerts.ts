/**
 * Publishes alerts (drift, resolution, reminders, rotation and reconcile failures) to the SNS topic, in the
 * one format of core/alerts.ts, per protocol (`MessageStructure: json`): text for email, and for the rest
 * text or, with `alerts.format: chat`, the chat notification. Message attributes let subscribers filter by
 * severity or kind.
 */
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { alertMessage, type AlertFormat } from '../core/alerts.ts';
import { TargetError } from '../core/errors.ts';
import type { AlertEvent, AlertPort } from '../core/ports.ts';

export class SnsAlertPublisher implements AlertPort {
  constructor(
    private readonly client: SNSClient,
    readonly topicArn: string,
    private readonly now: () => Date = () => new Date(),
    /** `alerts.format`: what SQS, Lambda and chat (HTTPS) subscribers get; email subscribers always get text. */
    private readonly format: AlertFormat = 'email',
    /** The posture page (report.bucket), linked from every alert. */
    private readonly reportLink?: string,
  ) {}

  async publish(event: AlertEvent): Promise<void> {
    const { subject, message } = alertMessage(event, { format: this.format, at: this.now(), ...(this.reportLink ? { reportLink: this.reportLink } : {}) });
    try {
      await this.client.send(
        new PublishCommand({
          TopicArn: this.topicArn,
          Subject: subject,
          Message: message,
          MessageStructure: 'json',
          MessageAttributes: {
            severity: { DataType: 'String', StringValue: event.finding.severity },
            kind: { DataType: 'String', StringValue: event.kind },
            checkId: { DataType: 'String', StringValue: event.finding.checkId },
          },
        }),
      );
    } catch (error) {
      const name = (error as { name?: string })?.name ?? 'Error';
      const hint =
        name === 'AuthorizationErrorException' || name === 'AccessDeniedException' || name === 'KMSAccessDeniedException'
          ? ' Grant sns:Publish on the topic (and kms:GenerateDataKey/Decrypt on its key).'
          : name === 'NotFoundException'
            ? ' The topic does not exist: check alerts.topicArn or the stack output AlertTopicArn.'
            : '';
      throw new TargetError(`sns:${this.topicArn}`, `publishing the alert failed (${name}: ${(error as Error).message}).${hint}`, {
        cause: error,
        retryable: name.includes('Throttl') || name === 'InternalErrorException',
      });
    }
  }
}
