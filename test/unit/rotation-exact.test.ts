/**
 * The rotation as the operator sees it, exactly: each refusal's message (naming the secret, the step, the target
 * and what to do), each wait's length and progress, the alerts, the tags `status` reads, and the order of the
 * writes. In-memory targets (test/support/memory-targets.ts); no emulator.
 */
import { describe, expect, it } from 'vitest';
import { RotationFailedError, RotationStateError, RotationStoppedError } from '../../lambdas/core/errors.ts';
import { fingerprint } from '../../lambdas/core/fingerprint.ts';
import { clockWithBudget, STAGE, TAG, type LogPort, type ProbePort } from '../../lambdas/core/ports.ts';
import {
  adopt,
  classifyProbe,
  retire,
  rotateInProcess,
  runRotationStep,
  waitAndRetire,
  whenLeaseFree,
  withSecretLease,
  type RotationDeps,
  type RotationProgress,
  type RotationSettings,
} from '../../lambdas/core/rotation.ts';
import { MemoryLeases, MemoryLeaseTable } from '../support/memory-lease.ts';
import { FakeClock, Failure, MemoryAlerts, MemorySecretStore, MemorySender, MemoryValidator, unsafePairs } from '../support/memory-targets.ts';

const OLD = 'old-value-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const NEW = 'new-value-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';
const T0 = Date.parse('2026-01-01T00:00:00Z');
const iso = (ms: number) => new Date(T0 + ms).toISOString();
const WAF = 'wafv2:REGIONAL/acl/origin-verify';
const KONG = 'kong-route:api';

function world(options: { overlapMinutes?: number; wafSeconds?: number; kongSeconds?: number; probe?: ProbePort; probeUrl?: string; probeRefusedStatus?: number; leases?: boolean } = {}) {
  const clock = new FakeClock();
  const sleeps: number[] = [];
  const sleep = clock.sleep.bind(clock);
  clock.sleep = async (ms: number) => {
    sleeps.push(ms);
    await sleep(ms);
  };
  const store = new MemorySecretStore('origin-guard/cdn-to-gateway', clock, OLD);
  const senders = [new MemorySender('cloudfront:E1', OLD), new MemorySender('cloudfront:E2', OLD)];
  const validators = [new MemoryValidator(WAF, options.wafSeconds ?? 60, clock, [OLD]), new MemoryValidator(KONG, options.kongSeconds ?? 5, clock, [OLD])];
  const alerts = new MemoryAlerts();
  const events: RotationProgress[] = [];
  const logs: Array<[string, string, Record<string, unknown>?]> = [];
  const at = (level: string) => (m: string, ...e: unknown[]) => void logs.push([level, m, e[0] as Record<string, unknown>]);
  const log: LogPort = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  const table = new MemoryLeaseTable(() => clock.now());
  const deps: RotationDeps = {
    store,
    senders,
    validators,
    clock,
    log,
    alerts,
    probe: options.probe,
    onProgress: (e) => events.push(e),
    generateValue: () => NEW,
    ...(options.leases ? { leases: new MemoryLeases(table, 'test') } : {}),
  };
  const settings: RotationSettings = {
    name: 'cdn-to-gateway',
    headerName: 'X-Origin-Verify',
    overlapMinutes: options.overlapMinutes ?? 30,
    ...(options.probeUrl ? { probeUrl: options.probeUrl } : {}),
    ...(options.probeRefusedStatus ? { probeRefusedStatus: options.probeRefusedStatus } : {}),
  };
  const run = (step: 'createSecret' | 'setSecret' | 'testSecret' | 'finishSecret', token = 't1') => runRotationStep(step, token, settings, deps);
  return { clock, sleeps, store, senders, validators, alerts, events, logs, deps, settings, run, table, unsafe: () => unsafePairs(senders, validators) };
}

type World = ReturnType<typeof world>;

async function upTo(w: World, last: 'createSecret' | 'setSecret' | 'testSecret' | 'finishSecret', token = 't1') {
  for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const) {
    await w.run(step, token);
    if (step === last) return;
  }
}

const fp = fingerprint;

describe('refusals: exact messages, an alert, the last-error tag, and nothing changed', () => {
  it('createSecret without an AWSCURRENT version', async () => {
    const w = world();
    w.store.versions.get('v0')!.stages.clear();

    const error = await w.run('createSecret').catch((e) => e);

    expect(error).toBeInstanceOf(RotationStateError);
    expect(error.message).toBe('cdn-to-gateway: the secret has no AWSCURRENT version; create it with an initial value first');
    expect(w.alerts.events).toEqual([
      {
        kind: 'FAILURE',
        finding: {
          id: 'rotation.refused:cdn-to-gateway',
          checkId: 'rotation.refused',
          severity: 'MEDIUM',
          status: 'FAIL',
          resource: 'cdn-to-gateway',
          message: `Rotation of cdn-to-gateway refused in createSecret: ${error.message}`,
          remediation:
            'Fix the failing target (see the message), then run "origin-guard rotate --secret cdn-to-gateway". "origin-guard status" shows what every sender and validator holds now.',
          details: { step: 'createSecret', target: undefined, rolledBack: true },
        },
      },
    ]);
    expect(w.store.tags[TAG.LAST_ERROR]).toBe(`${iso(0)} createSecret refused: cdn-to-gateway: the secret has no AWSCURRENT version create it with an initial value first`);
    expect(w.events.map((e) => [e.step, e.phase])).toEqual([
      ['createSecret', 'start'],
      ['createSecret', 'fail'],
    ]);
    expect(w.events[0].message).toBe('create a new value (AWSPENDING)');
    expect(w.events[1].message).toBe(error.message);
    expect(w.store.versions.has('t1')).toBe(false);
  });

  it('createSecret while an earlier rotation is unfinished names its token and the command that resumes it', async () => {
    const w = world();
    await upTo(w, 'setSecret', 't1');
    const error = await w.run('createSecret', 't9').catch((e) => e);
    expect(error.message).toBe(
      'cdn-to-gateway: an earlier rotation (token t1) has not finished. Resume it with "origin-guard rotate --secret cdn-to-gateway --local", which completes it safely.',
    );
    expect(w.store.versions.has('t9')).toBe(false);
    expect(w.validators.map((v) => v.configured)).toEqual([
      [OLD, NEW],
      [OLD, NEW],
    ]);
  });

  it('createSecret while the previous overlap is open says until when', async () => {
    const w = world();
    await upTo(w, 'finishSecret');
    w.clock.advance(10 * 60_000);
    const opened = Date.parse(w.store.tags[TAG.OVERLAP_OPENED_AT]);

    const error = await w.run('createSecret', 't2').catch((e) => e);

    expect(error.message).toBe(
      `cdn-to-gateway: the overlap of the previous rotation is still open (waiting for the overlap window to end at ${new Date(opened + 30 * 60_000).toISOString()}); ` +
        'a new rotation starts only after "origin-guard retire" has closed it',
    );
    expect(w.validators.map((v) => v.configured)).toEqual([
      [OLD, NEW],
      [OLD, NEW],
    ]);
  });

  it('createSecret when a target reports a problem in its preflight: every problem, in order, and nothing changed', async () => {
    const w = world();
    Object.assign(w.deps.senders[1], { preflight: async () => ['cloudfront:E2 caches for 2 h'] });
    Object.assign(w.deps.validators[0], { preflight: async () => ['wafv2 propagates in 90 s, more than 60 s', 'wafv2 has no logging'] });

    const error = await w.run('createSecret').catch((e) => e);

    expect(error.message).toBe(
      'cdn-to-gateway: refusing to rotate, nothing was changed: cloudfront:E2 caches for 2 h; wafv2 propagates in 90 s, more than 60 s; wafv2 has no logging',
    );
    expect(w.store.versions.has('t1')).toBe(false);
  });

  it('createSecret when senders send something else or nothing: one problem per sender, with fingerprints', async () => {
    const w = world();
    const other = 'hand-configured-value-DDDDDDDDDDDDDDDDDDDDDDDDDDD';
    w.senders[0].sending = async () => [];
    w.senders[1].sending = async () => [OLD, other];

    const error = await w.run('createSecret').catch((e) => e);

    expect(error.message).toBe(
      `cdn-to-gateway: refusing to rotate, validators would refuse what senders send: cloudfront:E1 sends no X-Origin-Verify header; ` +
        `cloudfront:E2 sends ${fp(OLD)} and ${fp(other)}, not the current value ${fp(OLD)}. ` +
        `If the senders hold the value in use, run "origin-guard adopt --secret cdn-to-gateway" to store it as AWSCURRENT first; ` +
        `if a sender lacks the header, configure it first (README: onboarding).`,
    );
  });

  it('a sender that cannot tell what it sends does not block the rotation', async () => {
    const w = world();
    w.senders[0].sending = async () => undefined as unknown as string[];
    await upTo(w, 'finishSecret');
    expect(w.store.stageValue(STAGE.CURRENT)).toBe(NEW);
  });

  it('a later step for a token that is not AWSPENDING', async () => {
    const w = world();
    for (const step of ['setSecret', 'testSecret', 'finishSecret'] as const) {
      const error = await w.run(step, 't9').catch((e) => e);
      expect(error.message).toBe(`cdn-to-gateway: ${step} for token t9, but that version is not AWSPENDING (it was rolled back or never created); start a new rotation`);
    }
    expect(w.alerts.events.map((e) => e.finding.message)).toEqual(
      ['setSecret', 'testSecret', 'finishSecret'].map(
        (step) => `Rotation of cdn-to-gateway refused in ${step}: cdn-to-gateway: ${step} for token t9, but that version is not AWSPENDING (it was rolled back or never created); start a new rotation`,
      ),
    );
  });

  it('testSecret before setSecret finished', async () => {
    const w = world();
    await w.run('createSecret');
    const error = await w.run('testSecret').catch((e) => e);
    expect(error.message).toBe('cdn-to-gateway: testSecret before setSecret finished for token t1; run setSecret first');
    // An unreadable time is no time either.
    w.store.tags[TAG.VALIDATORS_SET_AT] = 'yesterday';
    await expect(w.run('testSecret')).rejects.toThrow('testSecret before setSecret finished for token t1');
    expect(w.senders.map((s) => s.configured)).toEqual([OLD, OLD]);
  });

  it('a pending version without a value was changed outside origin-guard', async () => {
    const w = world();
    await w.run('createSecret');
    w.store.versions.get('t1')!.value = undefined;
    await expect(w.run('setSecret')).rejects.toThrow('origin-guard/cdn-to-gateway: version t1 has no value; the secret was changed outside origin-guard');
  });
});

describe('the propagation wait of testSecret', () => {
  it('waits exactly what is left of the slowest validator, in 5 s polls, reporting each and recording its ETA', async () => {
    const w = world({ wafSeconds: 12, kongSeconds: 5 });
    await upTo(w, 'setSecret');
    w.clock.advance(1_000); // the invocation of testSecret starts a second later
    const tagsDuringWait: Array<Record<string, string>> = [];
    w.clock.sleep = async (ms: number) => {
      tagsDuringWait.push({ ...w.store.tags });
      w.sleeps.push(ms);
      w.clock.advance(ms);
    };

    await w.run('testSecret');

    expect(w.sleeps).toEqual([5_000, 5_000, 1_000]);
    const waits = w.events.filter((e) => e.phase === 'wait');
    expect(waits).toEqual([0, 5_000, 10_000].map((waitedMs) => ({
      secret: 'cdn-to-gateway',
      step: 'testSecret',
      phase: 'wait',
      message: `waiting for validator propagation (${WAF})`,
      waitedMs,
      waitingFor: `validator propagation (${WAF})`,
      until: new Date(T0 + 12_000),
    })));
    expect(tagsDuringWait[0]).toMatchObject({
      [TAG.PROGRESS_STEP]: 'testSecret t1',
      [TAG.PROGRESS_WAITING_FOR]: `validator propagation ${WAF}`,
      [TAG.PROGRESS_UNTIL]: iso(12_000),
    });
    // Done: the progress tags are gone, the step is reported done.
    for (const key of [TAG.PROGRESS_STEP, TAG.PROGRESS_WAITING_FOR, TAG.PROGRESS_UNTIL]) expect(w.store.tags[key]).toBeUndefined();
    expect(w.events.at(-1)).toEqual({ secret: 'cdn-to-gateway', step: 'testSecret', phase: 'done', message: 'validators propagated and verified' });
    await w.run('finishSecret');
    expect(w.unsafe()).toEqual([]);
  });

  it('names every validator as slow as the slowest', async () => {
    const w = world({ wafSeconds: 7, kongSeconds: 7 });
    await upTo(w, 'setSecret');
    await w.run('testSecret');
    expect(w.sleeps).toEqual([5_000, 2_000]);
    expect(w.events.find((e) => e.phase === 'wait')?.waitingFor).toBe(`validator propagation (${WAF}, ${KONG})`);
  });

  it('does not wait, nor write progress tags, once the propagation time has passed', async () => {
    const w = world({ wafSeconds: 60 });
    await upTo(w, 'setSecret');
    w.clock.advance(60_000);
    const calls = w.store.calls.length;
    await w.run('testSecret');
    expect(w.sleeps).toEqual([]);
    expect(w.events.filter((e) => e.phase === 'wait')).toEqual([]);
    expect(w.store.calls.slice(calls)).not.toContain('setTags');
  });

  it('waits until exactly the last millisecond of the propagation', async () => {
    const w = world({ wafSeconds: 60 });
    await upTo(w, 'setSecret');
    w.clock.advance(59_999);
    await w.run('testSecret');
    expect(w.sleeps).toEqual([1]);
  });

  it('stops before a wait it cannot finish within the deadline, with the exact message, and resumes later', async () => {
    const w = world({ wafSeconds: 300 });
    await upTo(w, 'setSecret');
    w.deps.clock = clockWithBudget(w.clock, 200_000);

    const error = await w.run('testSecret').catch((e) => e);

    expect(error).toBeInstanceOf(RotationStoppedError);
    expect(error.message).toBe(
      `Rotation of cdn-to-gateway stopped in testSecret before its deadline: 300 s of validator propagation (${WAF}) remain (until ${iso(300_000)}) ` +
        'but only 200 s of run time. Nothing was rolled back: validators accept the current and the pending value, senders send the current one. ' +
        'The next run of the rotation resumes here without waiting again for what already propagated.',
    );
    expect(w.alerts.events.map((e) => [e.finding.checkId, e.finding.severity, e.finding.details])).toEqual([
      ['rotation.stopped', 'MEDIUM', { step: 'testSecret', target: undefined, rolledBack: false, resumable: true }],
    ]);
    expect(w.alerts.events[0].finding.remediation).toBe(
      'Nothing to fix: Secrets Manager retries the rotation and it resumes where it stopped; "origin-guard status" shows its progress. ' +
        'If this repeats, the function timeout is too short for the configured propagation waits.',
    );
    expect(w.events.at(-1)).toMatchObject({ step: 'testSecret', phase: 'stop', message: error.message });
    // Progress stays for `status`; nothing was rolled back.
    expect(w.store.tags[TAG.PROGRESS_UNTIL]).toBe(iso(300_000));
    expect(w.validators.map((v) => v.configured)).toEqual([
      [OLD, NEW],
      [OLD, NEW],
    ]);
    expect(w.store.stageValue(STAGE.PENDING)).toBe(NEW);

    // The margin counts: 300 s of wait + 120 s of margin need 420 s of run time.
    w.deps.clock = clockWithBudget(w.clock, 419_999);
    await expect(w.run('testSecret')).rejects.toBeInstanceOf(RotationStoppedError);
    w.deps.clock = clockWithBudget(w.clock, 420_000);
    await w.run('testSecret');
    expect(w.sleeps.reduce((a, b) => a + b, 0)).toBe(300_000);
  });

  it('a smaller margin (the CLI) lets a shorter budget through; a negative budget reports 0 s left', async () => {
    const w = world({ wafSeconds: 60 });
    await upTo(w, 'setSecret');
    w.deps.deadlineMarginMs = 1_000;
    w.deps.clock = clockWithBudget(w.clock, -5_000);
    await expect(w.run('testSecret')).rejects.toThrow('remain (until 2026-01-01T00:01:00.000Z) but only 0 s of run time');
    w.deps.clock = clockWithBudget(w.clock, 61_000);
    await w.run('testSecret');
    expect(w.store.tags[TAG.VALIDATORS_SET_AT]).toBeDefined();
  });

  it('keeps extending its lease while it waits longer than the lease lasts', async () => {
    const w = world({ wafSeconds: 300, leases: true });
    await upTo(w, 'setSecret');
    await w.run('testSecret');
    expect(w.sleeps.reduce((a, b) => a + b, 0)).toBe(300_000);
    // Released afterwards: the next writer gets it at once.
    expect(w.table.items.size).toBe(0);
  });
});

describe('read-backs, probes and rollbacks: exact messages and alerts', () => {
  it('a validator that lost the current value: the message names it, the rollback restores it, and the alert says so', async () => {
    const w = world();
    await upTo(w, 'setSecret');
    w.validators[1].configured = [NEW];

    const error = await w.run('testSecret').catch((e) => e);

    expect(error).toBeInstanceOf(RotationFailedError);
    expect(error.target).toBe(KONG);
    const cause = `TargetError: ${KONG}: read back does not accept the current value (${fp(OLD)}); it accepts [${fp(NEW)}]`;
    expect(error.message).toBe(`Rotation of cdn-to-gateway failed in testSecret at ${KONG}: ${cause}. Rolled back: validators and senders are back to the last good state and traffic keeps flowing.`);
    expect(w.validators.map((v) => v.acceptCalls.at(-1))).toEqual([[OLD], [OLD]]);
    expect(w.store.stageValue(STAGE.PENDING)).toBeUndefined();
    expect(w.store.tags[TAG.VALIDATORS_SET_AT]).toBeUndefined();
    expect(w.store.tags[TAG.LAST_ERROR]).toMatch(/^2026-01-01T00:01:00\.000Z Rotation of cdn-to-gateway failed in testSecret at kong-route:api: TargetError/);
    expect(w.alerts.events).toHaveLength(1);
    expect(w.alerts.events[0].finding).toMatchObject({
      id: 'rotation.failed:cdn-to-gateway',
      checkId: 'rotation.failed',
      severity: 'HIGH',
      message: error.message,
      remediation: `Fix ${KONG} (see the message), then run "origin-guard rotate --secret cdn-to-gateway". "origin-guard status" shows what every sender and validator holds now.`,
      details: { step: 'testSecret', target: KONG, rolledBack: true },
    });
    expect(w.events.filter((e) => e.step === 'rollback')).toEqual([
      { secret: 'cdn-to-gateway', step: 'rollback', phase: 'start', message: `testSecret failed: ${cause}` },
      { secret: 'cdn-to-gateway', step: 'rollback', phase: 'done', message: error.message },
    ]);
  });

  it('a rollback that cannot restore a validator says which and how, and alerts CRITICAL', async () => {
    const w = world();
    await upTo(w, 'setSecret');
    w.validators[0].configured = [OLD];
    w.validators[1].faults.fail(new Failure('accept', 2));

    const error = await w.run('testSecret').catch((e) => e);

    expect(error.message).toBe(
      `Rotation of cdn-to-gateway failed in testSecret at ${WAF}: TargetError: ${WAF}: read back does not accept the pending value (${fp(NEW)}); it accepts [${fp(OLD)}]. ` +
        `Rollback was incomplete (restore ${KONG}: InjectedFailure: ${KONG}: injected failure of accept (call 2)); check these targets by hand with "origin-guard status".`,
    );
    expect(w.alerts.events[0].finding).toMatchObject({ severity: 'CRITICAL', details: { step: 'testSecret', target: WAF, rolledBack: false } });
    expect(w.events.at(-1)).toMatchObject({ step: 'rollback', phase: 'fail' });
    // The other validator was restored all the same, and the pending label cleared.
    expect(w.validators[0].configured).toEqual([OLD]);
    expect(w.store.stageValue(STAGE.PENDING)).toBeUndefined();
  });

  it('a rollback that cannot read the secret says so', async () => {
    const w = world();
    await upTo(w, 'setSecret');
    w.validators[0].configured = [OLD];
    // testSecret's own reads: describe, value, value; then the rollback's describe fails.
    w.store.faults.fail(new Failure('describe', w.store.calls.filter((c) => c === 'describe').length + 2, 10));
    const error = await w.run('testSecret').catch((e) => e);
    expect(error.message).toMatch(/Rollback was incomplete \(read the secret: InjectedFailure: secretsmanager:origin-guard\/cdn-to-gateway: injected failure of describe \(call \d+\)\); check these targets by hand/);
  });

  it('finishSecret: a validator narrowed since testSecret stops the switch, and the rollback says what stays accepted', async () => {
    const w = world();
    await upTo(w, 'testSecret');
    await w.validators[0].accept([OLD]);

    const error = await w.run('finishSecret').catch((e) => e);

    expect(error.message).toBe(
      `Rotation of cdn-to-gateway failed in finishSecret at ${WAF}: TargetError: ${WAF}: no longer accepts both the current and the pending value (it accepts [${fp(OLD)}]); senders were not switched. ` +
        'Rolled back: senders (validators keep accepting the attempted value until retire) are back to the last good state and traffic keeps flowing.',
    );
    // The attempted value is kept as AWSPREVIOUS with an overlap opened now, so retire narrows later.
    expect(w.store.versions.get('t1')!.stages).toEqual(new Set([STAGE.PREVIOUS]));
    expect(w.store.tags[TAG.OVERLAP_VERSION]).toBe('t1');
    expect(w.store.tags[TAG.OVERLAP_OPENED_AT]).toBe(w.clock.now().toISOString());
    expect(w.store.tags[TAG.VALIDATORS_SET_AT]).toBeUndefined();
    expect(w.senders.map((s) => s.configured)).toEqual([OLD, OLD]);
  });

  it('finishSecret skips the re-check for validators that follow the secret itself', async () => {
    const w = world();
    await upTo(w, 'testSecret');
    const reader = new MemoryValidator('secretsmanager-readers', 0, w.clock, [OLD]);
    Object.assign(reader, { followsSecret: true });
    w.deps.validators.push(reader);
    await w.run('finishSecret');
    expect(w.senders.map((s) => s.configured)).toEqual([NEW, NEW]);
  });

  it('a failure of a step that did not touch senders restores validators to what they accepted before, including an open overlap', async () => {
    const w = world({ overlapMinutes: 0 });
    // A previous rotation left AWSPREVIOUS; no overlap open now (retired).
    await upTo(w, 'finishSecret', 't0');
    w.senders.forEach((s) => s.finishDeploying());
    expect((await retire(w.settings, w.deps)).status).toBe('retired');
    const next = 'next-value-CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC';
    w.deps.generateValue = () => next;
    await w.run('createSecret', 't1');
    w.validators[1].faults.fail(new Failure('accept', 3));
    await expect(w.run('setSecret', 't1')).rejects.toBeInstanceOf(RotationFailedError);
    expect(w.validators.map((v) => v.configured)).toEqual([[NEW], [NEW]]);
  });

  it('probe: the pending value refused, a forged value let through, and inconclusive answers, each in words', async () => {
    const url = 'https://origin.example.com/health';
    const answers: Array<{ status?: number; error?: string }> = [];
    const seen: Array<Record<string, string>> = [];
    const probe: ProbePort = { request: async (_u, headers) => (seen.push(headers), answers.shift() ?? { status: 200 }) };

    const refusedWorld = world({ probe, probeUrl: url, probeRefusedStatus: 403 });
    answers.push({ status: 403 });
    await upTo(refusedWorld, 'setSecret');
    await expect(refusedWorld.run('testSecret')).rejects.toThrow(`probe:${url}: a request with the pending value was refused (403); a validator does not accept it yet`);
    expect(seen[0]).toEqual({ 'X-Origin-Verify': NEW });

    const openWorld = world({ probe, probeUrl: url, probeRefusedStatus: 403 });
    answers.push({ status: 200 }, { status: 204 });
    await upTo(openWorld, 'setSecret');
    await expect(openWorld.run('testSecret')).rejects.toThrow(
      `probe:${url}: a request with a wrong value was let through (204); the origin does not enforce X-Origin-Verify`,
    );
    expect(Object.keys(seen[2])).toEqual(['X-Origin-Verify']);
    expect(seen[2]['X-Origin-Verify']).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect([OLD, NEW]).not.toContain(seen[2]['X-Origin-Verify']);

    const vague = world({ probe, probeUrl: url, probeRefusedStatus: 403 });
    answers.push({ error: 'ETIMEDOUT' }, { status: 502 });
    await upTo(vague, 'testSecret');
    expect(vague.events.filter((e) => e.phase === 'skip')).toEqual([
      { secret: 'cdn-to-gateway', step: 'testSecret', phase: 'skip', message: `probe ${url} inconclusive for the pending value (ETIMEDOUT); relying on the read-backs` },
      { secret: 'cdn-to-gateway', step: 'testSecret', phase: 'skip', message: `probe ${url} inconclusive for the wrong value (502); relying on the read-backs` },
    ]);
    expect(vague.logs.filter(([level]) => level === 'warn').map(([, m]) => m)).toEqual([
      `probe ${url} inconclusive for the pending value (ETIMEDOUT); relying on the read-backs`,
      `probe ${url} inconclusive for the wrong value (502); relying on the read-backs`,
    ]);

    const silent = world({ probe, probeUrl: url });
    answers.push({}, { status: 404 });
    await upTo(silent, 'testSecret');
    expect(silent.events.filter((e) => e.phase === 'skip').map((e) => e.message)).toEqual([`probe ${url} inconclusive for the pending value (no answer); relying on the read-backs`]);
  });

  it('no probe without a probe URL, nor without a probe port', async () => {
    const calls: string[] = [];
    const w = world({ probe: { request: async (u) => (calls.push(u), { status: 200 }) } });
    await upTo(w, 'testSecret');
    const v = world({ probeUrl: 'https://origin.example.com/' });
    await upTo(v, 'testSecret');
    expect(calls).toEqual([]);
    expect(v.events.filter((e) => e.phase === 'skip')).toEqual([]);
  });
});

describe('the order of writes', () => {
  it('finishSecret: senders, the overlap tags, AWSCURRENT, AWSPENDING off, the overlap time again, the validators-set tag off', async () => {
    const w = world();
    await upTo(w, 'testSecret');
    const order: string[] = [];
    const store = w.deps.store;
    w.deps.store = {
      ...store,
      describe: (o) => store.describe(o),
      value: (r) => store.value(r),
      putPending: (t, v) => store.putPending(t, v),
      setTags: async (tags) => (order.push(`setTags ${Object.keys(tags).join(',')}`), store.setTags(tags)),
      removeTags: async (keys) => (order.push(`removeTags ${keys.join(',')}`), store.removeTags(keys)),
      moveStage: async (stage, to, from) => (order.push(`moveStage ${stage} ${to} ${from}`), store.moveStage(stage, to, from)),
    };
    w.deps.senders = w.senders.map((s) => ({ id: s.id, sending: () => s.sending(), propagated: (v) => s.propagated(v), send: async (v) => (order.push(`send ${s.id} ${fp(v)}`), s.send(v)) }));

    await w.run('finishSecret');

    expect(order).toEqual([
      `send cloudfront:E1 ${fp(NEW)}`,
      `send cloudfront:E2 ${fp(NEW)}`,
      `setTags ${TAG.OVERLAP_OPENED_AT},${TAG.OVERLAP_VERSION}`,
      'moveStage AWSCURRENT t1 v0',
      'moveStage AWSPENDING undefined t1',
      `setTags ${TAG.OVERLAP_OPENED_AT}`,
      `removeTags ${TAG.VALIDATORS_SET_AT}`,
    ]);
    expect(w.store.tags[TAG.OVERLAP_VERSION]).toBe('v0');
  });

  it('a finished step clears the last error only at finishSecret', async () => {
    const w = world();
    w.store.tags[TAG.LAST_ERROR] = 'an earlier failure';
    await upTo(w, 'testSecret');
    expect(w.store.tags[TAG.LAST_ERROR]).toBe('an earlier failure');
    await w.run('finishSecret');
    expect(w.store.tags[TAG.LAST_ERROR]).toBeUndefined();
  });

  it('setSecret on a resumed rotation keeps the propagation clock when every validator already accepts both values', async () => {
    const w = world();
    await upTo(w, 'setSecret');
    const setAt = w.store.tags[TAG.VALIDATORS_SET_AT];
    w.clock.advance(30_000);
    await w.run('setSecret');
    expect(w.store.tags[TAG.VALIDATORS_SET_AT]).toBe(setAt);
    expect(w.validators.map((v) => v.acceptCalls.length)).toEqual([1, 1]);
    await w.run('testSecret');
    expect(w.sleeps).toEqual([5_000, 5_000, 5_000, 5_000, 5_000, 5_000]);

    // One validator lost the pending value meanwhile: both are set again and the clock restarts.
    const v = world();
    await upTo(v, 'setSecret');
    v.validators[1].configured = [OLD];
    v.clock.advance(30_000);
    await v.run('setSecret');
    expect(v.validators.map((x) => x.acceptCalls.length)).toEqual([2, 2]);
    expect(v.store.tags[TAG.VALIDATORS_SET_AT]).toBe(iso(30_000));
    // The other way round: it lost the current value.
    const u = world();
    await upTo(u, 'setSecret');
    u.validators[0].configured = [NEW];
    await u.run('setSecret');
    expect(u.validators.map((x) => x.acceptCalls.length)).toEqual([2, 2]);
    // An unreadable recorded time sets them again as well.
    const r = world();
    await upTo(r, 'setSecret');
    r.store.tags[TAG.VALIDATORS_SET_AT] = 'not a time';
    await r.run('setSecret');
    expect(r.validators.map((x) => x.acceptCalls.length)).toEqual([2, 2]);
  });
});

describe('retire: reasons, the window to the millisecond, and what it leaves', () => {
  it('gives each reason in words', async () => {
    const w = world();
    expect(await retire(w.settings, w.deps)).toEqual({ status: 'nothing-to-retire', reason: 'no overlap is open' });
    await upTo(w, 'finishSecret');
    const ends = new Date(T0 + 60_000 + 30 * 60_000);
    expect(await retire(w.settings, w.deps)).toEqual({ status: 'waiting', reason: `the overlap window to end at ${ends.toISOString()}`, until: ends });
    w.clock.advance(30 * 60_000 - 1);
    expect((await retire(w.settings, w.deps)).status).toBe('waiting');
    w.clock.advance(1);
    expect(await retire(w.settings, w.deps)).toEqual({ status: 'waiting', reason: 'cloudfront:E1 to propagate the current value (InProgress)' });
    w.senders[0].finishDeploying();
    expect(await retire(w.settings, w.deps)).toEqual({ status: 'waiting', reason: 'cloudfront:E2 to propagate the current value (InProgress)' });
    w.senders[1].finishDeploying();
    expect(await retire(w.settings, w.deps)).toEqual({ status: 'retired', reason: 'overlap passed and senders propagated' });
    expect(w.events.at(-1)).toEqual({ secret: 'cdn-to-gateway', step: 'retire', phase: 'done', message: 'validators accept only the current value' });
    expect(w.validators.map((v) => v.acceptCalls.at(-1))).toEqual([[NEW], [NEW]]);
    expect(w.store.tags[TAG.OVERLAP_OPENED_AT]).toBeUndefined();
    expect(w.store.tags[TAG.OVERLAP_VERSION]).toBeUndefined();
    expect(w.unsafe()).toEqual([]);
  });

  it('waits for a rotation under way, and for one that started while it checked the senders', async () => {
    const w = world({ overlapMinutes: 0 });
    await upTo(w, 'finishSecret', 't0');
    w.senders.forEach((s) => s.finishDeploying());
    w.deps.generateValue = () => 'next-value-CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC';
    await w.store.putPending('t1', 'next-value-CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC');
    expect(await retire(w.settings, w.deps)).toEqual({ status: 'waiting', reason: 'the rotation under way to finish' });
    await w.store.moveStage(STAGE.PENDING, undefined, 't1');

    const propagated = w.senders[1].propagated.bind(w.senders[1]);
    w.senders[1].propagated = async (v) => {
      await w.store.moveStage(STAGE.PENDING, 't1', undefined); // a rotation starts meanwhile
      return propagated(v);
    };
    expect(await retire(w.settings, w.deps)).toEqual({ status: 'waiting', reason: 'the rotation that just started to finish' });
    expect(w.validators[0].configured).toEqual([OLD, NEW]);
  });

  it('an emergency overlap skips the window; the emergency flag goes with the overlap unless kept', async () => {
    const w = world({ overlapMinutes: 30 });
    await upTo(w, 'finishSecret');
    w.store.tags[TAG.EMERGENCY] = 't1';
    w.senders.forEach((s) => s.finishDeploying());
    expect(await retire(w.settings, w.deps, { keepEmergency: true })).toEqual({ status: 'retired', reason: 'senders propagated (emergency)' });
    expect(w.store.tags[TAG.EMERGENCY]).toBe('t1');

    const v = world({ overlapMinutes: 30 });
    await upTo(v, 'finishSecret');
    v.store.tags[TAG.EMERGENCY] = 't1';
    v.senders.forEach((s) => s.finishDeploying());
    await retire(v.settings, v.deps);
    expect(v.store.tags[TAG.EMERGENCY]).toBeUndefined();

    // A flag naming no rotation of this overlap does not shorten it, and an ordinary retire leaves no flag to drop.
    const u = world({ overlapMinutes: 30 });
    await upTo(u, 'finishSecret');
    u.store.tags[TAG.EMERGENCY] = 'someone-else';
    u.senders.forEach((s) => s.finishDeploying());
    expect((await retire(u.settings, u.deps)).status).toBe('waiting');
  });

  it('waitAndRetire sleeps until the window ends, then polls, reporting what it waits for, and stops at its timeout', async () => {
    const w = world({ overlapMinutes: 1 });
    await upTo(w, 'finishSecret');
    w.sleeps.length = 0;
    const before = w.events.length;

    const result = await waitAndRetire(w.settings, w.deps, { timeoutMs: 80_000, pollMs: 30_000 });

    // The window ends 60 s after the overlap opened (now): polls of 30 s; then the senders never deploy; the timeout cuts the last sleep.
    expect(w.sleeps).toEqual([30_000, 30_000, 20_000]);
    expect(result).toEqual({ status: 'waiting', reason: 'cloudfront:E1 to propagate the current value (InProgress)' });
    const waits = w.events.slice(before).filter((e) => e.phase === 'wait');
    expect(waits.map((e) => [e.waitedMs, e.message])).toEqual([
      [0, `the overlap window to end at ${iso(120_000)}`],
      [30_000, `the overlap window to end at ${iso(120_000)}`],
      [60_000, 'cloudfront:E1 to propagate the current value (InProgress)'],
    ]);
    expect(waits.every((e) => e.step === 'retire' && e.waitingFor === e.message)).toBe(true);
  });

  it('waitAndRetire sleeps only up to the end of the window when that comes first, and returns as soon as it retires', async () => {
    const w = world({ overlapMinutes: 1 });
    await upTo(w, 'finishSecret');
    w.senders.forEach((s) => s.finishDeploying());
    w.clock.advance(50_000);
    w.sleeps.length = 0;
    const result = await waitAndRetire(w.settings, w.deps, { timeoutMs: 600_000 });
    expect(w.sleeps).toEqual([5_000, 5_000]);
    expect(result.status).toBe('retired');
  });

  it('waitAndRetire treats a lease held by another writer as a reason to wait', async () => {
    const w = world({ overlapMinutes: 0, leases: true });
    await upTo(w, 'finishSecret');
    w.senders.forEach((s) => s.finishDeploying());
    const other = await new MemoryLeases(w.table, 'lambda:retire').acquire('secret:cdn-to-gateway', 'retire', 7_000);
    const result = await waitAndRetire(w.settings, w.deps, { timeoutMs: 60_000, pollMs: 5_000 });
    expect(result.status).toBe('retired');
    expect(w.events.find((e) => e.step === 'retire' && e.phase === 'wait')?.message).toMatch(/is being changed by retire \(lambda:retire\)/);
    expect(other.key).toBe('secret:cdn-to-gateway');
  });
});

describe('adopt: exact refusals', () => {
  it('names the sender, the disagreement, or the validator', async () => {
    const w = world();
    await upTo(w, 'setSecret');
    await expect(adopt(w.settings, w.deps)).rejects.toThrow('cdn-to-gateway: a rotation or an overlap is open; adopt only a settled secret (see "origin-guard status")');

    const v = world();
    v.senders[1].sending = async () => [];
    await expect(adopt(v.settings, v.deps)).rejects.toThrow('cdn-to-gateway: cloudfront:E2 sends no X-Origin-Verify header; nothing to adopt (README: onboarding)');

    const u = world();
    u.senders.forEach((s) => (s.sending = async () => undefined as unknown as string[]));
    await expect(adopt(u.settings, u.deps)).rejects.toThrow('cdn-to-gateway: no sender can show the value it sends; nothing to adopt');

    const d = world();
    const other = 'one-value-FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF';
    d.senders[0].configured = other;
    await expect(adopt(d.settings, d.deps)).rejects.toThrow(`cdn-to-gateway: senders disagree (cloudfront:E1 send ${fp(other)}; cloudfront:E2 send ${fp(OLD)}); make them send one value first`);

    const r = world();
    r.senders.forEach((s) => (s.configured = other));
    await expect(adopt(r.settings, r.deps)).rejects.toThrow(`cdn-to-gateway: ${WAF} does not accept ${fp(other)}, the value senders send (it accepts [${fp(OLD)}]); fix it first`);
    expect(r.store.stageValue(STAGE.CURRENT)).toBe(OLD);
  });

  it('adopts with the given token, reports the fingerprint, and leaves no pending label', async () => {
    const w = world();
    const inUse = 'value-set-by-hand-EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE';
    w.senders.forEach((s) => (s.configured = inUse));
    for (const v of w.validators) await v.accept([inUse]);
    expect(await adopt(w.settings, w.deps, 'adopted')).toEqual({ status: 'adopted', fingerprint: fp(inUse), versionId: 'adopted' });
    expect(w.store.versions.get('adopted')!.stages).toEqual(new Set([STAGE.CURRENT]));
    expect(await adopt(w.settings, w.deps)).toEqual({ status: 'already-current', fingerprint: fp(inUse), versionId: 'adopted' });
  });
});

describe('rotateInProcess', () => {
  it('resumes the pending rotation and reports it; an emergency run flags its own token only while it runs', async () => {
    const w = world();
    await upTo(w, 'createSecret', 'tA');
    expect(await rotateInProcess(w.settings, w.deps, { token: 'ignored' })).toEqual({ token: 'tA', resumed: true });

    const e = world({ overlapMinutes: 30 });
    const flags: Array<string | undefined> = [];
    const setTags = e.store.setTags.bind(e.store);
    e.store.setTags = async (tags) => (flags.push(e.store.tags[TAG.EMERGENCY]), setTags(tags));
    e.senders.forEach((s) => {
      const send = s.send.bind(s);
      s.send = async (v) => (await send(v), s.finishDeploying());
    });
    const result = await rotateInProcess(e.settings, e.deps, { emergency: true, token: 'tE', pollMs: 1_000, propagationTimeoutMs: 10_000 });
    expect(result).toEqual({ token: 'tE', resumed: false, retire: { status: 'retired', reason: 'senders propagated (emergency)' } });
    expect(flags.filter((f) => f !== undefined).every((f) => f === 'tE')).toBe(true);
    expect(flags).toContain('tE');
    expect(e.store.tags[TAG.EMERGENCY]).toBeUndefined();
  });

  it('an emergency run that gives up leaves the overlap open and says what it waits for', async () => {
    const w = world({ overlapMinutes: 30 });
    const result = await rotateInProcess(w.settings, w.deps, { emergency: true, token: 'tE', pollMs: 1_000, propagationTimeoutMs: 3_000 });
    expect(result.retire).toEqual({ status: 'waiting', reason: 'cloudfront:E1 to propagate the current value (InProgress)' });
    expect(w.sleeps.slice(-3)).toEqual([1_000, 1_000, 1_000]);
    expect(w.validators[0].configured).toEqual([OLD, NEW]);
  });
});

describe('more exact behaviour (mutation survivors)', () => {
  it('a step refused because another writer holds the secret reports it as a failure, without an alert', async () => {
    const w = world({ leases: true });
    await new MemoryLeases(w.table, 'lambda:rotation').acquire('secret:cdn-to-gateway', 'rotation setSecret (token t0)', 60_000);
    const error = await w.run('createSecret').catch((e) => e);
    expect(error.name).toBe('LeaseHeldError');
    expect(w.events).toEqual([{ secret: 'cdn-to-gateway', step: 'createSecret', phase: 'fail', message: error.message }]);
    expect(w.alerts.events).toEqual([]);
    expect(w.store.calls).not.toContain('putPending');
  });

  it('a lease lost during a step is neither rolled back nor alerted as a refusal', async () => {
    const w = world({ leases: true, wafSeconds: 300 });
    await upTo(w, 'setSecret');
    w.clock.sleep = async (ms: number) => {
      w.clock.advance(ms);
      const item = w.table.items.get('secret:cdn-to-gateway');
      if (item) item.owner = 'cli:other';
    };
    const error = await w.run('testSecret').catch((e) => e);
    expect(error.name).toBe('LeaseLostError');
    expect(w.alerts.events).toEqual([]);
    expect(w.store.tags[TAG.LAST_ERROR]).toBeUndefined();
    expect(w.validators.map((v) => v.configured)).toEqual([
      [OLD, NEW],
      [OLD, NEW],
    ]);
  });

  it('a lease taken over between two writes stops the next write, with no wait in between', async () => {
    const w = world({ leases: true });
    await w.run('createSecret');
    // The first validator's write is the last one the rotation may make: another writer takes the lease right after.
    const accept = w.validators[0].accept.bind(w.validators[0]);
    w.validators[0].accept = async (values: string[]) => {
      await accept(values);
      w.table.items.get('secret:cdn-to-gateway')!.owner = 'cli:other';
    };
    const error = await w.run('setSecret').catch((e) => e);
    expect(error.name).toBe('LeaseLostError');
    expect(w.validators[0].configured).toEqual([OLD, NEW]);
    expect(w.validators[1].acceptCalls).toEqual([]);
    expect(w.validators[1].configured).toEqual([OLD]);
  });

  it('with a lease, a sender sending another value still refuses the rotation', async () => {
    const w = world({ leases: true });
    w.senders[0].configured = 'hand-configured-value-DDDDDDDDDDDDDDDDDDDDDDDDDDD';
    await expect(w.run('createSecret')).rejects.toThrow('refusing to rotate, validators would refuse what senders send: cloudfront:E1 sends');
  });

  it('each step is reported with its title', async () => {
    const w = world();
    await upTo(w, 'finishSecret');
    expect(w.events.filter((e) => e.phase === 'start').map((e) => [e.step, e.message])).toEqual([
      ['createSecret', 'create a new value (AWSPENDING)'],
      ['setSecret', 'validators accept current + pending'],
      ['testSecret', 'validators propagated and verified'],
      ['finishSecret', 'senders switch; AWSCURRENT moves'],
    ]);
  });

  it('steps re-run after the rotation finished change nothing', async () => {
    const w = world();
    await upTo(w, 'finishSecret');
    const calls = w.store.calls.length;
    const accepts = w.validators.map((v) => v.acceptCalls.length);
    for (const step of ['createSecret', 'setSecret', 'testSecret'] as const) await w.run(step);
    expect(w.store.calls.slice(calls).filter((c) => c !== 'describe' && c !== 'value')).toEqual([]);
    expect(w.validators.map((v) => v.acceptCalls.length)).toEqual(accepts);
    expect(w.sleeps).toEqual([5_000, 5_000, 5_000, 5_000, 5_000, 5_000, 5_000, 5_000, 5_000, 5_000, 5_000, 5_000]);
  });

  it('createSecret run twice writes once; a rolled-back attempt retried with its token reuses its value', async () => {
    const w = world();
    await w.run('createSecret');
    const calls = w.store.calls.length;
    await w.run('createSecret');
    expect(w.store.calls.slice(calls).filter((c) => c !== 'describe' && c !== 'value')).toEqual([]);

    w.validators[1].faults.fail(new Failure('accept'));
    await expect(w.run('setSecret')).rejects.toBeInstanceOf(RotationFailedError);
    expect(w.store.stageValue(STAGE.PENDING)).toBeUndefined();
    w.deps.generateValue = () => 'another-value-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX';
    await w.run('createSecret');
    expect(w.store.stageValue(STAGE.PENDING)).toBe(NEW);
  });

  it('a finished step re-run keeps the validators-set tag of a newer rotation under way', async () => {
    const w = world({ overlapMinutes: 0 });
    await upTo(w, 'finishSecret', 't1');
    w.senders.forEach((s) => s.finishDeploying());
    w.deps.generateValue = () => 'next-value-CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC';
    await upTo(w, 'setSecret', 't2');
    const setAt = w.store.tags[TAG.VALIDATORS_SET_AT];
    await w.run('finishSecret', 't1');
    expect(w.store.tags[TAG.VALIDATORS_SET_AT]).toBe(setAt);
  });

  it('messages list every accepted value and every sender, separated as written', async () => {
    const other = 'stray-value-ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ';
    const w = world();
    await upTo(w, 'setSecret');
    w.validators[0].configured = [NEW, other];
    await expect(w.run('testSecret')).rejects.toThrow(`read back does not accept the current value (${fp(OLD)}); it accepts [${fp(NEW)}, ${fp(other)}]`);

    const v = world();
    await upTo(v, 'testSecret');
    await v.validators[1].accept([OLD, other]);
    await expect(v.run('finishSecret')).rejects.toThrow(`no longer accepts both the current and the pending value (it accepts [${fp(OLD)}, ${fp(other)}])`);

    const a = world();
    a.deps.senders.push(new MemorySender('cloudfront:E3', OLD));
    a.senders[0].configured = other;
    await expect(adopt(a.settings, a.deps)).rejects.toThrow(`senders disagree (cloudfront:E1 send ${fp(other)}; cloudfront:E2, cloudfront:E3 send ${fp(OLD)})`);
    a.senders[0].configured = OLD;
    a.deps.senders.forEach((s) => Object.assign(s, { configured: other }));
    await a.validators[0].accept([OLD, NEW]);
    await expect(adopt(a.settings, a.deps)).rejects.toThrow(`${WAF} does not accept ${fp(other)}, the value senders send (it accepts [${fp(OLD)}, ${fp(NEW)}])`);
  });

  it('adopt ignores validators that follow the secret itself', async () => {
    const w = world();
    const inUse = 'value-set-by-hand-EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE';
    w.senders.forEach((s) => (s.configured = inUse));
    for (const v of w.validators) await v.accept([inUse]);
    const reader = Object.assign(new MemoryValidator('secretsmanager-readers', 0, w.clock, [OLD]), { followsSecret: true });
    w.deps.validators.push(reader);
    expect((await adopt(w.settings, w.deps, 'adopted')).status).toBe('adopted');
  });

  it('probes: an accepted pending value and a refused wrong one report nothing; 400 is a refusal, 500 proves nothing', async () => {
    const answers = [{ status: 200 }, { status: 403 }];
    const w = world({ probe: { request: async () => answers.shift()! }, probeUrl: 'https://origin.example.com/' });
    await upTo(w, 'testSecret');
    expect(w.events.filter((e) => e.phase === 'skip')).toEqual([]);
    expect([399, 400, 499, 500].map((status) => classifyProbe({ status }, undefined))).toEqual(['accepted', 'refused', 'refused', 'inconclusive']);
  });

  it('a rollback names each step it could not undo, separated by "; ", and keeps the cause', async () => {
    const w = world();
    await w.run('createSecret');
    w.validators[1].faults.fail(new Failure('accept'));
    w.store.faults.fail(new Failure('moveStage', 1));
    w.store.faults.fail(new Failure('removeTags', 1));
    const error = await w.run('setSecret').catch((e) => e);
    expect(error.message).toBe(
      `Rotation of cdn-to-gateway failed in setSecret: InjectedFailure: ${KONG}: injected failure of accept (call 1). ` +
        'Rollback was incomplete (clear AWSPENDING: InjectedFailure: secretsmanager:origin-guard/cdn-to-gateway: injected failure of moveStage (call 1); ' +
        'clear the validators-set tag: InjectedFailure: secretsmanager:origin-guard/cdn-to-gateway: injected failure of removeTags (call 1)); check these targets by hand with "origin-guard status".',
    );
    expect(error.cause.message).toBe(`${KONG}: injected failure of accept (call 1)`);
  });

  it('a finishSecret rollback that cannot restore a sender names it', async () => {
    const w = world();
    await upTo(w, 'testSecret');
    w.senders[1].faults.fail(new Failure('send', 1));
    w.senders[0].faults.fail(new Failure('send', 2));
    const error = await w.run('finishSecret').catch((e) => e);
    expect(error.message).toMatch(/Rollback was incomplete \(restore cloudfront:E1: InjectedFailure: cloudfront:E1: injected failure of send \(call 2\)\); check these targets/);
  });

  it('an alert that cannot be published is logged; the failure is still thrown', async () => {
    const w = world();
    w.deps.alerts = { publish: async () => Promise.reject(new Error('SNS down')) };
    await w.run('createSecret');
    w.validators[0].faults.fail(new Failure('accept'));
    await expect(w.run('setSecret')).rejects.toBeInstanceOf(RotationFailedError);
    expect(w.logs.filter(([level, m]) => level === 'error' && m === 'could not publish the rotation failure alert').map(([, , f]) => f)).toEqual([
      { secret: 'cdn-to-gateway', error: 'Error: SNS down' },
    ]);
    const quiet = world();
    delete quiet.deps.alerts;
    await quiet.run('createSecret');
    quiet.validators[0].faults.fail(new Failure('accept'));
    await expect(quiet.run('setSecret')).rejects.toBeInstanceOf(RotationFailedError);
    expect(quiet.logs.filter(([level]) => level === 'error').map(([, m]) => m)).toEqual(['rotation step failed; rolling back']);
  });

  it('a rollback clears the emergency flag of its own rotation (or the old "true"), never another one', async () => {
    for (const [flag, kept] of [
      ['t1', false],
      ['true', false],
      ['t0', true],
    ] as const) {
      const w = world();
      await w.run('createSecret');
      w.store.tags[TAG.EMERGENCY] = flag;
      w.validators[0].faults.fail(new Failure('accept'));
      await expect(w.run('setSecret')).rejects.toBeInstanceOf(RotationFailedError);
      expect(w.store.tags[TAG.EMERGENCY]).toBe(kept ? flag : undefined);
    }
  });

  it('an ordinary rotation sets no emergency flag, and retire removes only the overlap tags', async () => {
    const w = world({ overlapMinutes: 0 });
    const flags: Array<string | undefined> = [];
    const setTags = w.store.setTags.bind(w.store);
    w.store.setTags = async (tags) => (flags.push(tags[TAG.EMERGENCY]), setTags(tags));
    await rotateInProcess(w.settings, w.deps, { token: 't1' });
    expect(flags.every((f) => f === undefined)).toBe(true);
    w.senders.forEach((s) => s.finishDeploying());
    const removed: string[][] = [];
    const removeTags = w.store.removeTags.bind(w.store);
    w.store.removeTags = async (keys) => (removed.push(keys), removeTags(keys));
    await retire(w.settings, w.deps);
    expect(removed).toEqual([[TAG.OVERLAP_OPENED_AT, TAG.OVERLAP_VERSION]]);
  });

  it('waitAndRetire: sleeps to the end of the window when that is sooner than a poll; other errors are thrown', async () => {
    const w = world({ overlapMinutes: 1 });
    await upTo(w, 'finishSecret');
    w.senders.forEach((s) => s.finishDeploying());
    w.clock.advance(50_000);
    w.sleeps.length = 0;
    expect((await waitAndRetire(w.settings, w.deps, { timeoutMs: 600_000, pollMs: 30_000 })).status).toBe('retired');
    expect(w.sleeps).toEqual([10_000]);

    const e = world();
    e.store.faults.fail(new Failure('describe', 1, 100));
    await expect(waitAndRetire(e.settings, e.deps, { timeoutMs: 60_000 })).rejects.toThrow('injected failure of describe');
  });

  it('waitAndRetire polls a bounded number of times even when the clock does not move', async () => {
    const w = world({ overlapMinutes: 0 });
    await upTo(w, 'finishSecret');
    w.clock.sleep = async () => {};
    const before = w.events.length;
    const result = await waitAndRetire(w.settings, w.deps, { timeoutMs: 10, pollMs: 2 });
    expect(result.status).toBe('waiting');
    // ceil(10 / 2) + 2 = 7 polls after the first check.
    expect(w.events.slice(before).filter((e) => e.phase === 'wait')).toHaveLength(7);
  });

  it('an emergency rotation gives up after 30 minutes by default, leaving the overlap open', async () => {
    const w = world({ overlapMinutes: 60 });
    const result = await rotateInProcess(w.settings, w.deps, { emergency: true, token: 'tE', pollMs: 60_000 });
    expect(result.retire?.status).toBe('waiting');
    // 60 s of validator propagation, then 30 polls of a minute.
    expect(w.sleeps.reduce((a, b) => a + b, 0)).toBe(60_000 + 30 * 60_000);
  });
});

describe('after the mutation run: survivors killed', () => {
  it('preflight problems refuse the rotation with leases too', async () => {
    const w = world({ leases: true });
    Object.assign(w.deps.senders[0], { preflight: async () => ['cloudfront:E1 caches for 2 h'] });
    Object.assign(w.deps.validators[1], { preflight: async () => ['kong-route:api has no route'] });
    await expect(w.run('createSecret')).rejects.toThrow('cdn-to-gateway: refusing to rotate, nothing was changed: cloudfront:E1 caches for 2 h; kong-route:api has no route');
  });

  it('a finishSecret rollback on a secret that already has AWSPREVIOUS moves it to the attempted version', async () => {
    const w = world({ overlapMinutes: 0 });
    await upTo(w, 'finishSecret', 't1');
    w.senders.forEach((s) => s.finishDeploying());
    expect((await retire(w.settings, w.deps)).status).toBe('retired');
    w.deps.generateValue = () => 'next-value-CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC';
    await upTo(w, 'testSecret', 't2');
    w.senders[1].faults.fail(new Failure('send', w.senders[1].sendCalls + 1));
    const error = await w.run('finishSecret', 't2').catch((e) => e);
    expect(error.message).toMatch(/Rolled back: senders \(validators keep accepting the attempted value until retire\) are back to the last good state/);
    expect(w.store.versions.get('t2')!.stages).toEqual(new Set([STAGE.PREVIOUS]));
    expect(w.store.versions.get('v0')!.stages).toEqual(new Set());
  });

  it('a finishSecret rollback that cannot keep the attempted value accepted says so', async () => {
    const w = world();
    await upTo(w, 'testSecret');
    w.senders[1].faults.fail(new Failure('send', 1));
    w.store.faults.fail(new Failure('setTags', w.store.calls.filter((c) => c === 'setTags').length + 1));
    const error = await w.run('finishSecret').catch((e) => e);
    expect(error.message).toMatch(
      /Rollback was incomplete \(keep the pending value accepted until senders propagate: InjectedFailure: secretsmanager:origin-guard\/cdn-to-gateway: injected failure of setTags \(call \d+\)\)/,
    );
  });

  it('an emergency rotate --local that stops at its deadline leaves no emergency flag behind', async () => {
    const w = world({ wafSeconds: 300 });
    w.deps.clock = clockWithBudget(w.clock, 100_000);
    await expect(rotateInProcess(w.settings, w.deps, { emergency: true, token: 'tE' })).rejects.toBeInstanceOf(RotationStoppedError);
    expect(w.store.tags[TAG.EMERGENCY]).toBeUndefined();
    expect(w.store.stageValue(STAGE.PENDING)).toBe(NEW);
  });
});

describe('whenLeaseFree (rotate --emergency after the deployed rotation moved AWSCURRENT)', () => {
  it('runs the work once the other writer releases the lease, checking every second', async () => {
    const w = world({ leases: true });
    const other = await new MemoryLeases(w.table, 'lambda:rotation').acquire('secret:cdn-to-gateway', 'rotation finishSecret (token t1)', 60_000);
    let tries = 0;
    const mark = () => withSecretLease(w.settings, w.deps, 'rotate --emergency', async (held) => (tries++, held.store.setTags({ [TAG.EMERGENCY]: 't1' })));
    const sleep = w.clock.sleep;
    w.clock.sleep = async (ms: number) => {
      await sleep(ms);
      if (w.clock.now().getTime() - T0 >= 3_000) await other.release();
    };
    await whenLeaseFree(w.deps, { timeoutMs: 60_000 }, mark);
    expect(tries).toBe(1);
    expect(w.store.tags[TAG.EMERGENCY]).toBe('t1');
    expect(w.sleeps).toEqual([1_000, 1_000, 1_000]);
  });

  it('gives up at its timeout with the holder named, having changed nothing', async () => {
    const w = world({ leases: true });
    await new MemoryLeases(w.table, 'lambda:rotation').acquire('secret:cdn-to-gateway', 'rotation finishSecret (token t1)', 600_000);
    const mark = () => withSecretLease(w.settings, w.deps, 'rotate --emergency', (held) => held.store.setTags({ [TAG.EMERGENCY]: 't1' }));
    const error = await whenLeaseFree(w.deps, { timeoutMs: 2_500 }, mark).catch((e) => e);
    expect(error.name).toBe('LeaseHeldError');
    expect(error.message).toContain('rotation finishSecret (token t1)');
    expect(w.sleeps).toEqual([1_000, 1_000, 500]);
    expect(w.store.tags[TAG.EMERGENCY]).toBeUndefined();
  });

  it('is bounded in count too: with a clock that never moves, it tries timeout / poll + 2 times and gives up', async () => {
    const w = world({ leases: true });
    await new MemoryLeases(w.table, 'lambda:rotation').acquire('secret:cdn-to-gateway', 'rotation finishSecret (token t1)', 600_000);
    w.clock.sleep = async (ms: number) => void w.sleeps.push(ms);
    let tries = 0;
    const mark = () => (tries++, withSecretLease(w.settings, w.deps, 'rotate --emergency', (held) => held.store.setTags({ [TAG.EMERGENCY]: 't1' })));
    const error = await whenLeaseFree(w.deps, { timeoutMs: 2_500 }, mark).catch((e) => e);
    expect(error.name).toBe('LeaseHeldError');
    expect(tries).toBe(5);
    expect(w.sleeps).toEqual([1_000, 1_000, 1_000, 1_000]);
  });

  it('does not retry other errors', async () => {
    const w = world();
    let tries = 0;
    const error = await whenLeaseFree(w.deps, { timeoutMs: 60_000 }, async () => {
      tries++;
      throw new Error('AccessDenied');
    }).catch((e) => e);
    expect(error.message).toBe('AccessDenied');
    expect(tries).toBe(1);
    expect(w.sleeps).toEqual([]);
  });
});
