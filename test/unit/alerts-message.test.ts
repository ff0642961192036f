/**
 * The chat notification and the published message, word for word (issue 15: mutation survivors in
 * lambdas/core/alerts.ts): each kind's icon, headline, next steps and keywords, the cuts of each field, the
 * per-protocol message, the posture link, and the SNS size budget at its boundary.
 */
import { describe, expect, it } from 'vitest';
import { alertMessage, alertSubject, formatAlert, formatChatAlert, MAX_MESSAGE_BYTES } from '../../lambdas/core/alerts.ts';
import type { AlertEvent, AlertKind, Finding } from '../../lambdas/core/ports.ts';

const AT = new Date('2025-06-01T04:05:06Z');
const SINCE = '2025-06-01T03:00:00.000Z';
const BUDGET = MAX_MESSAGE_BYTES - 4 * 1024;

function finding(overrides: Partial<Finding> = {}): Finding {
  return {
    id: 'waf.associated:alb-1',
    checkId: 'waf.associated',
    severity: 'HIGH',
    status: 'FAIL',
    resource: 'alb-1',
    message: 'gateway-acl is not associated with alb-1.',
    remediation: 'aws wafv2 associate-web-acl --resource-arn alb-1',
    ...overrides,
  };
}

const bytes = (text: string) => new TextEncoder().encode(text).length;

describe('chat notification, field by field', () => {
  it('NEW: red circle, drift headline, the fix and the finding id as next steps, one thread per finding', () => {
    expect(formatChatAlert({ kind: 'NEW', finding: finding() }, AT)).toEqual({
      version: '1.0',
      source: 'custom',
      id: 'waf.associated:alb-1:NEW:2025-06-01T04:05:06.000Z',
      content: {
        textType: 'client-markdown',
        title: ':red_circle: Drift detected: waf.associated (HIGH)',
        description: 'gateway-acl is not associated with alb-1.\n*Resource:* `alb-1`',
        nextSteps: ['aws wafv2 associate-web-acl --resource-arn alb-1', 'Finding id: waf.associated:alb-1'],
        keywords: ['HIGH', 'DRIFT', 'waf.associated'],
      },
      metadata: {
        threadId: 'waf.associated:alb-1',
        summary: '[HIGH] DRIFT waf.associated: gateway-acl is not associated with alb-1',
        eventType: 'origin-guard:NEW',
        relatedResources: ['alb-1'],
        additionalContext: { findingId: 'waf.associated:alb-1', checkId: 'waf.associated', severity: 'HIGH', status: 'FAIL', at: '2025-06-01T04:05:06.000Z' },
      },
    });
  });

  it('REMINDER: orange circle, still failing, and since when (in the description and the context)', () => {
    const chat = formatChatAlert({ kind: 'REMINDER', finding: finding({ severity: 'CRITICAL', details: { failingSince: SINCE } }) }, AT);
    expect(chat.id).toBe('waf.associated:alb-1:REMINDER:2025-06-01T04:05:06.000Z');
    expect(chat.content).toEqual({
      textType: 'client-markdown',
      title: ':large_orange_circle: Still failing: reminder: waf.associated (CRITICAL)',
      description: 'gateway-acl is not associated with alb-1.\n*Resource:* `alb-1`\n*Failing since:* 2025-06-01T03:00:00.000Z',
      nextSteps: ['aws wafv2 associate-web-acl --resource-arn alb-1', 'Finding id: waf.associated:alb-1'],
      keywords: ['CRITICAL', 'STILL FAILING', 'waf.associated'],
    });
    expect(chat.metadata.eventType).toBe('origin-guard:REMINDER');
    expect(chat.metadata.summary).toBe('[CRITICAL] STILL FAILING waf.associated: gateway-acl is not associated with alb-1');
    expect(chat.metadata.additionalContext).toEqual({
      findingId: 'waf.associated:alb-1',
      checkId: 'waf.associated',
      severity: 'CRITICAL',
      status: 'FAIL',
      at: '2025-06-01T04:05:06.000Z',
      failingSince: SINCE,
    });
  });

  it('RESOLVED: green circle, no fix but "no action needed", since when it failed', () => {
    const chat = formatChatAlert({ kind: 'RESOLVED', finding: finding({ status: 'PASS', message: 'gateway-acl is associated with alb-1.', details: { failingSince: SINCE } }) }, AT);
    expect(chat.content).toEqual({
      textType: 'client-markdown',
      title: ':large_green_circle: Resolved: this check passes again: waf.associated (HIGH)',
      description: 'gateway-acl is associated with alb-1.\n*Resource:* `alb-1`\n*Failing since:* 2025-06-01T03:00:00.000Z',
      nextSteps: ['No action needed: this closes the earlier alert for the same finding.'],
      keywords: ['HIGH', 'RESOLVED', 'waf.associated'],
    });
    expect(chat.metadata).toMatchObject({ eventType: 'origin-guard:RESOLVED', summary: '[HIGH] RESOLVED waf.associated: gateway-acl is associated with alb-1' });
    expect(chat.metadata.additionalContext).toMatchObject({ status: 'PASS', failingSince: SINCE });
  });

  it('FAILURE: red circle, operation failed, the fix', () => {
    const chat = formatChatAlert({ kind: 'FAILURE', finding: finding({ checkId: 'rotation.failed', id: 'rotation.failed:s1', resource: 's1' }) }, AT);
    expect(chat.content.title).toBe(':red_circle: Operation failed: rotation.failed (HIGH)');
    expect(chat.content.keywords).toEqual(['HIGH', 'FAILURE', 'rotation.failed']);
    expect(chat.content.nextSteps).toEqual(['aws wafv2 associate-web-acl --resource-arn alb-1', 'Finding id: rotation.failed:s1']);
    expect(chat.metadata).toMatchObject({ threadId: 'rotation.failed:s1', eventType: 'origin-guard:FAILURE', relatedResources: ['s1'] });
  });

  it('ignores a failure start that is not a string', () => {
    const chat = formatChatAlert({ kind: 'REMINDER', finding: finding({ details: { failingSince: 12345 } }) }, AT);
    expect(chat.content.description).toBe('gateway-acl is not associated with alb-1.\n*Resource:* `alb-1`');
    expect(chat.metadata.additionalContext).not.toHaveProperty('failingSince');
  });

  it('cuts each field to what chat accepts: id 256, title 250, description 4000, next step 1000, thread 256', () => {
    const long = finding({
      id: `id-${'i'.repeat(400)}`,
      checkId: `check-${'c'.repeat(300)}`,
      message: `m${'m'.repeat(5000)}`,
      remediation: `r${'r'.repeat(2000)}`,
    });
    const chat = formatChatAlert({ kind: 'NEW', finding: long }, AT);
    expect(chat.id).toBe(`id-${'i'.repeat(253)}`);
    expect(chat.content.title).toBe(`:red_circle: Drift detected: check-${'c'.repeat(247 - ':red_circle: Drift detected: check-'.length)}...`);
    expect(chat.content.title).toHaveLength(250);
    expect(chat.content.description).toBe(`${'m'.repeat(3997)}...`);
    expect(chat.content.nextSteps[0]).toBe(`${'r'.repeat(997)}...`);
    expect(chat.content.nextSteps[1]).toBe(`Finding id: ${long.id}`);
    expect(chat.metadata.threadId).toBe(`id-${'i'.repeat(250)}...`);
    expect(chat.metadata.additionalContext.findingId).toBe(long.id);
  });

  it('uses the current time when none is given', () => {
    const before = Date.now();
    const chat = formatChatAlert({ kind: 'NEW', finding: finding() });
    const after = Date.now();
    const at = Date.parse(chat.metadata.additionalContext.at);
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(after);
  });
});

describe('the published message', () => {
  it('email (the default): text for default and email, the subject, and the chat rendering for logs', () => {
    const event: AlertEvent = { kind: 'NEW', finding: finding({ details: { note: 'kept' } }) };
    const published = alertMessage(event, { at: AT });
    const { subject, body } = formatAlert(event, AT);
    expect(published.subject).toBe(subject);
    expect(published.subject).toBe(alertSubject(event));
    expect(published.email).toBe(body);
    expect(JSON.parse(published.message)).toEqual({ default: body, email: body });
    expect(published.chat).toEqual(formatChatAlert(event, AT));
    expect(alertMessage(event, { format: 'email', at: AT })).toEqual(published);
  });

  it('chat: the notification for default and https, text for email', () => {
    const event: AlertEvent = { kind: 'REMINDER', finding: finding({ details: { failingSince: SINCE } }) };
    const published = alertMessage(event, { format: 'chat', at: AT });
    const chat = formatChatAlert(event, AT);
    expect(JSON.parse(published.message)).toEqual({ default: JSON.stringify(chat), email: formatAlert(event, AT).body, https: JSON.stringify(chat) });
    expect(published.chat).toEqual(chat);
  });

  it('links the posture page: a line before the JSON in the text, a last next step in chat', () => {
    const link = 'https://example.test/posture.html';
    const event: AlertEvent = { kind: 'NEW', finding: finding() };
    const published = alertMessage(event, { format: 'chat', at: AT, reportLink: link });
    const lines = published.email.split('\n');
    const json = lines.indexOf('--- finding (JSON) ---');
    expect(lines.slice(json - 3, json + 1)).toEqual([
      'You will get one more message when this check passes again.',
      'Posture page:   https://example.test/posture.html',
      '',
      '--- finding (JSON) ---',
    ]);
    expect(published.chat.content.nextSteps).toEqual(['aws wafv2 associate-web-acl --resource-arn alb-1', 'Finding id: waf.associated:alb-1', 'Posture page: https://example.test/posture.html']);
    expect(JSON.parse(JSON.parse(published.message).https).content.nextSteps.at(-1)).toBe('Posture page: https://example.test/posture.html');
    expect(JSON.parse(published.message).email).toBe(published.email);
    const without = alertMessage(event, { format: 'chat', at: AT });
    expect(without.email).toBe(formatAlert(event, AT).body);
    expect(without.chat.content.nextSteps).toHaveLength(2);
  });

  it('uses the current time when none is given', () => {
    const before = Date.now();
    const { chat } = alertMessage({ kind: 'NEW', finding: finding() });
    const after = Date.now();
    expect(Date.parse(chat.metadata.additionalContext.at)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(chat.metadata.additionalContext.at)).toBeLessThanOrEqual(after);
  });

  // Chat format: the details appear once (in the email text), so one more character of them is one more byte.
  // Euro signs (3 bytes, 1 character) make the message large in bytes while its JSON stays under the 100 000 cap.
  const sized = (extra: number): AlertEvent => ({
    kind: 'NEW',
    finding: finding({ message: '\u20ac'.repeat(38_000), details: { blob: 'x'.repeat(extra) } }),
  });

  it('keeps a message of exactly the budget (252 KB) whole, and sends one byte more without its details', () => {
    const base = bytes(alertMessage(sized(0), { format: 'chat', at: AT }).message);
    expect(base).toBeLessThan(BUDGET);
    const fill = BUDGET - base;

    const atBudget = alertMessage(sized(fill), { format: 'chat', at: AT });
    expect(bytes(atBudget.message)).toBe(BUDGET);
    expect(atBudget.email).toContain(`"blob": "${'x'.repeat(fill)}"`);
    expect(atBudget.email).toBe(formatAlert(sized(fill), AT).body);

    const over = alertMessage(sized(fill + 1), { format: 'chat', at: AT });
    expect(over.email).not.toContain('"blob"');
    expect(over.email).toContain('"truncated": true');
  });

  it('over the budget: the same alert without details, message and fix cut to 2000 characters', () => {
    const big: AlertEvent = {
      kind: 'NEW',
      finding: finding({ message: `${'\u20ac'.repeat(80_000)} end`, remediation: `${'r'.repeat(3000)}`, details: { failingSince: SINCE, blob: 'x'.repeat(50) } }),
    };
    const published = alertMessage(big, { at: AT });
    const bare: AlertEvent = {
      kind: 'NEW',
      finding: { ...finding({ message: `${'\u20ac'.repeat(1997)}...`, remediation: `${'r'.repeat(1997)}...` }), details: { truncated: true } },
    };
    expect(published.email).toBe(formatAlert(bare, AT).body);
    expect(published.chat).toEqual(formatChatAlert(bare, AT));
    expect(published.subject).toBe(alertSubject(bare));
    expect(JSON.parse(published.message)).toEqual({ default: published.email, email: published.email });
    expect(bytes(published.message)).toBeLessThanOrEqual(BUDGET);
  });
});

describe('every kind renders in both formats', () => {
  it.each<AlertKind>(['NEW', 'REMINDER', 'RESOLVED', 'FAILURE'])('%s', (kind) => {
    const published = alertMessage({ kind, finding: finding() }, { format: 'chat', at: AT });
    expect(published.chat.metadata.eventType).toBe(`origin-guard:${kind}`);
    expect(JSON.parse(published.message).email).toBe(published.email);
  });
});
