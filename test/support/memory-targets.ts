/**
 * In-memory senders, validators, secret store and clock for unit tests of the pure rotation core. They model
 * the timing that matters for traffic: a sender's old value stays on the wire until it has propagated, and a
 * validator's added value is in force only after its propagation delay (removals count at once, the worst case).
 * `unsafePairs()` lists every (sender value, validator) pair where a legitimate request would be refused.
 */
import { fingerprint } from '../../lambdas/core/fingerprint.ts';
import {
  STAGE,
  type AlertEvent,
  type AlertPort,
  type Clock,
  type SecretDescription,
  type SecretStorePort,
  type SenderPort,
  type SenderPropagation,
  type ValidatorPort,
} from '../../lambdas/core/ports.ts';

export class FakeClock implements Clock {
  slept = 0;
  constructor(private ms = Date.parse('2026-01-01T00:00:00Z')) {}
  now() {
    return new Date(this.ms);
  }
  async sleep(ms: number) {
    this.ms += ms;
    this.slept += ms;
  }
  advance(ms: number) {
    this.ms += ms;
  }
}

export class Failure {
  /** Fails the `call`-th call (1-based) of the method, `times` times in a row. */
  constructor(
    readonly method: string,
    readonly call = 1,
    readonly times = 1,
  ) {}
}

class FaultPlan {
  private counts = new Map<string, number>();
  private failures: Failure[] = [];
  fail(failure: Failure) {
    this.failures.push(failure);
  }
  clear() {
    this.failures = [];
  }
  check(target: string, method: string) {
    const n = (this.counts.get(method) ?? 0) + 1;
    this.counts.set(method, n);
    for (const f of this.failures) {
      if (f.method === method && n >= f.call && n < f.call + f.times) {
        throw Object.assign(new Error(`${target}: injected failure of ${method} (call ${n})`), { name: 'InjectedFailure' });
      }
    }
  }
}

interface Version {
  id: string;
  /** undefined: the empty version RotateSecret labels AWSPENDING before it invokes createSecret. */
  value: string | undefined;
  stages: Set<string>;
  createdAt: Date;
}

export class MemorySecretStore implements SecretStorePort {
  readonly versions = new Map<string, Version>();
  readonly tags: Record<string, string> = {};
  readonly faults = new FaultPlan();
  calls: string[] = [];
  constructor(
    readonly secretId: string,
    private clock: FakeClock,
    initialValue = 'initial-value-0000000000000000000000000',
  ) {
    this.versions.set('v0', { id: 'v0', value: initialValue, stages: new Set([STAGE.CURRENT]), createdAt: clock.now() });
  }
  private op(method: string) {
    this.calls.push(method);
    this.faults.check(`secretsmanager:${this.secretId}`, method);
  }
  async describe(): Promise<SecretDescription> {
    this.op('describe');
    return {
      arn: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${this.secretId}-AbCdEf`,
      name: this.secretId,
      versions: [...this.versions.values()]
        .filter((v) => v.stages.size > 0)
        .map((v) => ({ versionId: v.id, stages: [...v.stages], createdAt: v.createdAt })),
      tags: { ...this.tags },
      rotationEnabled: true,
    };
  }
  async value(ref: { versionId: string } | { stage: string }) {
    this.op('value');
    if ('versionId' in ref) return this.versions.get(ref.versionId)?.value;
    return [...this.versions.values()].find((v) => v.stages.has(ref.stage))?.value;
  }
  async putPending(token: string, value: string) {
    this.op('putPending');
    const existing = this.versions.get(token);
    if (existing && existing.value !== undefined && existing.value !== value) throw new Error('ResourceExistsException: token reused with another value');
    for (const v of this.versions.values()) v.stages.delete(STAGE.PENDING);
    this.versions.set(token, { id: token, value, stages: new Set([STAGE.PENDING]), createdAt: this.clock.now() });
  }
  async moveStage(stage: string, to: string | undefined, from: string | undefined) {
    this.op('moveStage');
    const holder = [...this.versions.values()].find((v) => v.stages.has(stage));
    if (holder && to && holder.id !== to && holder.id !== from) {
      throw new Error(`InvalidParameterException: ${stage} is on ${holder.id}; give RemoveFromVersionId`);
    }
    if (from) this.versions.get(from)?.stages.delete(stage);
    if (to) {
      const target = this.versions.get(to);
      if (!target) throw new Error(`ResourceNotFoundException: version ${to}`);
      if (stage === STAGE.CURRENT && holder && holder.id !== to) {
        // Secrets Manager moves AWSPREVIOUS to the version that loses AWSCURRENT.
        for (const v of this.versions.values()) v.stages.delete(STAGE.PREVIOUS);
        holder.stages.add(STAGE.PREVIOUS);
      }
      target.stages.add(stage);
    }
  }
  async setTags(tags: Record<string, string>) {
    this.op('setTags');
    Object.assign(this.tags, tags);
  }
  async removeTags(keys: string[]) {
    this.op('removeTags');
    for (const k of keys) delete this.tags[k];
  }
  /** What RotateSecret does before invoking the rotation function: an empty version labelled AWSPENDING. */
  labelEmptyPending(token: string) {
    for (const v of this.versions.values()) v.stages.delete(STAGE.PENDING);
    this.versions.set(token, { id: token, value: undefined, stages: new Set([STAGE.PENDING]), createdAt: this.clock.now() });
  }
  stageValue(stage: string) {
    return [...this.versions.values()].find((v) => v.stages.has(stage))?.value;
  }
}

export class MemoryValidator implements ValidatorPort {
  /** What the target is configured to accept. */
  configured: string[] = [];
  /** value -> time from which it is in force everywhere */
  private inForceFrom = new Map<string, number>();
  readonly faults = new FaultPlan();
  acceptCalls: string[][] = [];
  constructor(
    readonly id: string,
    readonly propagationSeconds: number,
    private clock: FakeClock,
    initial: string[],
  ) {
    this.configured = [...initial];
    for (const v of initial) this.inForceFrom.set(v, 0);
  }
  async accept(values: string[]) {
    this.faults.check(this.id, 'accept');
    this.acceptCalls.push([...values]);
    const now = this.clock.now().getTime();
    for (const v of [...this.inForceFrom.keys()]) if (!values.includes(v)) this.inForceFrom.delete(v);
    for (const v of values) if (!this.inForceFrom.has(v)) this.inForceFrom.set(v, now + this.propagationSeconds * 1000);
    this.configured = [...values];
  }
  async accepted() {
    this.faults.check(this.id, 'accepted');
    return [...this.configured];
  }
  /** Accepted on every node right now. */
  enforces(value: string) {
    const from = this.inForceFrom.get(value);
    return from !== undefined && from <= this.clock.now().getTime();
  }
}

export class MemorySender implements SenderPort {
  configured: string;
  /** Values some edge may still send: the old one stays until the sender has propagated. */
  private onWire: Set<string>;
  readonly faults = new FaultPlan();
  /** Set false to keep the sender "InProgress". */
  deployed = true;
  sendCalls = 0;
  constructor(
    readonly id: string,
    initial: string,
  ) {
    this.configured = initial;
    this.onWire = new Set([initial]);
  }
  async send(value: string) {
    this.faults.check(this.id, 'send');
    this.sendCalls++;
    if (value === this.configured) return;
    this.configured = value;
    this.onWire.add(value);
    this.deployed = false;
  }
  async sending() {
    return [this.configured];
  }
  async propagated(value: string): Promise<SenderPropagation> {
    this.faults.check(this.id, 'propagated');
    const done = this.deployed && this.configured === value;
    return { done, detail: done ? 'Deployed' : 'InProgress' };
  }
  /** The edges finish deploying: only the configured value is sent from now on. */
  finishDeploying() {
    this.deployed = true;
    this.onWire = new Set([this.configured]);
  }
  wire() {
    return [...this.onWire];
  }
}

export class MemoryAlerts implements AlertPort {
  events: AlertEvent[] = [];
  async publish(event: AlertEvent) {
    this.events.push(event);
  }
}

/** Every value on some sender's wire that some validator does not enforce: each would be a refused request. */
export function unsafePairs(senders: MemorySender[], validators: MemoryValidator[]): string[] {
  const out: string[] = [];
  for (const s of senders) {
    for (const value of s.wire()) {
      for (const v of validators) if (!v.enforces(value)) out.push(`${s.id} sends ${fingerprint(value)} which ${v.id} refuses`);
    }
  }
  return out;
}
