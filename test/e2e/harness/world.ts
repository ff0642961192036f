/**
 * One end-to-end world: a seeded account in the run's moto_server (a distribution, web ACLs, the two
 * secrets, security groups, an SNS topic...), a fake Kong Admin API holding the `api` route, and real HTTP
 * servers on 127.0.0.1: CloudFront edges → gateway (security groups, WAF nodes, Kong nodes with their vault)
 * → upstreams running the shipped verifier. The product runs against it unchanged: the real rotation core
 * and adapters built from the config by `rotationDeps`, the real system clock, short delays from the config.
 *
 * Two sets of SDK clients: `rotationClients` belong to the product (faults are injected there, and the
 * edge fleet's deployment state is reported through its CloudFront client); `clients` belong to the world
 * (edges, nodes, upstreams, assertions), so a fault meant for the product never blinds the world.
 */
import { randomBytes } from 'node:crypto';
import { GetDistributionConfigCommand, type DistributionConfig } from '@aws-sdk/client-cloudfront';
import { DescribeSecretCommand, GetSecretValueCommand, ListSecretVersionIdsCommand } from '@aws-sdk/client-secrets-manager';
import { SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GetWebACLCommand, type Rule } from '@aws-sdk/client-wafv2';
import type { AwsClients } from '../../../lambdas/adapters/aws-clients.ts';
import { allAwsClients } from '../../../lambdas/adapters/all-clients.ts';
import { AccountClients } from '../../../lambdas/adapters/account-clients.ts';
import { rotationDeps } from '../../../lambdas/adapters/rotation-targets.ts';
import { SnsAlertPublisher } from '../../../lambdas/adapters/sns-alerts.ts';
import { parseConfig, type Config, type SecretConfig } from '../../../lambdas/config.ts';
import { fingerprint } from '../../../lambdas/core/fingerprint.ts';
import { TAG, type AlertEvent, type AlertPort, type LogPort } from '../../../lambdas/core/ports.ts';
import type { RotationDeps } from '../../../lambdas/core/rotation.ts';
import { acceptedValuesOfRule } from '../../../lambdas/core/waf-rule.ts';
import { seedAccount, type SeededAccount } from '../../../cli/seed.ts';
import { emulatorClientConfig } from '../../support/aws.ts';
import { startFakeKong, type FakeKong } from '../../support/fake-kong.ts';
import { EdgeFleet, originHeaderValue, reportFleetStatus } from './edges.ts';
import { Gateway } from './gateway.ts';
import { SOURCE_HEADER } from './http.ts';
import { RequestStream, type StreamLimits } from './load.ts';
import { LaggedView, Semaphore, sleep, ViewHistory } from './periodic.ts';
import { Sweeper, type SweepHop } from './sweep.ts';
import { Upstream } from './upstreams.ts';

/** Delays the product is configured with; the world's nodes honour exactly these. */
export interface Timing {
  wafPropagationSeconds: number;
  kongPropagationSeconds: number;
  vaultTtlSeconds: number;
  vaultRotationCheckSeconds: number;
  readerCacheTtlSeconds: number;
}

/**
 * WAF and Kong get 2 s: the product's own work between a validator write and the CloudFront switch (read-backs,
 * Secrets Manager stages, leases) takes 0.5-1 s on moto, so with 1 s a product that skipped its wait was refused
 * only when the machine happened to be quick; with 2 s the slowest node's window outlasts that work on every run.
 */
export const DEFAULT_TIMING: Timing = {
  wafPropagationSeconds: 2,
  kongPropagationSeconds: 2,
  vaultTtlSeconds: 1,
  vaultRotationCheckSeconds: 1,
  readerCacheTtlSeconds: 1,
};

export interface WorldOptions {
  edges?: number;
  /** Each edge switches at a random moment in this window after a change (default 0-1000 ms). */
  edgeSwitchDelay?: { minMs: number; maxMs: number };
  /** CloudFront slow to deploy: `InProgress` at least this long after a change (default 0). */
  minDeployMs?: number;
  wafNodes?: number;
  kongNodes?: number;
  upstreams?: number;
  timing?: Partial<Timing>;
  /** An account seeded beforehand (see `seedAccounts`); seeded now when absent. */
  seeded?: SeededAccount;
  /**
   * Several accounts (issue 13): the distribution in account `edge`, the web ACLs, VPC, groups and ALB in account
   * `workload`, the secrets in the hub; the rotation reaches the first two through their spoke roles.
   */
  twoAccounts?: boolean;
  /**
   * Clients outside CloudFront that call the gateway with the cdn-to-gateway value they read from Secrets Manager
   * and cache (an internal job using the AWS Parameters and Secrets Lambda Extension, whose cache lives 300 s by
   * default): no sender port can tell when they switched, so only the secret's overlap window (`overlapMinutes`)
   * covers them. One caller loaded just before each change and keeps the old value for the whole cache time. The
   * overlap is given in seconds here (the world is scaled down; the config itself takes whole minutes).
   */
  cachedCallers?: { cacheSeconds: number; overlapSeconds: number };
}

/** The accounts of a `twoAccounts` world (moto: AssumeRole into a role of an account acts in that account). */
export const TWO_ACCOUNTS = {
  edge: { accountId: '710000000001', regions: ['eu-west-1'] },
  workload: { accountId: '710000000002', regions: ['eu-west-1'] },
};

/** The hub's clients, with CloudFront acting in `edge` and WAF, EC2 and ELB in `workload`. */
function splitClients(hub: AwsClients, accounts: AccountClients): AwsClients {
  const edge = accounts.for({ account: 'edge' });
  const workload = accounts.for({ account: 'workload' });
  return Object.assign(Object.create(hub) as AwsClients, {
    cloudFront: () => edge.cloudFront(),
    wafv2: (scope: 'REGIONAL' | 'CLOUDFRONT') => workload.wafv2(scope),
    ec2: () => workload.ec2(),
    elbv2: () => workload.elbv2(),
  });
}

/**
 * Worlds alive at once in one test process: each costs about a fifth of a core (its servers at 60 requests/s, its
 * sweeps and pollers, its share of moto_server); `describe.concurrent` scenarios queue for a slot.
 * `E2E_CONCURRENCY` overrides.
 */
const slots = new Semaphore(Math.max(1, Number(process.env.E2E_CONCURRENCY ?? 3) || 3));

/** Fingerprint for assertions: a failing comparison prints this, never the value. */
export const fp = (value: string | undefined): string => (value === undefined ? '(none)' : fingerprint(value));

export const CDN = 'cdn-to-gateway';
export const UPSTREAM = 'gateway-to-upstream';
export type Hop = typeof CDN | typeof UPSTREAM;

const KONG_PLACEHOLDER = 'http://127.0.0.1:9';

function emulatorClients(maxAttempts?: number): AwsClients {
  const settings = emulatorClientConfig();
  return allAwsClients({ region: settings.region, endpoint: settings.endpoint, credentials: settings.credentials, ...(maxAttempts ? { maxAttempts } : {}) });
}

/**
 * Seeds `count` accounts one after the other, before any traffic flows: moto_server is one Python process,
 * and seeding (VPCs, a load balancer, a transit gateway...) holds it for up to a second per call, which would
 * stall the verifiers and nodes of worlds already under traffic.
 */
export async function seedAccounts(count: number): Promise<SeededAccount[]> {
  const clients = emulatorClients(3);
  const seeded: SeededAccount[] = [];
  try {
    for (let i = 0; i < count; i++) seeded.push(await seedAccount(clients, { kongAdminUrl: KONG_PLACEHOLDER, fast: true }));
  } finally {
    for (const client of [clients.secretsManager(), clients.cloudFront(), clients.wafv2('REGIONAL'), clients.wafv2('CLOUDFRONT'), clients.ec2(), clients.elbv2(), clients.sns(), clients.dynamoDb()]) {
      client.destroy();
    }
  }
  return seeded;
}

/** Margin on top of a propagation delay before a narrowed validator must refuse everywhere (timer slack). */
const SETTLE_MARGIN_MS = 500;

/** Records log lines as JSON text, so a scenario can prove no secret value was ever logged. */
export class CapturingLog implements LogPort {
  readonly lines: string[] = [];
  private write(level: string, message: string, extra: Array<Record<string, unknown>>) {
    this.lines.push(JSON.stringify({ level, message, extra }, (_k, v) => (v instanceof Error ? { name: v.name, message: v.message } : v)));
  }
  debug(message: string, ...extra: Array<Record<string, unknown>>) {
    this.write('debug', message, extra);
  }
  info(message: string, ...extra: Array<Record<string, unknown>>) {
    this.write('info', message, extra);
  }
  warn(message: string, ...extra: Array<Record<string, unknown>>) {
    this.write('warn', message, extra);
  }
  error(message: string, ...extra: Array<Record<string, unknown>>) {
    this.write('error', message, extra);
  }
}

/** The SNS publisher, plus a copy of every event (the alert text is checked for secret values too). */
class RecordingAlerts implements AlertPort {
  readonly events: AlertEvent[] = [];
  constructor(private readonly inner: AlertPort) {}
  async publish(event: AlertEvent): Promise<void> {
    this.events.push(event);
    await this.inner.publish(event);
  }
}

export interface Retired {
  hop: Hop;
  value: string;
  /** From this moment every validator of the hop must refuse it (retire + propagation + margin). */
  refusedFrom: number;
}

export class World {
  readonly clients: AwsClients;
  readonly rotationClients: AwsClients;
  readonly log = new CapturingLog();
  readonly alerts: RecordingAlerts;
  readonly timing: Timing;
  readonly secrets: Record<Hop, SecretConfig>;
  /** Values the forger presents as retired, once their hop has refused them long enough. */
  readonly retired: Retired[] = [];
  private streams: RequestStream[] = [];
  /** The legitimate client stream of the scenario under way (sweeps add requests to it). */
  legit?: RequestStream;
  /**
   * Where forged requests to the gateway come from: by default an address the security groups do not check;
   * range scenarios pick an allowed one (another CloudFront distribution reaches the origin from the same
   * ranges, which is why the header exists).
   */
  forgedSource: () => string = () => '0.0.0.0';
  private closers: Array<() => Promise<void> | void> = [];
  private closed = false;
  /** Deterministic sweeps after every write that changes what a sender sends or a validator accepts (sweep.ts). */
  readonly sweeper: Sweeper;
  /** The value the product last wrote into the distribution config (UpdateDistribution), if any. */
  private cdnConfigured?: string;
  /** The forged stream of the scenario under way. */
  forged?: RequestStream;
  /** `cachedCallers`: what each caller that reads the secret itself sends now. */
  readonly callers: Array<LaggedView<string>> = [];
  /** A `twoAccounts` world: the product's clients of the edge and workload accounts. */
  productAccounts?: AccountClients;

  private constructor(
    readonly seeded: SeededAccount,
    readonly config: Config,
    readonly kong: FakeKong,
    readonly fleet: EdgeFleet,
    readonly gateway: Gateway,
    readonly upstreams: Upstream[],
    clients: { world: AwsClients; rotation: AwsClients },
    timing: Timing,
    readonly initial: { distribution: DistributionConfig; rules: Rule[] },
  ) {
    this.clients = clients.world;
    this.rotationClients = clients.rotation;
    this.timing = timing;
    this.alerts = new RecordingAlerts(new SnsAlertPublisher(this.rotationClients.sns(), seeded.topicArn));
    this.secrets = {
      [CDN]: config.secrets.find((s) => s.name === CDN)!,
      [UPSTREAM]: config.secrets.find((s) => s.name === UPSTREAM)!,
    };
    this.sweeper = new Sweeper({
      gatewayUrl: gateway.url,
      edges: fleet.edges.map((edge, i) => ({ id: edge.id, url: fleet.urls[i], sending: () => edge.sending() })),
      wafNodes: gateway.wafNodes.length,
      kongNodes: gateway.kongNodes.length,
      upstreamUrls: upstreams.map((u) => u.url),
      headers: { [CDN]: this.secrets[CDN].headerName, [UPSTREAM]: this.secrets[UPSTREAM].headerName },
      mayStillSend: (hop) => this.mayStillSend(hop),
      retiredDue: (hop) => {
        const now = Date.now();
        return [...new Set(this.retired.filter((r) => r.hop === hop && r.refusedFrom <= now).map((r) => r.value))];
      },
      directSource: () => this.forgedSource(),
      fingerprint: (value) => fp(value),
    });
    gateway.onViewChange = (name) => void this.sweeper.after(`${name} changed`);
    fleet.onSwitch = (name) => void this.sweeper.after(name);
    this.sweepAfterWrites();
  }

  /** Every value a sender of `hop` may still send (see sweep.ts). */
  async mayStillSend(hop: SweepHop): Promise<string[]> {
    if (hop === CDN) {
      const values = this.fleet.edges.flatMap((edge) => edge.mayStillSend());
      if (this.cdnConfigured) values.push(this.cdnConfigured);
      for (const caller of this.callers) values.push(caller.value);
      // A caller whose cache runs out now loads AWSCURRENT.
      if (this.callers.length > 0) values.push((await this.value(CDN))!);
      return [...new Set(values)];
    }
    const values = this.gateway.kongNodes.map((n) => n.vault.value);
    const current = await this.value(UPSTREAM);
    if (current) values.push(current);
    return [...new Set(values)];
  }

  /**
   * SDK middleware on the product's own clients: each write that changes what a sender sends or a validator
   * accepts starts a sweep as soon as it returns (the product does not wait for it: see sweep.ts).
   */
  private sweepAfterWrites(): void {
    const writes: Record<string, string[]> = {
      cloudfront: ['UpdateDistributionCommand'],
      wafv2: ['UpdateWebACLCommand'],
      secretsmanager: ['PutSecretValueCommand', 'UpdateSecretVersionStageCommand', 'TagResourceCommand', 'UntagResourceCommand'],
    };
    const clients = [
      ['cloudfront', this.rotationClients.cloudFront()],
      ['wafv2', this.rotationClients.wafv2('REGIONAL')],
      ['secretsmanager', this.rotationClients.secretsManager()],
    ] as const;
    for (const [service, client] of clients) {
      // Loose on purpose, as in test/support/faults.ts: the SDK's overloaded stack types do not help here.
      (client.middlewareStack as unknown as { add: (...args: any[]) => void }).add(
        (next: (args: { input?: any }) => Promise<unknown>, context: { commandName?: string }) => async (args: { input?: any }) => {
          const result = await next(args);
          const name = context.commandName ?? '';
          if (writes[service].includes(name)) {
            if (name === 'UpdateDistributionCommand') {
              const value = originHeaderValue(args.input?.DistributionConfig, 'gateway-alb', this.secrets[CDN].headerName);
              if (value) this.cdnConfigured = value;
            }
            void this.sweeper.after(name.replace(/Command$/, ''));
          }
          return result;
        },
        { step: 'initialize', name: 'e2e-sweep-after-write', priority: 'low' },
      );
    }
  }

  /** fetch for the product's Kong and Konnect adapters: a write (PATCH, PUT, POST) starts a sweep. */
  private readonly sweepingFetch: typeof fetch = async (input, init) => {
    const res = await globalThis.fetch(input, init);
    const method = (init?.method ?? 'GET').toUpperCase();
    if (method !== 'GET' && res.ok) void this.sweeper.after(`Kong ${method}`);
    return res;
  };

  static async start(options: WorldOptions = {}): Promise<World> {
    const timing = { ...DEFAULT_TIMING, ...options.timing };
    const accountsConfig = { region: emulatorClientConfig().region, stackName: 'OriginGuard', organizationId: 'o-e2etwoaccts', accounts: TWO_ACCOUNTS };
    const hubWorldClients = emulatorClients(3);
    const worldClients = options.twoAccounts ? splitClients(hubWorldClients, new AccountClients({ config: accountsConfig, hub: hubWorldClients, fn: 'rotate' })) : hubWorldClients;
    // The product's own retry settings (AwsClients' default attempts), as the Lambdas and the CLI use them.
    const rotationClients = emulatorClients();
    const productAccounts = options.twoAccounts ? new AccountClients({ config: accountsConfig, hub: rotationClients, fn: 'rotate' }) : undefined;
    const release = await slots.acquire();
    const cleanup: Array<() => Promise<void> | void> = [release];
    try {
      const seeded = options.seeded ?? (await seedAccount(worldClients, { kongAdminUrl: KONG_PLACEHOLDER, fast: true }));
      const kong = await startFakeKong({ adminToken: seeded.kongAdminToken });
      cleanup.push(() => kong.close());
      const placed = (account: 'edge' | 'workload') => (options.twoAccounts ? { account } : {});
      const config = parseConfig(
        {
          ...seeded.config,
          ...(options.twoAccounts ? accountsConfig : {}),
          secrets: seeded.config.secrets.map((secret) => ({
            ...secret,
            overlapMinutes: 0,
            senders: secret.senders.map((sender) =>
              sender.type === 'kong-vault'
                ? { ...sender, ttlSeconds: timing.vaultTtlSeconds, rotationCheckSeconds: timing.vaultRotationCheckSeconds }
                : { ...sender, ...placed('edge') },
            ),
            validators: secret.validators.map((validator) => {
              switch (validator.type) {
                case 'wafv2':
                  return { ...validator, propagationSeconds: timing.wafPropagationSeconds, ...placed('workload') };
                case 'kong-route':
                  return { ...validator, adminUrl: kong.url, propagationSeconds: timing.kongPropagationSeconds, ...placed('workload') };
                case 'secretsmanager-readers':
                  return { ...validator, cacheTtlSeconds: timing.readerCacheTtlSeconds };
              }
            }),
          })),
        },
        'the e2e world',
      );
      if (options.cachedCallers) {
        const cdnIndex = config.secrets.findIndex((s) => s.name === CDN);
        config.secrets[cdnIndex] = { ...config.secrets[cdnIndex], overlapMinutes: options.cachedCallers.overlapSeconds / 60 };
      }
      const cdn = config.secrets.find((s) => s.name === CDN)!;
      const upstreamSecret = config.secrets.find((s) => s.name === UPSTREAM)!;
      kong.addRoute({ name: 'api', paths: ['/api'], headers: { [cdn.headerName]: [seeded.initialValues.cdnToGateway] }, tags: ['team-platform'] });

      const upstreams: Upstream[] = [];
      // Each upstream reads through its own client: a refresh that saw the secret's stages or tags change is a
      // change of what that validator accepts, and the sweeper (set once the world exists) sweeps after it.
      const upstreamRefreshed: { notify: (name: string) => void } = { notify: () => {} };
      for (let i = 0; i < (options.upstreams ?? 2); i++) {
        const readerClient = emulatorClients(3).secretsManager();
        cleanup.push(() => readerClient.destroy());
        let seen = '';
        (readerClient.middlewareStack as unknown as { add: (...args: any[]) => void }).add(
          (next: (args: unknown) => Promise<{ output: any }>, context: { commandName?: string }) => async (args: unknown) => {
            const result = await next(args);
            if (context.commandName === 'DescribeSecretCommand') {
              const state = JSON.stringify([result.output?.VersionIdsToStages, result.output?.Tags]);
              // After the verifier applied what it read (it may read a new version's value first): soon, and once
              // more a little later in case that read was slow.
              if (seen && state !== seen) {
                for (const delay of [20, 250]) setTimeout(() => upstreamRefreshed.notify(`upstream-${i} refreshed`), delay);
              }
              seen = state;
            }
            return result;
          },
          { step: 'initialize', name: 'e2e-upstream-refresh', priority: 'low' },
        );
        const upstream = new Upstream(i, {
          client: readerClient,
          secretId: upstreamSecret.secretName,
          headerName: upstreamSecret.headerName,
          cacheTtlSeconds: timing.readerCacheTtlSeconds,
        });
        await upstream.start();
        cleanup.push(() => upstream.close());
        upstreams.push(upstream);
      }

      const waf = cdn.validators.find((v) => v.type === 'wafv2')!;
      const gateway = new Gateway({
        waf: {
          client: worldClients.wafv2('REGIONAL'),
          scope: 'REGIONAL',
          name: seeded.gatewayAcl.name,
          id: seeded.gatewayAcl.id,
          ruleName: waf.type === 'wafv2' ? waf.ruleName : 'origin-verify',
          nodes: options.wafNodes ?? 3,
          propagationMs: timing.wafPropagationSeconds * 1000,
        },
        kong: { fake: kong, route: 'api', nodes: options.kongNodes ?? 3, propagationMs: timing.kongPropagationSeconds * 1000 },
        vault: {
          client: worldClients.secretsManager(),
          secretId: upstreamSecret.secretName,
          ttlMs: timing.vaultTtlSeconds * 1000,
          rotationCheckMs: timing.vaultRotationCheckSeconds * 1000,
        },
        headerName: cdn.headerName,
        upstreamHeaderName: upstreamSecret.headerName,
        upstreamUrls: upstreams.map((u) => u.url),
      });
      cleanup.push(() => gateway.close());
      await gateway.start();

      const fleet = new EdgeFleet({
        client: worldClients.cloudFront(),
        distributionId: seeded.distributionId,
        originId: 'gateway-alb',
        headerName: cdn.headerName,
        gatewayUrl: gateway.url,
        edges: options.edges ?? 4,
        switchDelay: options.edgeSwitchDelay ?? { minMs: 0, maxMs: 1000 },
        pollMs: 200,
        minDeployMs: options.minDeployMs ?? 0,
      });
      cleanup.push(() => fleet.close());
      await fleet.start();
      // The product's CloudFront client: in a two-account world, the one acting in the edge account.
      reportFleetStatus((productAccounts?.for({ account: 'edge' }) ?? rotationClients).cloudFront(), fleet, 'gateway-alb', cdn.headerName);

      const distribution = (await worldClients.cloudFront().send(new GetDistributionConfigCommand({ Id: seeded.distributionId }))).DistributionConfig!;
      const acl = await worldClients.wafv2('REGIONAL').send(new GetWebACLCommand({ Scope: 'REGIONAL', Name: seeded.gatewayAcl.name, Id: seeded.gatewayAcl.id }));
      const world = new World(seeded, config, kong, fleet, gateway, upstreams, { world: worldClients, rotation: rotationClients }, timing, {
        distribution,
        rules: acl.WebACL!.Rules ?? [],
      });
      world.closers = cleanup;
      if (options.cachedCallers) {
        const cacheMs = options.cachedCallers.cacheSeconds * 1000;
        const history = new ViewHistory<string>({ name: 'cached-caller', load: async () => (await world.value(CDN))!, pollMs: 200 });
        await history.start();
        const caller = new LaggedView(history, { name: 'cached-caller', lagMs: cacheMs, freshWithinMs: cacheMs / 2, onChange: (name) => void world.sweeper.after(`${name} switched`) });
        world.callers.push(caller);
        cleanup.push(() => {
          history.stop();
          caller.stop();
        });
      }
      upstreamRefreshed.notify = (name) => void world.sweeper.after(name);
      world.productAccounts = productAccounts;
      return world;
    } catch (error) {
      for (const close of cleanup.reverse()) await close();
      throw error;
    }
  }

  /** Everything the rotation core needs for `hop`, built from the config as the Lambdas and the CLI do. */
  deps(hop: Hop, extra: Partial<RotationDeps> = {}): RotationDeps {
    return rotationDeps(this.secrets[hop], { clients: this.rotationClients, accounts: this.productAccounts, logger: this.log, alerts: this.alerts, fetch: this.sweepingFetch }, extra);
  }

  async value(hop: Hop, stage = 'AWSCURRENT'): Promise<string | undefined> {
    try {
      const res = await this.clients.secretsManager().send(new GetSecretValueCommand({ SecretId: this.secrets[hop].secretName, VersionStage: stage }));
      return res.SecretString;
    } catch (error) {
      if ((error as Error).name === 'ResourceNotFoundException') return undefined;
      throw error;
    }
  }

  async describe(hop: Hop) {
    return this.clients.secretsManager().send(new DescribeSecretCommand({ SecretId: this.secrets[hop].secretName }));
  }

  /** The longest a validator of `hop` may keep accepting a value after retire narrowed it. */
  validatorPropagationMs(hop: Hop): number {
    return hop === CDN ? Math.max(this.timing.wafPropagationSeconds, this.timing.kongPropagationSeconds) * 1000 : this.timing.readerCacheTtlSeconds * 1000;
  }

  /** The longest a sender of `hop` may keep sending the previous value (vault TTL + rotation check). */
  vaultPropagationMs(): number {
    return (this.timing.vaultTtlSeconds + this.timing.vaultRotationCheckSeconds) * 1000;
  }

  /** `value` was retired just now: the forger presents it once every validator of the hop must refuse it. */
  markRetired(hop: Hop, value: string): void {
    const refusedFrom = Date.now() + this.validatorPropagationMs(hop) + SETTLE_MARGIN_MS;
    this.retired.push({ hop, value, refusedFrom });
    this.sweeper.at(refusedFrom, `${hop} retired value due`);
  }

  /** Legitimate clients: requests through the edges, round robin. */
  clientStream(limits: Partial<StreamLimits> = {}): RequestStream {
    const urls = this.fleet.urls;
    let n = 0;
    // 60 requests/s of background traffic: the sweeps (sweep.ts) cover every window deterministically, so the
    // random stream is there to look like traffic, not to find windows; at 200/s, worlds on a loaded 2-core machine queued
    // requests for seconds and the sweeps arrived after the windows they were sent for.
    const stream = new RequestStream({ ratePerSecond: 60, maxRequests: 12_000, maxDurationMs: 120_000, maxInFlight: 1_000, ...limits }, () => ({
      url: `${urls[n++ % urls.length]}/api/items/${n}`,
      headers: {},
    }));
    this.streams.push(stream);
    this.legit = stream;
    return stream.start();
  }

  /**
   * Forged requests straight to the gateway and to the upstreams: no header, a wrong value, and values
   * retired long enough ago that every validator must refuse them. Any 2xx is a forged acceptance.
   */
  forgedStream(limits: Partial<StreamLimits> = {}): RequestStream {
    const gatewayHeader = this.secrets[CDN].headerName;
    const upstreamHeader = this.secrets[UPSTREAM].headerName;
    const kinds = ['no-header', 'wrong-value', 'retired-value'] as const;
    let n = 0;
    const stream = new RequestStream(
      { ratePerSecond: 20, maxRequests: 3_000, maxDurationMs: 120_000, maxInFlight: 500, ...limits },
      () => {
        n += 1;
        const toGateway = n % 2 === 0;
        const kind = kinds[Math.floor(n / 2) % kinds.length];
        const url = toGateway ? `${this.gateway.url}/api/forged/${n}` : `${this.upstreams[n % this.upstreams.length].url}/api/forged/${n}`;
        const header = toGateway ? gatewayHeader : upstreamHeader;
        const label = `${toGateway ? 'gateway' : 'upstream'}/${kind}`;
        const base: Record<string, string> = toGateway ? { [SOURCE_HEADER]: this.forgedSource() } : {};
        if (kind === 'no-header') return { url, headers: base, label };
        if (kind === 'wrong-value') return { url, headers: { ...base, [header]: randomBytes(32).toString('base64url') }, label };
        const now = Date.now();
        const candidates = this.retired.filter((r) => r.hop === (toGateway ? CDN : UPSTREAM) && r.refusedFrom <= now);
        if (candidates.length === 0) return { url, headers: { ...base, [header]: randomBytes(32).toString('base64url') }, label: `${label}(none yet: wrong value)` };
        return { url, headers: { ...base, [header]: candidates[n % candidates.length].value }, label };
      },
      { recordAccepted: true },
    );
    this.streams.push(stream);
    this.forged = stream;
    return stream.start();
  }

  /** Every value any version of the two secrets ever held (for the no-secret-in-output checks). */
  async allSecretValues(): Promise<string[]> {
    const values = new Set<string>([this.seeded.initialValues.cdnToGateway, this.seeded.initialValues.gatewayToUpstream]);
    for (const hop of [CDN, UPSTREAM] as const) {
      const secretId = this.secrets[hop].secretName;
      const listed = await this.clients.secretsManager().send(new ListSecretVersionIdsCommand({ SecretId: secretId, IncludeDeprecated: true }));
      for (const version of listed.Versions ?? []) {
        try {
          const res = await this.clients.secretsManager().send(new GetSecretValueCommand({ SecretId: secretId, VersionId: version.VersionId }));
          if (res.SecretString) values.add(res.SecretString);
        } catch {
          // A deprecated version may be gone already.
        }
      }
    }
    return [...values];
  }

  /** Whether any secret value appears in what the product logged or alerted (fingerprints of the leaks). */
  async leakedValues(extraText: string[] = []): Promise<string[]> {
    const text = [...this.log.lines, ...this.alerts.events.map((e) => JSON.stringify(e)), ...extraText].join('\n');
    return (await this.allSecretValues()).filter((v) => text.includes(v)).map(fingerprint);
  }

  /** What AWS and Kong hold now for the cdn hop (for final-state assertions). */
  async cdnState() {
    const distribution = (await this.clients.cloudFront().send(new GetDistributionConfigCommand({ Id: this.seeded.distributionId }))).DistributionConfig!;
    const acl = (await this.clients.wafv2('REGIONAL').send(new GetWebACLCommand({ Scope: 'REGIONAL', Name: this.seeded.gatewayAcl.name, Id: this.seeded.gatewayAcl.id })))
      .WebACL!;
    const rule = acl.Rules?.find((r) => r.Name === 'origin-verify');
    const header = this.secrets[CDN].headerName;
    const route = this.kong.route('api');
    const routeKey = Object.keys(route?.headers ?? {}).find((k) => k.toLowerCase() === header.toLowerCase());
    return {
      distribution,
      sends: originHeaderValue(distribution, 'gateway-alb', header),
      otherRules: (acl.Rules ?? []).filter((r) => r.Name !== 'origin-verify'),
      wafAccepts: rule ? acceptedValuesOfRule(rule, header) : undefined,
      kongAccepts: routeKey ? route!.headers![routeKey] : undefined,
    };
  }

  /** Stage and tag facts of a hop's secret. */
  async rotationFacts(hop: Hop) {
    const secret = await this.describe(hop);
    const stages = secret.VersionIdsToStages ?? {};
    const tags = Object.fromEntries((secret.Tags ?? []).map((t) => [t.Key!, t.Value!]));
    const holders = (stage: string) => Object.entries(stages).filter(([, s]) => s.includes(stage)).map(([id]) => id);
    return {
      current: holders('AWSCURRENT'),
      pendingElsewhere: holders('AWSPENDING').filter((id) => !holders('AWSCURRENT').includes(id)),
      overlapOpen: tags[TAG.OVERLAP_OPENED_AT] !== undefined,
      validatorsSetTag: tags[TAG.VALIDATORS_SET_AT] !== undefined,
      emergencyTag: tags[TAG.EMERGENCY] !== undefined,
    };
  }

  /**
   * An SQS queue subscribed to the alerts topic: what reached SNS, read without moto's whole-state dump
   * (`/moto-api/data.json` holds moto_server for about a second once the shared emulator is full, which
   * would stall every world's nodes).
   */
  async subscribeToAlerts(): Promise<{ received(waitSeconds?: number): Promise<Array<{ subject?: string; message: string }>> }> {
    const settings = emulatorClientConfig();
    const sqs = new SQSClient({ region: settings.region, endpoint: settings.endpoint, credentials: settings.credentials });
    this.closers.push(() => sqs.destroy());
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `og-e2e-alerts-${randomBytes(4).toString('hex')}` }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
    await this.clients.sns().send(new SubscribeCommand({ TopicArn: this.seeded.topicArn, Protocol: 'sqs', Endpoint: Attributes!.QueueArn }));
    return {
      async received(waitSeconds = 2) {
        const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: waitSeconds }));
        return (out.Messages ?? []).map((m) => {
          const envelope = JSON.parse(m.Body ?? '{}') as { Subject?: string; Message?: string };
          return { subject: envelope.Subject ?? undefined, message: envelope.Message ?? '' };
        });
      },
    };
  }

  /** Waits (bounded) until `check` holds; returns whether it did. */
  async until(check: () => boolean | Promise<boolean>, timeoutMs: number, pollMs = 50): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < Math.ceil(timeoutMs / pollMs) + 1; i++) {
      if (await check()) return true;
      if (Date.now() >= deadline) return false;
      await sleep(pollMs);
    }
    return check();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.streams.map((s) => s.stop()));
    for (const close of this.closers.reverse()) await close();
    this.closers = [];
    for (const clients of [this.clients, this.rotationClients]) {
      for (const client of [clients.cloudFront(), clients.wafv2('REGIONAL'), clients.wafv2('CLOUDFRONT'), clients.secretsManager(), clients.sns(), clients.ec2()]) {
        client.destroy();
      }
    }
  }
}
