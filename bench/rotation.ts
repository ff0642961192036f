/**
 * Section 3: API calls and time of each rotation step (the four Secrets Manager steps and retire) for 1, 5 and
 * 20 CloudFront distributions and 1 to 5 validators (WAF web ACLs and Kong routes), against moto_server and
 * the fake Kong Admin API, with propagation delays 0. Then the waits the targets impose, on a virtual clock,
 * with the configuration's default propagation delays, next to the public sample's fixed 75-second sleep.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { CreateDistributionCommand } from '@aws-sdk/client-cloudfront';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { CreateWebACLCommand } from '@aws-sdk/client-wafv2';
import { SecretConfigSchema, type SecretConfig } from '../lambdas/config.ts';
import type { AwsClients } from '../lambdas/adapters/aws-clients.ts';
import { allAwsClients } from '../lambdas/adapters/all-clients.ts';
import { rotationDeps } from '../lambdas/adapters/rotation-targets.ts';
import { silentLog, type Clock } from '../lambdas/core/ports.ts';
import { generateHeaderValue, retire, ROTATION_STEPS, runRotationStep, type RotationDeps } from '../lambdas/core/rotation.ts';
import { buildOriginVerifyRule } from '../lambdas/core/waf-rule.ts';
import { startFakeKong, type FakeKong } from '../test/support/fake-kong.ts';
import { commonRuleSetRule, gatewayDistributionConfig, rateLimitRule, visibility } from '../cli/seed.ts';
import { CallRecorder, instrumentClient, instrumentFetch, round } from './lib/instrument.ts';

export const DISTRIBUTION_COUNTS = [1, 5, 20];
export const VALIDATOR_COUNTS = [1, 2, 3, 4, 5];
/** The public sample (aws-samples/amazon-cloudfront-waf-secretsmanager) sleeps this long in setSecret. */
export const SAMPLE_FIXED_SLEEP_S = 75;
const HEADER = 'X-Origin-Verify';

export type StepName = (typeof ROTATION_STEPS)[number] | 'retire';
export const STEPS: StepName[] = [...ROTATION_STEPS, 'retire'];

export interface StepStats {
  reads: number;
  writes: number;
  calls: Record<string, number>;
  wallMs: number;
  /** Inside SDK calls (serialize, sign, emulator, parse) and Kong HTTP requests. */
  callMs: number;
  /** Asked of the clock by the rotation (propagation waits); 0 with propagation delays 0. */
  waitMs: number;
  /** wallMs - callMs - waitMs: time in origin-guard's code (and the SDK's in-process work outside `send`). */
  ownMs: number;
}

export interface RotationRow {
  distributions: number;
  validators: number;
  waf: number;
  kong: number;
  steps: Record<StepName, StepStats>;
  totalCalls: number;
  totalWrites: number;
  totalOwnMs: number;
  /** After retire: every distribution sends the new value, every validator accepts only it. */
  verified: boolean;
}

export interface WaitRow {
  label: string;
  waf: number;
  kong: number;
  /** Per step, seconds the rotation asked the clock to wait (a virtual clock: nothing really waited). */
  waitsS: Record<StepName, number>;
  totalWaitS: number;
  sampleFixedSleepS: number;
}

export interface RotationResult {
  rows: RotationRow[];
  waits: WaitRow[];
}

/** Validators for a count: WAF web ACLs and Kong routes alternating, WAF first (1 → 1 WAF, 5 → 3 WAF + 2 Kong). */
export function validatorMix(count: number): { waf: number; kong: number } {
  return { waf: Math.ceil(count / 2), kong: Math.floor(count / 2) };
}

interface Pool {
  distributionIds: string[];
  webAcls: Array<{ name: string; id: string }>;
  routes: string[];
}

async function seedPool(clients: AwsClients, kong: FakeKong, suffix: string): Promise<Pool> {
  const seedValue = generateHeaderValue();
  const distributionIds: string[] = [];
  for (let d = 0; d < Math.max(...DISTRIBUTION_COUNTS); d++) {
    const config = gatewayDistributionConfig({ reference: `bench-${suffix}-${d}`, suffix: `${d}-${suffix}`, region: 'eu-west-1', headerValue: seedValue });
    const out = await clients.cloudFront().send(new CreateDistributionCommand({ DistributionConfig: config }));
    distributionIds.push(out.Distribution!.Id!);
  }
  const managed = commonRuleSetRule(10);
  const rate = rateLimitRule(20);
  const webAcls: Pool['webAcls'] = [];
  for (let w = 0; w < validatorMix(Math.max(...VALIDATOR_COUNTS)).waf; w++) {
    const name = `bench-gateway-acl-${w}-${suffix}`;
    const verify = buildOriginVerifyRule({ ruleName: 'origin-verify', priority: 0, headerName: HEADER, values: [seedValue] });
    const out = await clients.wafv2('REGIONAL').send(
      new CreateWebACLCommand({
        Name: name,
        Scope: 'REGIONAL',
        DefaultAction: { Allow: {} },
        Description: 'bench gateway ALB',
        Rules: [verify, managed, rate],
        VisibilityConfig: visibility(name),
        CustomResponseBodies: { blocked: { ContentType: 'APPLICATION_JSON', Content: '{"message":"forbidden"}' } },
      }),
    );
    webAcls.push({ name, id: out.Summary!.Id! });
  }
  const routes: string[] = [];
  for (let k = 0; k < validatorMix(Math.max(...VALIDATOR_COUNTS)).kong; k++) {
    const name = `api-${k}`;
    kong.addRoute({ name, paths: [`/api-${k}`], hosts: ['api.example.com'], headers: { [HEADER]: [seedValue], 'x-tenant': ['blue'] }, tags: ['team-platform'] });
    routes.push(name);
  }
  return { distributionIds, webAcls, routes };
}

function secretConfig(
  pool: Pool,
  kongUrl: string,
  secretName: string,
  name: string,
  distributions: number,
  mix: { waf: number; kong: number },
  propagation: 'zero' | 'defaults',
): SecretConfig {
  // 'defaults': the schema's own defaults (WAF 60 s, Kong 5 s).
  const delay = propagation === 'zero' ? { propagationSeconds: 0 } : {};
  return SecretConfigSchema.parse({
    name,
    secretName,
    headerName: HEADER,
    overlapMinutes: 0,
    senders: pool.distributionIds.slice(0, distributions).map((distributionId) => ({ type: 'cloudfront', distributionId, originIds: ['gateway-alb'] })),
    validators: [
      ...pool.webAcls.slice(0, mix.waf).map((acl) => ({ type: 'wafv2', scope: 'REGIONAL', webAclName: acl.name, webAclId: acl.id, ruleName: 'origin-verify', priority: 0, ...delay })),
      ...pool.routes.slice(0, mix.kong).map((route) => ({ type: 'kong-route', adminUrl: kongUrl, routes: [route], ...delay })),
    ],
  });
}

/** Puts every sender and validator of `deps` on `value` (set-up, not measured). */
async function align(deps: RotationDeps, value: string): Promise<void> {
  for (const sender of deps.senders) await sender.send(value);
  for (const validator of deps.validators) await validator.accept([value]);
}

async function verifyRetired(deps: RotationDeps): Promise<boolean> {
  const current = await deps.store.value({ stage: 'AWSCURRENT' });
  if (!current) return false;
  for (const sender of deps.senders) {
    const sending = await sender.sending();
    if (sending?.length !== 1 || sending[0] !== current) return false;
  }
  for (const validator of deps.validators) {
    const accepted = await validator.accepted();
    if (accepted.length !== 1 || accepted[0] !== current) return false;
  }
  return true;
}

export interface RotationContext {
  endpoint: string;
  log?: (line: string) => void;
}

export async function runRotationBench(ctx: RotationContext): Promise<RotationResult> {
  const log = ctx.log ?? (() => {});
  const suffix = randomUUID().slice(0, 8);
  const clients = allAwsClients({ region: 'eu-west-1', endpoint: ctx.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, maxAttempts: 3 });
  const kong = await startFakeKong();
  try {
    const pool = await seedPool(clients, kong, suffix);
    log(`rotation: seeded ${pool.distributionIds.length} distributions, ${pool.webAcls.length} web ACLs, ${pool.routes.length} Kong routes`);
    const recorder = new CallRecorder();
    instrumentClient(clients.secretsManager(), 'secretsmanager', recorder);
    instrumentClient(clients.cloudFront(), 'cloudfront', recorder);
    instrumentClient(clients.wafv2('REGIONAL'), 'wafv2', recorder);
    const timedFetch = instrumentFetch('kong', recorder);

    // ----- calls and time per step, propagation 0 -----
    const rows: RotationRow[] = [];
    for (const distributions of DISTRIBUTION_COUNTS) {
      for (const validators of VALIDATOR_COUNTS) {
        const mix = validatorMix(validators);
        const secretName = `bench/rotation-${distributions}x${validators}-${suffix}`;
        const initial = generateHeaderValue();
        await clients.secretsManager().send(new CreateSecretCommand({ Name: secretName, SecretString: initial }));
        const secret = secretConfig(pool, kong.url, secretName, `bench-${distributions}x${validators}`, distributions, mix, 'zero');
        let waited = 0;
        const clock: Clock = {
          now: () => new Date(),
          sleep: async (ms) => {
            const started = performance.now();
            await new Promise((resolve) => setTimeout(resolve, ms));
            waited += performance.now() - started;
          },
        };
        const deps = rotationDeps(secret, { clients, logger: silentLog, fetch: timedFetch, clock });
        await align(deps, initial);

        const token = randomUUID();
        const steps = {} as Record<StepName, StepStats>;
        for (const step of STEPS) {
          waited = 0;
          const m = await recorder.measure(async () => {
            if (step === 'retire') {
              const result = await retire(secret, deps);
              if (result.status !== 'retired') throw new Error(`rotation bench: retire of ${secretName} answered ${result.status}: ${result.reason}`);
            } else {
              await runRotationStep(step, token, secret, deps);
            }
          });
          steps[step] = {
            reads: m.sink.reads,
            writes: m.sink.writes,
            calls: m.sink.byName(),
            wallMs: round(m.wallMs, 2),
            callMs: round(m.sink.ms, 2),
            waitMs: round(waited, 2),
            ownMs: round(Math.max(0, m.wallMs - m.sink.ms - waited), 2),
          };
        }
        const verified = await verifyRetired(deps);
        const row: RotationRow = {
          distributions,
          validators,
          ...mix,
          steps,
          totalCalls: STEPS.reduce((n, s) => n + steps[s].reads + steps[s].writes, 0),
          totalWrites: STEPS.reduce((n, s) => n + steps[s].writes, 0),
          totalOwnMs: round(STEPS.reduce((n, s) => n + steps[s].ownMs, 0), 2),
          verified,
        };
        rows.push(row);
        log(`rotation: ${distributions} distribution(s), ${mix.waf} WAF + ${mix.kong} Kong: ${row.totalCalls} calls, own code ${row.totalOwnMs} ms${verified ? '' : ', END STATE WRONG'}`);
      }
    }

    // ----- imposed waits with the default propagation delays, on a virtual clock -----
    const waits: WaitRow[] = [];
    for (const [label, mix] of [
      ['1 WAF + 1 Kong (defaults 60 s, 5 s)', { waf: 1, kong: 1 }],
      ['1 Kong route only (default 5 s)', { waf: 0, kong: 1 }],
    ] as const) {
      const secretName = `bench/rotation-waits-${mix.waf}-${mix.kong}-${suffix}`;
      const initial = generateHeaderValue();
      await clients.secretsManager().send(new CreateSecretCommand({ Name: secretName, SecretString: initial }));
      const secret = secretConfig(pool, kong.url, secretName, `bench-waits-${mix.waf}-${mix.kong}`, 1, mix, 'defaults');
      let offsetMs = 0;
      let asked = 0;
      const virtual: Clock = {
        now: () => new Date(Date.now() + offsetMs),
        sleep: async (ms) => {
          asked += ms;
          offsetMs += ms;
        },
      };
      const deps = rotationDeps(secret, { clients, logger: silentLog, fetch: timedFetch, clock: virtual });
      await align(deps, initial);
      const token = randomUUID();
      const waitsS = {} as Record<StepName, number>;
      for (const step of STEPS) {
        asked = 0;
        if (step === 'retire') {
          const result = await retire(secret, deps);
          if (result.status !== 'retired') throw new Error(`rotation bench: retire (virtual clock) answered ${result.status}: ${result.reason}`);
        } else {
          await runRotationStep(step, token, secret, deps);
        }
        waitsS[step] = round(asked / 1000, 2);
      }
      waits.push({ label, ...mix, waitsS, totalWaitS: round(STEPS.reduce((n, s) => n + waitsS[s], 0), 2), sampleFixedSleepS: SAMPLE_FIXED_SLEEP_S });
      log(`rotation waits: ${label}: ${waits[waits.length - 1].totalWaitS} s (sample: ${SAMPLE_FIXED_SLEEP_S} s)`);
    }
    return { rows, waits };
  } finally {
    await kong.close();
    for (const client of [clients.secretsManager(), clients.cloudFront(), clients.wafv2('REGIONAL')]) client.destroy();
  }
}
