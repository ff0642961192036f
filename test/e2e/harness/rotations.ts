/**
 * Driving the product the way its entry points do (the CLI's `rotate --local`, the rotation Lambda's four
 * invocations, the retire Lambda's ticks), and checking what AWS, Kong and the world's nodes hold at the end.
 */
import type { DistributionConfig } from '@aws-sdk/client-cloudfront';
import { expect } from 'vitest';
import { RotationStateError } from '../../../lambdas/core/errors.ts';
import { rotateInProcess, waitAndRetire, type RotateOptions, type RotateResult, type RotationDeps } from '../../../lambdas/core/rotation.ts';
import { sleep } from './periodic.ts';
import { CDN, fp, UPSTREAM, type Hop, type World } from './world.ts';

/** How often a retire loop polls (the deployed retire Lambda ticks on a schedule; the CLI's `retire --wait` polls). */
export const RETIRE_POLL_MS = 250;
export const RETIRE_TIMEOUT_MS = 20_000;

export interface HopRotation {
  hop: Hop;
  before: string;
  after: string;
}

/** `origin-guard rotate --local` for one secret, then retire as soon as the product allows it. */
export async function rotateAndRetire(world: World, hop: Hop, options: RotateOptions = {}, deps: RotationDeps = world.deps(hop)): Promise<HopRotation> {
  const before = (await world.value(hop))!;
  await rotateInProcess(world.secrets[hop], deps, options);
  await retireNow(world, hop, before, deps);
  return { hop, before, after: (await world.value(hop))! };
}

/**
 * `origin-guard rotate` run again and again until the product accepts it: a new rotation is refused while
 * the previous overlap cannot be retired yet (senders still propagating). Returns the refusals too.
 */
export async function rotateWhenAllowed(world: World, hop: Hop, options: RotateOptions = {}): Promise<{ result: RotateResult; refusals: number }> {
  let refusals = 0;
  for (let attempt = 0; attempt < 200; attempt++) {
    try {
      return { result: await rotateInProcess(world.secrets[hop], world.deps(hop), options), refusals };
    } catch (error) {
      if (!(error instanceof RotationStateError)) throw error;
      refusals += 1;
      await sleep(RETIRE_POLL_MS);
    }
  }
  throw new Error(`${hop}: rotate was still refused after ${refusals} attempts`);
}

/** Polls `retire` until it retires (bounded), then lets the forger present `before` once it must be refused. */
export async function retireNow(world: World, hop: Hop, before: string, deps: RotationDeps = world.deps(hop)): Promise<void> {
  const result = await waitAndRetire(world.secrets[hop], deps, { timeoutMs: RETIRE_TIMEOUT_MS, pollMs: RETIRE_POLL_MS });
  expect(result, `retire of ${hop}`).toMatchObject({ status: 'retired' });
  world.markRetired(hop, before);
}

/** A distribution config with every origin custom header value replaced by its fingerprint. */
function withFingerprints(config: DistributionConfig): DistributionConfig {
  const copy = structuredClone(config);
  for (const origin of copy.Origins?.Items ?? []) {
    for (const header of origin.CustomHeaders?.Items ?? []) header.HeaderValue = fp(header.HeaderValue);
  }
  return copy;
}

export interface FinalStateOptions {
  /** Applies the changes someone else made to the distribution (they must have survived). */
  expectDistribution?: (expected: DistributionConfig) => void;
  /** Names of rules someone else added to the web ACL (they must have survived). */
  extraRules?: string[];
}

/**
 * The end state every scenario must reach: each secret has one current value and no rotation in flight;
 * CloudFront sends it on `gateway-alb` only, with every other setting as seeded; the WAF rule and the Kong
 * route accept only it; every other rule is untouched; the world's edges, nodes, vaults and verifiers have
 * converged on it; and no secret value appears in anything the product logged or alerted.
 */
export async function expectFinalState(world: World, options: FinalStateOptions = {}): Promise<void> {
  const cdn = (await world.value(CDN))!;
  const upstream = (await world.value(UPSTREAM))!;
  for (const hop of [CDN, UPSTREAM] as const) {
    const facts = await world.rotationFacts(hop);
    expect(facts, `rotation state of ${hop}`).toEqual({ current: [expect.any(String)], pendingElsewhere: [], overlapOpen: false, validatorsSetTag: false, emergencyTag: false });
  }

  const state = await world.cdnState();
  const expected = structuredClone(world.initial.distribution);
  const header = expected.Origins!.Items!.find((o) => o.Id === 'gateway-alb')!.CustomHeaders!.Items!.find((h) => h.HeaderName === world.secrets[CDN].headerName)!;
  header.HeaderValue = cdn;
  options.expectDistribution?.(expected);
  // Compared with header values as fingerprints: a failure message must not print a secret.
  expect(withFingerprints(state.distribution), 'the distribution: only the gateway-alb origin header changed').toEqual(withFingerprints(expected));
  expect(state.wafAccepts?.map(fp), 'WAF rule accepts only the current value').toEqual([fp(cdn)]);
  expect(state.kongAccepts?.map(fp), 'Kong route accepts only the current value').toEqual([fp(cdn)]);
  const unrelated = world.initial.rules.filter((r) => r.Name !== 'origin-verify');
  expect(state.otherRules.filter((r) => !(options.extraRules ?? []).includes(r.Name!)), 'unrelated web ACL rules').toEqual(unrelated);
  for (const name of options.extraRules ?? []) expect(state.otherRules.map((r) => r.Name), `rule ${name} added by someone else`).toContain(name);

  // The world converges within its configured delays.
  const converged = await world.until(() => {
    const views = world.gateway.views();
    return (
      world.fleet.sendingNow().length === 1 &&
      world.fleet.sendingNow()[0] === cdn &&
      world.fleet.statusFor(cdn) === 'Deployed' &&
      views.waf.every((v) => v.kind === 'values' && v.values.length === 1 && v.values[0] === cdn) &&
      views.routes.every((r) => r?.length === 1 && r[0] === cdn) &&
      views.vault.every((v) => v === upstream)
    );
  }, Math.max(world.validatorPropagationMs(CDN), world.vaultPropagationMs()) + 3_000);
  expect(converged, 'edges, WAF nodes, Kong nodes and vaults converged on the current values').toBe(true);
  for (const u of world.upstreams) expect(await u.verifier.verify(upstream), `upstream ${u.id} accepts the current value`).toBe(true);

  expect(await world.leakedValues(), 'secret values (fingerprints) found in logs or alerts').toEqual([]);
}
