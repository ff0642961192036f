/**
 * The interfaces the pure core depends on. Adapters (lambdas/adapters/) implement them; handlers and the
 * CLI build adapters and pass them in. Nothing here imports an SDK.
 */

// ---------- shared ----------

export interface Clock {
  now(): Date;
  /** Waits; the core only waits for delays that a target imposes (propagation, caches), never a fixed guess. */
  sleep(ms: number): Promise<void>;
  /**
   * The time this run has left (a Lambda's `getRemainingTimeInMillis()`, the CLI's `--timeout` budget);
   * absent means no deadline. A step stops cleanly rather than start a wait it cannot finish.
   */
  remainingMs?(): number;
}

/** A clock whose deadline is `budgetMs` from now (the CLI's `--timeout`). */
export function clockWithBudget(clock: Clock, budgetMs: number): Clock {
  const deadline = clock.now().getTime() + budgetMs;
  return { now: () => clock.now(), sleep: (ms) => clock.sleep(ms), remainingMs: () => deadline - clock.now().getTime() };
}

export const systemClock: Clock = {
  now: () => new Date(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** Structured logging: Powertools' Logger satisfies this. Never pass secret values; pass fingerprints. */
export interface LogPort {
  debug(message: string, ...extra: Array<Record<string, unknown>>): void;
  info(message: string, ...extra: Array<Record<string, unknown>>): void;
  warn(message: string, ...extra: Array<Record<string, unknown>>): void;
  error(message: string, ...extra: Array<Record<string, unknown>>): void;
}

export const silentLog: LogPort = { debug() {}, info() {}, warn() {}, error() {} };

// ---------- findings and alerts (audit, rotation and reconcile failures share one format) ----------

export type Severity = 'CRITICAL' | 'HIGH' | 'MEDIUM' | 'LOW';

export interface Finding {
  /** Stable across runs for the same check and resource, e.g. `waf.associated:arn:aws:elasticloadbalancing:...`. */
  id: string;
  /** The check's id, e.g. `waf.associated`, `rotation.failed`, `reconcile.source-failed`. */
  checkId: string;
  severity: Severity;
  /** INCONCLUSIVE: the check could not decide (a probe timed out, a read was refused); it never counts as PASS. */
  status: 'PASS' | 'FAIL' | 'INCONCLUSIVE';
  /** What is concerned: an ARN, a distribution id, a security group id, a secret name. */
  resource: string;
  /** One plain sentence saying what is wrong (or right). Never a secret value. */
  message: string;
  /** What to do about it. */
  remediation: string;
  details?: Record<string, unknown>;
  /** The account (its name in `accounts`) and region of the resource, set when the config lists accounts. */
  account?: string;
  region?: string;
}

export type AlertKind = 'NEW' | 'RESOLVED' | 'REMINDER' | 'FAILURE';

export interface AlertEvent {
  kind: AlertKind;
  finding: Finding;
}

export interface AlertPort {
  publish(event: AlertEvent): Promise<void>;
}

// ---------- rotation ----------

export const STAGE = {
  CURRENT: 'AWSCURRENT',
  PENDING: 'AWSPENDING',
  PREVIOUS: 'AWSPREVIOUS',
} as const;

/** Secret tags that hold the rotation state, so that the CLI, the Lambdas and the audit agree. */
export const TAG = {
  /** ISO time at which senders were told to send the new value; present while the overlap is open. */
  OVERLAP_OPENED_AT: 'origin-guard:overlap-opened-at',
  /**
   * The version whose value validators still accept during the overlap (the value senders sent before).
   * Written before AWSCURRENT moves, so a crash in between never widens what is accepted.
   */
  OVERLAP_VERSION: 'origin-guard:overlap-version',
  /** ISO time at which the validators were last set to accept the pending value. */
  VALIDATORS_SET_AT: 'origin-guard:validators-set-at',
  /**
   * The version id (rotation token) of an emergency rotation: its overlap is retired as soon as senders have
   * propagated, skipping the overlap window (leaked value). Only the rotation it names is an emergency, so a
   * flag left behind can never shorten the next rotation; every exit path clears it.
   */
  EMERGENCY: 'origin-guard:emergency',
  /** Progress, without any value: the step under way and its token (`testSecret <token>`). */
  PROGRESS_STEP: 'origin-guard:step',
  /** What the step waits for, in words. */
  PROGRESS_WAITING_FOR: 'origin-guard:waiting-for',
  /** ISO time until which it waits (the ETA of the wait). */
  PROGRESS_UNTIL: 'origin-guard:until',
  /** The last failure, refusal or stop of a step, in words (no value); cleared when a rotation finishes. */
  LAST_ERROR: 'origin-guard:last-error',
} as const;

/** The progress tags, cleared together. */
export const PROGRESS_TAGS = [TAG.PROGRESS_STEP, TAG.PROGRESS_WAITING_FOR, TAG.PROGRESS_UNTIL] as const;

/**
 * Secrets Manager tag values allow letters, digits, spaces and `_ . : / = + - @`, at most 256 characters:
 * other characters become spaces. Never pass a value here, only words and fingerprints.
 */
export function tagText(text: string): string {
  return text.replace(/[^\p{L}\p{N}\s_.:/=+\-@]/gu, ' ').replace(/\s+/g, ' ').trim().slice(0, 256);
}

export interface SecretVersionInfo {
  versionId: string;
  stages: string[];
  createdAt?: Date;
}

export interface SecretDescription {
  arn: string;
  name: string;
  versions: SecretVersionInfo[];
  tags: Record<string, string>;
  rotationEnabled: boolean;
  rotationDays?: number;
  lastRotatedAt?: Date;
  nextRotationAt?: Date;
}

export interface SecretStorePort {
  /** The secret's name or ARN as configured. */
  readonly secretId: string;
  /** `versionDates`: also each version's creation date (one more call). */
  describe(options?: { versionDates?: boolean }): Promise<SecretDescription>;
  /** The value of one version, by id or stage; undefined when there is no such version. */
  value(ref: { versionId: string } | { stage: string }): Promise<string | undefined>;
  /** Creates version `token` holding `value`, labelled AWSPENDING. Idempotent for the same token and value. */
  putPending(token: string, value: string): Promise<void>;
  /**
   * Moves `stage` onto version `to`, taking it off version `from` (give `from` whenever the stage is on
   * another version). `to` undefined only removes the stage from `from`.
   */
  moveStage(stage: string, to: string | undefined, from: string | undefined): Promise<void>;
  setTags(tags: Record<string, string>): Promise<void>;
  removeTags(keys: string[]): Promise<void>;
  /** Asks Secrets Manager to run the deployed rotation function (the CLI without --local); returns the new version id. */
  startRotation?(): Promise<string | undefined>;
}

export interface SenderPropagation {
  done: boolean;
  /**
   * The sender's value cannot be confirmed (a write-only store that someone else wrote): rewriting the current
   * value is safe while the overlap is open, and retire does so instead of waiting forever.
   */
  unknown?: boolean;
  /** Short words for progress and status, e.g. `InProgress`, `vault TTL: 120 s left`. Never a value. */
  detail: string;
}

/** Something that attaches the header to requests: CloudFront origins, Kong (through its vault). */
export interface SenderPort {
  /** e.g. `cloudfront:E2EXAMPLE`, `kong-vault:secretsmanager`. */
  readonly id: string;
  /** Makes the sender attach `value`, keeping every unrelated setting. Idempotent. */
  send(value: string): Promise<void>;
  /**
   * The distinct values it is configured to send now (more than one if its origins disagree; none when it sends
   * no header), or undefined when the target cannot tell (a write-only store written by someone else).
   */
  sending(): Promise<string[] | undefined>;
  /**
   * Whether every edge / node now sends `value`: CloudFront `Deployed` with it; a vault's TTL elapsed since
   * `since` (the moment it was switched).
   */
  propagated(value: string, since: Date | undefined, now: Date): Promise<SenderPropagation>;
  /**
   * Problems with the target's own settings that would break the rotation's timing (a Kong vault `ttl` longer
   * than configured): checked before a rotation changes anything; any problem refuses it.
   */
  preflight?(): Promise<string[]>;
}

/** Something that checks the header: a WAF rule, a Kong route, upstreams reading the secret. */
export interface ValidatorPort {
  /** e.g. `wafv2:REGIONAL/gateway-acl/origin-verify`, `kong-route:api`, `secretsmanager-readers`. */
  readonly id: string;
  /** How long a change takes to be in force everywhere (WAF propagation, Kong's db_update_frequency, reader caches). */
  readonly propagationSeconds: number;
  /** True for validators that read the secret itself (upstream readers): they accept whatever its stages say. */
  readonly followsSecret?: boolean;
  /** Makes the validator accept exactly `values` (one or two), keeping everything else about the target. Idempotent. */
  accept(values: string[]): Promise<void>;
  /** What it accepts now, read back from the target. */
  accepted(): Promise<string[]>;
  /** As for senders: problems (a reader known to be stale) that refuse a rotation before it changes anything. */
  preflight?(): Promise<string[]>;
}

export interface ProbeResult {
  /** HTTP status, or undefined when the connection was refused / reset / timed out (inconclusive, never "refused"). */
  status?: number;
  error?: string;
}

/** Sends one request to an origin with a given header value (the test step, the audit's probes). */
export interface ProbePort {
  request(url: string, headers: Record<string, string>): Promise<ProbeResult>;
}
