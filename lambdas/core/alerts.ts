/**
 * When to alert and what the alert says. `decideAlert` is pure: it takes the stored state of a finding and
 * the finding just computed; `applyAlerts` runs it for the audit and the reconciler alike, with SNS and
 * DynamoDB behind ports.
 *
 * An operator hears once when a check first fails (NEW), once when it passes again (RESOLVED), and again
 * after `reminderHours` while it stays failed (REMINDER); rotation failures, and reconcile failures when no
 * state table is known, are sent on every run (FAILURE) in the same format. Messages carry fingerprints, never secret values: the checks never see a value.
 */
import { describeError } from './errors.ts';
import type { AlertEvent, AlertKind, AlertPort, Finding, LogPort, Severity } from './ports.ts';

/** What the state table remembers of one finding id. */
export interface AlertState {
  findingId: string;
  status: 'PASS' | 'FAIL';
  checkId: string;
  resource: string;
  severity: Severity;
  /** ISO time the current failure was first alerted; absent once resolved. */
  failingSince?: string;
  /** ISO time of the last alert sent for this finding. */
  lastAlertedAt: string;
  /** ISO time the observation behind the last write started; an older observation arriving later is ignored. */
  observedAt?: string;
  /** Bumped on every write, so that two audits running at once alert once (conditional writes). */
  version: number;
}

/** Remembers what was already alerted. Implemented on DynamoDB (adapters/alert-state-dynamodb.ts). */
export interface AlertStatePort {
  /** The stored state of each id that has one. */
  get(findingIds: string[]): Promise<Map<string, AlertState>>;
  /**
   * Stores `next` if the stored state is still `previous` (none when undefined). Returns false when another
   * run changed it in between: that run sends the alert, this one must not.
   */
  put(next: AlertState, previous: AlertState | undefined): Promise<boolean>;
}

export interface AlertDecision {
  /** The alert to send, or undefined for none. */
  kind?: Exclude<AlertKind, 'FAILURE'>;
  /** The state to store when an alert is sent. */
  next?: AlertState;
}

const HOUR_MS = 3_600_000;
/** The oldest an observation can be when it arrives: the audit's maxEventAge (1 h), its 5-minute run, a margin. */
export const MAX_OBSERVATION_DELAY_MS = 75 * 60_000;

/**
 * The alert state machine. A passing finding never seen failing is not stored (most findings pass, and
 * every write costs); a finding that keeps failing is written only when a reminder is due.
 */
export function decideAlert(previous: AlertState | undefined, finding: Finding, now: Date, reminderHours: number, observedAt: Date = now): AlertDecision {
  // Out of order (two audits racing, a retried invocation): what a newer observation decided stands. Only within
  // the age an audit event can reach (retries, maxEventAge): a stored time further ahead means a clock was reset
  // or wrong, and trusting it would freeze the finding.
  if (previous?.observedAt) {
    const ahead = Date.parse(previous.observedAt) - observedAt.getTime();
    if (ahead > 0 && ahead <= MAX_OBSERVATION_DELAY_MS) return {};
  }
  const base = {
    findingId: finding.id,
    checkId: finding.checkId,
    resource: finding.resource,
    severity: finding.severity,
    observedAt: observedAt.toISOString(),
  };
  const version = (previous?.version ?? 0) + 1;
  const wasFailing = previous?.status === 'FAIL';
  if (finding.status === 'FAIL' && !wasFailing) {
    return {
      kind: 'NEW',
      next: { ...base, status: 'FAIL', failingSince: now.toISOString(), lastAlertedAt: now.toISOString(), version },
    };
  }
  if (finding.status === 'PASS' && wasFailing) {
    return { kind: 'RESOLVED', next: { ...base, status: 'PASS', lastAlertedAt: now.toISOString(), version } };
  }
  if (finding.status === 'FAIL' && wasFailing && reminderHours > 0) {
    const last = Date.parse(previous.lastAlertedAt);
    if (Number.isNaN(last) || now.getTime() - last >= reminderHours * HOUR_MS) {
      return {
        kind: 'REMINDER',
        next: { ...base, status: 'FAIL', failingSince: previous.failingSince ?? previous.lastAlertedAt, lastAlertedAt: now.toISOString(), version },
      };
    }
  }
  return {};
}

// ---------- applying the state machine ----------

export interface AlertingDeps {
  publisher: AlertPort;
  state: AlertStatePort;
  /** 0 disables reminders. */
  reminderHours: number;
}

/**
 * Alerts for each finding whose state changed. The state is claimed before publishing (a conditional write),
 * so two runs at once (audits or reconciles) alert once; a failed publish puts the state back for the next run.
 */
export async function applyAlerts(
  findings: readonly Finding[],
  alerting: AlertingDeps,
  now: Date,
  log: LogPort,
  observedAt: Date = now,
): Promise<{ alerts: AlertEvent[]; errors: string[] }> {
  const stored = await alerting.state.get(findings.map((f) => f.id));
  const alerts: AlertEvent[] = [];
  const errors: string[] = [];
  for (const finding of findings) {
    const previous = stored.get(finding.id);
    const decision = decideAlert(previous, finding, now, alerting.reminderHours, observedAt);
    if (!decision.kind || !decision.next) continue;
    const failingSince = decision.kind === 'NEW' ? undefined : previous?.failingSince;
    const event: AlertEvent = {
      kind: decision.kind,
      finding: failingSince ? { ...finding, details: { ...finding.details, failingSince } } : finding,
    };
    try {
      const claimed = await alerting.state.put(decision.next, previous);
      if (!claimed) {
        log.info('alert already sent by a concurrent audit', { findingId: finding.id, kind: decision.kind });
        continue;
      }
    } catch (error) {
      errors.push(`${finding.id}: storing the alert state failed: ${describeError(error)}`);
      continue;
    }
    try {
      await alerting.publisher.publish(event);
      alerts.push(event);
      log.info('alert sent', { findingId: finding.id, kind: decision.kind, severity: finding.severity });
    } catch (error) {
      errors.push(`${finding.id}: publishing the ${decision.kind} alert failed: ${describeError(error)}`);
      log.error('alert publish failed; state put back for the next run', { findingId: finding.id, error: describeError(error) });
      await restoreState(alerting.state, previous, decision.next).catch((restoreError: unknown) =>
        errors.push(`${finding.id}: putting the alert state back failed: ${describeError(restoreError)}`),
      );
    }
  }
  return { alerts, errors };
}

// ---------- items removed from the configuration ----------

/** An alert state store that can also list what is failing and remove a state (the DynamoDB table can). */
export interface RemovableAlertStatePort extends AlertStatePort {
  /** Every stored state whose status is FAIL (an open alert). */
  failing(): Promise<AlertState[]>;
  /** Removes `state` if it is still that version; false when another run changed it in between. */
  remove(state: AlertState): Promise<boolean>;
}

export function isRemovableAlertState(state: AlertStatePort): state is RemovableAlertStatePort {
  const candidate = state as Partial<RemovableAlertStatePort>;
  return typeof candidate.failing === 'function' && typeof candidate.remove === 'function';
}

/** Config keys whose string values name a configured item (`distributionId`, `securityGroupIds`, `secretName`, `name`...). */
const IDENTIFIER_KEY = /(^|[a-z])(id|ids|name|names|arn|arns)$/i;

/** The identifiers the configuration names: the strings under identifier-like keys, anywhere in it. */
export function configuredIdentifiers(config: unknown): string[] {
  const found = new Set<string>();
  const walk = (value: unknown, key: string | undefined, depth: number) => {
    if (depth > 12) return;
    if (typeof value === 'string') {
      if (key && IDENTIFIER_KEY.test(key) && value.length >= 3) found.add(value);
    } else if (Array.isArray(value)) {
      for (const v of value) walk(v, key, depth + 1);
    } else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) walk(v, k, depth + 1);
    }
  };
  walk(config, undefined, 0);
  return [...found];
}

/**
 * The open alerts of items no longer in the configuration: failing states that a full audit did not find again
 * AND whose finding mentions nothing the configuration names. Conservative: a state that mentions any configured
 * identifier (its item may only have failed to be observed) stays.
 */
export function removedItemStates(failing: readonly AlertState[], currentFindingIds: ReadonlySet<string>, configured: readonly string[]): AlertState[] {
  return failing.filter((s) => !currentFindingIds.has(s.findingId) && !configured.some((id) => s.resource.includes(id) || s.findingId.includes(id)));
}

/**
 * After a full audit: resolves the open alert of each item removed from the configuration (a RESOLVED alert)
 * and removes its state row. The row is removed before publishing (a conditional delete, so two runs send one
 * alert); a failed publish writes it back for the next run.
 */
export async function resolveRemovedItems(
  state: RemovableAlertStatePort,
  publisher: AlertPort,
  currentFindingIds: ReadonlySet<string>,
  configured: readonly string[],
  log: LogPort,
): Promise<{ alerts: AlertEvent[]; errors: string[] }> {
  const alerts: AlertEvent[] = [];
  const errors: string[] = [];
  for (const removed of removedItemStates(await state.failing(), currentFindingIds, configured)) {
    try {
      if (!(await state.remove(removed))) continue;
    } catch (error) {
      errors.push(`${removed.findingId}: removing the alert state failed: ${describeError(error)}`);
      continue;
    }
    const event: AlertEvent = {
      kind: 'RESOLVED',
      finding: {
        id: removed.findingId,
        checkId: removed.checkId,
        severity: removed.severity,
        status: 'PASS',
        resource: removed.resource,
        message: `${removed.resource} is no longer in the origin-guard configuration (or no longer exists): the last full audit did not find it, so its open alert is closed and its state removed`,
        remediation: 'None: add the item to the configuration again to audit it.',
        details: { reason: 'removed from the configuration', ...(removed.failingSince ? { failingSince: removed.failingSince } : {}) },
      },
    };
    try {
      await publisher.publish(event);
      alerts.push(event);
      log.info('alert of a removed item resolved', { findingId: removed.findingId });
    } catch (error) {
      errors.push(`${removed.findingId}: publishing the RESOLVED alert failed: ${describeError(error)}`);
      await state.put(removed, undefined).catch((restoreError: unknown) => errors.push(`${removed.findingId}: putting the alert state back failed: ${describeError(restoreError)}`));
    }
  }
  return { alerts, errors };
}

async function restoreState(state: AlertStatePort, previous: AlertState | undefined, written: AlertState): Promise<void> {
  // Writing the old record back (with a newer version) makes the next run decide the same alert again.
  const restored = previous
    ? { ...previous, version: written.version + 1 }
    : { ...written, status: 'PASS' as const, failingSince: undefined, version: written.version + 1 };
  await state.put(restored, written);
}

// ---------- message format ----------

/** SNS rejects subjects of 100 characters or more, and line breaks or control characters in them. */
export const MAX_SUBJECT_LENGTH = 99;
/** SNS messages are at most 256 KB; a finding's details are cut well before that. */
const MAX_JSON_CHARS = 100_000;

const KIND_WORD: Record<AlertKind, string> = {
  NEW: 'DRIFT',
  RESOLVED: 'RESOLVED',
  REMINDER: 'STILL FAILING',
  FAILURE: 'FAILURE',
};

const HEADLINE: Record<AlertKind, string> = {
  NEW: 'Drift detected',
  RESOLVED: 'Resolved: this check passes again',
  REMINDER: 'Still failing: reminder',
  FAILURE: 'Operation failed',
};

export interface FormattedAlert {
  subject: string;
  body: string;
}

/** One line of printable ASCII: SNS (and mail clients) choke on the rest in a subject. */
function subjectSafe(text: string): string {
  return text
    .replace(/[\r\n\t]+/g, ' ')
    .replace(/[\u2026]/g, '...')
    .replace(/[^\x20-\x7e]/g, '?')
    .replace(/ {2,}/g, ' ')
    .trim();
}

function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max - 3);
  const atSpace = cut.lastIndexOf(' ');
  // Cut at a word when that loses little; resource names have no spaces and are worth showing in part.
  return `${atSpace >= cut.length - 12 ? cut.slice(0, atSpace) : cut}...`;
}

/** `[HIGH] DRIFT waf.associated: gateway-acl is not associated with app/alb/...`: severity first, under 100 characters. */
export function alertSubject(event: AlertEvent): string {
  const { finding } = event;
  const prefix = `[${finding.severity}] ${KIND_WORD[event.kind]} ${finding.checkId}: `;
  return truncate(subjectSafe(prefix + finding.message).replace(/\.$/, ''), MAX_SUBJECT_LENGTH);
}

function field(label: string, value: string | undefined): string[] {
  return value ? [`${`${label}:`.padEnd(16)}${value}`] : [];
}

function findingJson(finding: Finding): string {
  const text = JSON.stringify(finding, null, 2);
  if (text.length <= MAX_JSON_CHARS) return text;
  return JSON.stringify({ ...finding, details: { truncated: true } }, null, 2);
}

/**
 * The message an operator reads at 3 a.m.: what is wrong (or fixed), which check and resource, the fix, and
 * the finding as JSON for tooling.
 */
export function formatAlert(event: AlertEvent, at: Date = new Date()): FormattedAlert {
  const { kind, finding } = event;
  const failingSince = typeof finding.details?.failingSince === 'string' ? finding.details.failingSince : undefined;
  const lines = [
    `origin-guard: ${HEADLINE[kind]} (${finding.severity})`,
    '',
    ...field(kind === 'RESOLVED' ? 'Now' : 'What is wrong', finding.message),
    ...field('Check', finding.checkId),
    ...field('Resource', finding.resource),
    ...(kind === 'RESOLVED' ? [] : field('How to fix', finding.remediation)),
    ...(kind === 'RESOLVED' || kind === 'REMINDER' ? field('Failing since', failingSince) : []),
    ...field(kind === 'RESOLVED' ? 'Resolved at' : kind === 'FAILURE' ? 'Failed at' : 'Detected at', at.toISOString()),
    ...field('Finding id', finding.id),
    '',
    kind === 'NEW'
      ? 'You will get one more message when this check passes again.'
      : kind === 'REMINDER'
        ? 'This finding is still failing; you will be reminded again unless it is fixed.'
        : kind === 'RESOLVED'
          ? 'No action needed. This closes the earlier alert for the same finding id.'
          : 'See the message for what was put back or left unchanged; fix the cause, then retry.',
    '',
    '--- finding (JSON) ---',
    findingJson(finding),
  ];
  return { subject: alertSubject(event), body: lines.join('\n') };
}

/** A rotation or reconcile failure as a finding, so it travels in the same format. */
export function failureFinding(input: {
  checkId: string;
  resource: string;
  message: string;
  remediation: string;
  severity?: Severity;
  details?: Record<string, unknown>;
}): Finding {
  return {
    id: `${input.checkId}:${input.resource}`,
    checkId: input.checkId,
    severity: input.severity ?? 'HIGH',
    status: 'FAIL',
    resource: input.resource,
    message: input.message,
    remediation: input.remediation,
    ...(input.details ? { details: input.details } : {}),
  };
}

// ---------- per-protocol messages (email and chat) ----------

/** `email`: readable text for every subscriber; `chat`: the custom-notification JSON for chat channels. */
export type AlertFormat = 'email' | 'chat';

/** SNS: a published message (with its attributes) is at most 256 KB; we stay a little under it. */
export const MAX_MESSAGE_BYTES = 256 * 1024;
const MESSAGE_BUDGET_BYTES = MAX_MESSAGE_BYTES - 4 * 1024;

const CHAT_ICON: Record<AlertKind, string> = { NEW: ':red_circle:', REMINDER: ':large_orange_circle:', RESOLVED: ':large_green_circle:', FAILURE: ':red_circle:' };

/**
 * The custom notification that AWS Chatbot (Amazon Q Developer in chat applications) renders: version 1.0,
 * source `custom`, content (title, description, next steps, keywords) and metadata (thread, summary, event
 * type, related resources, additional context). One thread per finding id, so NEW, REMINDER and RESOLVED of
 * the same finding read as one conversation.
 */
export interface ChatNotification {
  version: '1.0';
  source: 'custom';
  id: string;
  content: { textType: 'client-markdown'; title: string; description: string; nextSteps: string[]; keywords: string[] };
  metadata: { threadId: string; summary: string; eventType: string; relatedResources: string[]; additionalContext: Record<string, string> };
}

export function formatChatAlert(event: AlertEvent, at: Date = new Date()): ChatNotification {
  const { kind, finding } = event;
  const failingSince = typeof finding.details?.failingSince === 'string' ? finding.details.failingSince : undefined;
  const nextSteps =
    kind === 'RESOLVED'
      ? ['No action needed: this closes the earlier alert for the same finding.']
      : [truncate(finding.remediation, 1000), `Finding id: ${finding.id}`];
  return {
    version: '1.0',
    source: 'custom',
    id: `${finding.id}:${kind}:${at.toISOString()}`.slice(0, 256),
    content: {
      textType: 'client-markdown',
      title: truncate(`${CHAT_ICON[kind]} ${HEADLINE[kind]}: ${finding.checkId} (${finding.severity})`, 250),
      description: truncate(
        [finding.message, `*Resource:* \`${finding.resource}\``, ...(failingSince ? [`*Failing since:* ${failingSince}`] : [])].join('\n'),
        4000,
      ),
      nextSteps,
      keywords: [finding.severity, KIND_WORD[kind], finding.checkId],
    },
    metadata: {
      threadId: truncate(finding.id, 256),
      summary: alertSubject(event),
      eventType: `origin-guard:${kind}`,
      relatedResources: [finding.resource],
      additionalContext: {
        findingId: finding.id,
        checkId: finding.checkId,
        severity: finding.severity,
        status: finding.status,
        at: at.toISOString(),
        ...(failingSince ? { failingSince } : {}),
      },
    },
  };
}

export interface PublishedAlert {
  subject: string;
  /** For `MessageStructure: json`: one message per protocol, with `default` for the rest. */
  message: string;
  /** The renderings inside `message`, for logs and tests. */
  email: string;
  chat: ChatNotification;
}

/**
 * The message to publish: email subscribers always get readable text; `default` (SQS, Lambda, chat
 * channels through HTTPS) gets the text or, with `format: chat`, the chat notification. A finding whose
 * details would push the message over the SNS limit is sent without them.
 */
export function alertMessage(event: AlertEvent, options: { format?: AlertFormat; at?: Date; reportLink?: string } = {}): PublishedAlert {
  const at = options.at ?? new Date();
  const link = options.reportLink;
  const build = (e: AlertEvent): PublishedAlert => {
    const { subject, body } = formatAlert(e, at);
    const email = link ? body.replace('\n--- finding (JSON) ---', `Posture page:   ${link}\n\n--- finding (JSON) ---`) : body;
    const chat = formatChatAlert(e, at);
    if (link) chat.content.nextSteps.push(`Posture page: ${link}`);
    const perProtocol = options.format === 'chat' ? { default: JSON.stringify(chat), email, https: JSON.stringify(chat) } : { default: email, email };
    return { subject, message: JSON.stringify(perProtocol), email, chat };
  };
  const full = build(event);
  if (new TextEncoder().encode(full.message).length <= MESSAGE_BUDGET_BYTES) return full;
  const { details: _dropped, ...bare } = event.finding;
  return build({ ...event, finding: { ...bare, message: truncate(bare.message, 2000), remediation: truncate(bare.remediation, 2000), details: { truncated: true } } });
}
