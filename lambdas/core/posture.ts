/**
 * The posture model behind `origin-guard report --html`: the same audit findings and observations as
 * `audit` and `status`, arranged as a person reads them: per secret the chain of hops (senders and
 * validators) with a colour each, per reconcile target each group's rule quota, and the findings
 * failures first. Pure: no SDK, no clock (the caller passes the time).
 *
 * Colours: green only when every finding on the hop passed and at least one did; red when one failed;
 * amber for anything else (no check covers the hop, or a status this code does not know, e.g. INCONCLUSIVE).
 * Secret values never enter: the observations hold fingerprints only.
 */
import type { Config, SecretConfig } from '../config.ts';
import type { ObservedAccount } from './audit-model.ts';
import { shortName } from './audit-model.ts';
import { sortFindings } from './audit.ts';
import type { Finding, Severity } from './ports.ts';
import { TAG, STAGE } from './ports.ts';
import { ownerPrefix } from './range-planner.ts';

export type HopColour = 'green' | 'amber' | 'red';

export interface PostureFindingRef {
  id: string;
  checkId: string;
  severity: Severity;
  /** PASS, FAIL, or whatever the audit reports (rendered amber when unknown). */
  status: string;
  message: string;
  remediation: string;
}

export interface PostureHop {
  /** Stable id for the page (`data-hop`): `<secret>/<role>/<index>`. */
  id: string;
  role: 'sender' | 'validator';
  /** CloudFront, WAF, Kong route, Kong vault, Upstreams. */
  kind: string;
  label: string;
  /** What the hop sends or accepts, by fingerprint; `unknown` when not observed. */
  values: string[];
  colour: HopColour;
  /** Why the colour: the failing message, or `not covered by any audit check`. */
  reason: string;
  findings: PostureFindingRef[];
}

export interface PostureSecret {
  name: string;
  secretName: string;
  headerName: string;
  hops: PostureHop[];
  /** Whether the overlap is open (validators accept old and new). */
  overlap: 'open' | 'closed' | 'unknown';
  /** Where the rotation stands: `idle`, `pending (step: set validators)`, `overlap open since ...`. */
  rotationStep: string;
  lastRotatedAt?: string;
  nextRotationAt?: string;
  /** Days since the last rotation (or since the current version was created). */
  ageDays?: number;
  colour: HopColour;
  findings: PostureFindingRef[];
}

export interface PostureFamilyQuota {
  family: 'ipv4' | 'ipv6';
  owned: number;
  unowned: number;
  free: number;
  quota: number;
}

export interface PostureGroup {
  groupId: string;
  /** Undefined when the group could not be read or does not exist. */
  families?: PostureFamilyQuota[];
  colour: HopColour;
}

export interface PostureTarget {
  name: string;
  groups: PostureGroup[];
  status: string;
  /** The AWS ip-ranges version (syncToken) the dry run planned for, and the one applied before, when known. */
  sourceVersions: { planned?: string; applied?: string };
  held: boolean;
  notes: string[];
  colour: HopColour;
  findings: PostureFindingRef[];
}

export interface PostureModel {
  generatedAt: string;
  accounts: string[];
  regions: string[];
  secrets: PostureSecret[];
  targets: PostureTarget[];
  /** Every finding, failures first, most severe first. */
  findings: PostureFindingRef[];
  summary: { findings: number; failed: number; unknown: number; passed: number };
}

export interface PostureInput {
  config: Config;
  observed: ObservedAccount;
  findings: readonly Finding[];
  generatedAt: Date;
  /** Account ids covered; unknown when the caller cannot tell (e.g. an emulator). */
  accounts?: string[];
}

const ref = (f: Finding): PostureFindingRef => ({
  id: f.id,
  checkId: f.checkId,
  severity: f.severity,
  status: String(f.status),
  message: f.message,
  remediation: f.remediation,
});

/** Green only with at least one PASS and nothing else; red on any FAIL; amber otherwise. */
export function colourOf(findings: readonly { status: string }[]): HopColour {
  if (findings.some((f) => f.status === 'FAIL')) return 'red';
  if (findings.length === 0 || findings.some((f) => f.status !== 'PASS')) return 'amber';
  return 'green';
}

function reasonOf(findings: readonly PostureFindingRef[], colour: HopColour): string {
  if (colour === 'red') return findings.find((f) => f.status === 'FAIL')?.message ?? 'a check failed';
  if (findings.length === 0) return 'not covered by any audit check';
  if (colour === 'amber') {
    const odd = findings.find((f) => f.status !== 'PASS');
    return `${odd?.checkId ?? 'a check'} is ${odd?.status ?? 'unknown'}: ${odd?.message ?? ''}`.trim();
  }
  return `${findings.length} check${findings.length === 1 ? '' : 's'} passed`;
}

const worst = (colours: HopColour[]): HopColour =>
  colours.includes('red') ? 'red' : colours.includes('amber') || colours.length === 0 ? 'amber' : 'green';

function hopsOf(secret: SecretConfig, input: PostureInput): PostureHop[] {
  const { observed, config } = input;
  const byResource = (keys: string[]) => input.findings.filter((f) => keys.includes(f.resource)).map(ref);
  const hops: PostureHop[] = [];
  const add = (role: PostureHop['role'], kind: string, label: string, values: string[], findings: PostureFindingRef[]) => {
    const colour = colourOf(findings);
    hops.push({ id: `${secret.name}/${role}/${hops.length}`, role, kind, label, values, colour, reason: reasonOf(findings, colour), findings });
  };
  const unknown = ['unknown'];

  for (const sender of secret.senders.filter((s) => s.type === 'cloudfront')) {
    const dist = observed.distributions.find((d) => d.id === sender.distributionId);
    const header = secret.headerName.toLowerCase();
    const sent = [...new Set((dist?.distribution?.origins ?? []).map((o) => o.headerFingerprints[header]).filter((v): v is string => Boolean(v)))];
    add('sender', 'CloudFront', `distribution ${sender.distributionId}`, sent.length ? sent : unknown, byResource([`${sender.distributionId}/${secret.name}`, sender.distributionId]));
  }
  for (const validator of secret.validators.filter((v) => v.type === 'wafv2')) {
    const resource = `wafv2:${validator.scope}/${validator.webAclName}/${validator.ruleName}`;
    const rule = observed.originVerifyRules.find((r) => r.resource === resource);
    const acl = config.audit?.webAcls?.find((a) => a.name === validator.webAclName && a.scope === validator.scope);
    const attached = acl?.resourceArns ?? [];
    const label = `web ACL ${validator.webAclName}${attached.length ? ` on ${attached.map(shortName).join(', ')}` : ''}`;
    add('validator', 'WAF', label, rule?.acceptedFingerprints.length ? rule.acceptedFingerprints : unknown, byResource([resource, `wafv2:${validator.scope}/${validator.webAclName}`, ...attached]));
  }
  for (const validator of secret.validators.filter((v) => v.type === 'kong-route')) {
    add('validator', 'Kong route', `routes ${validator.routes.join(', ')}`, unknown, byResource(validator.routes.map((r) => `kong-route:${r}`)));
  }
  for (const sender of secret.senders.filter((s) => s.type === 'kong-vault')) {
    add('sender', 'Kong vault', `${sender.store}${sender.key ? ` ${sender.key}` : ''} (TTL ${sender.ttlSeconds}s)`, unknown, byResource([`kong-vault:${secret.name}`]));
  }
  for (const validator of secret.validators.filter((v) => v.type === 'secretsmanager-readers')) {
    const s = observed.secrets.find((x) => x.name === secret.name);
    const current = s?.description?.versions.find((v) => v.stages.includes(STAGE.CURRENT));
    const values = current && s?.fingerprints[current.versionId] ? [s.fingerprints[current.versionId]] : unknown;
    const probes = (config.audit?.probes ?? []).filter((p) => p.headerName.toLowerCase() === secret.headerName.toLowerCase()).map((p) => `probe:${p.name}`);
    add('validator', 'Upstreams', `read ${secret.secretName} (cache ${validator.cacheTtlSeconds}s)`, values, byResource(probes));
  }
  return hops;
}

function rotationOf(secret: SecretConfig, input: PostureInput): Pick<PostureSecret, 'overlap' | 'rotationStep' | 'lastRotatedAt' | 'nextRotationAt' | 'ageDays'> {
  const observed = input.observed.secrets.find((s) => s.name === secret.name);
  const d = observed?.description;
  if (!d) return { overlap: 'unknown', rotationStep: 'unknown (secret not read)' };
  const overlapOpened = d.tags[TAG.OVERLAP_OPENED_AT];
  const pending = d.versions.find((v) => v.stages.includes(STAGE.PENDING) && !v.stages.includes(STAGE.CURRENT));
  const step = pending
    ? d.tags[TAG.VALIDATORS_SET_AT]
      ? 'pending: validators accept old and new, senders not switched yet'
      : 'pending: new value created, validators not set yet'
    : overlapOpened
      ? `overlap open since ${overlapOpened}: senders switched, retire closes it`
      : 'idle: validators accept only the current value';
  const current = d.versions.find((v) => v.stages.includes(STAGE.CURRENT));
  const since = d.lastRotatedAt ?? current?.createdAt;
  return {
    overlap: overlapOpened ? 'open' : 'closed',
    rotationStep: step,
    ...(d.lastRotatedAt ? { lastRotatedAt: d.lastRotatedAt.toISOString() } : {}),
    ...(d.nextRotationAt ? { nextRotationAt: d.nextRotationAt.toISOString() } : {}),
    ...(since ? { ageDays: Math.max(0, Math.floor((input.generatedAt.getTime() - since.getTime()) / 86_400_000)) } : {}),
  };
}

function targetsOf(input: PostureInput): PostureTarget[] {
  return input.observed.securityGroupTargets.map((t) => {
    const prefix = ownerPrefix(t.target.name);
    const findings = input.findings.filter((f) => t.target.securityGroupIds.some((g) => f.resource === g || f.resource.startsWith(`${g}/`))).map(ref);
    const groups: PostureGroup[] = t.groups.map((g) => {
      const own = findings.filter((f) => f.id.includes(g.groupId));
      if (!g.ingress) return { groupId: g.groupId, colour: own.length ? colourOf(own) : 'red' };
      const families = t.target.ipVersions.map((family): PostureFamilyQuota => {
        const rules = g.ingress!.filter((r) => (family === 'ipv4' ? !r.cidrIpv6 : !r.cidrIpv4));
        const weight = (r: { weight?: number }) => r.weight ?? 1;
        const owned = rules.filter((r) => r.description?.startsWith(prefix)).reduce((n, r) => n + weight(r), 0);
        const unowned = rules.filter((r) => !r.description?.startsWith(prefix)).reduce((n, r) => n + weight(r), 0);
        const quota = t.target.maxRulesPerGroup;
        return { family, owned, unowned, free: Math.max(0, quota - owned - unowned), quota };
      });
      return { groupId: g.groupId, families, colour: colourOf(own) };
    });
    const desired = t.desired;
    return {
      name: t.target.name,
      groups,
      status: desired?.status ?? 'unknown',
      sourceVersions: {
        ...(desired?.syncToken ? { planned: desired.syncToken } : {}),
        ...(desired?.previousSyncToken ? { applied: desired.previousSyncToken } : {}),
      },
      held: desired?.held ?? false,
      notes: desired?.notes ?? [],
      colour: worst([colourOf(findings), ...groups.map((g) => g.colour)]),
      findings,
    };
  });
}

/** Account ids in the ARNs the audit read (secrets, web ACLs), when the caller does not know them. */
function accountsObserved(observed: ObservedAccount): string[] {
  const arns = [...observed.secrets.map((s) => s.description?.arn), ...observed.webAcls.map((w) => w.webAcl?.arn)];
  const ids = [...new Set(arns.map((a) => a?.split(':')[4]).filter((id): id is string => Boolean(id && /^\d{12}$/.test(id))))];
  return ids.length ? ids : ['(not resolved)'];
}

export function buildPosture(input: PostureInput): PostureModel {
  const findings = sortFindings(input.findings).map(ref);
  const secrets = input.config.secrets.map((secret): PostureSecret => {
    const hops = hopsOf(secret, input);
    const own = input.findings.filter((f) => f.resource === secret.secretName).map(ref);
    return {
      name: secret.name,
      secretName: secret.secretName,
      headerName: secret.headerName,
      hops,
      ...rotationOf(secret, input),
      colour: worst([...hops.map((h) => h.colour), colourOf(own)]),
      findings: own,
    };
  });
  const failed = findings.filter((f) => f.status === 'FAIL').length;
  const passed = findings.filter((f) => f.status === 'PASS').length;
  return {
    generatedAt: input.generatedAt.toISOString(),
    accounts: input.accounts?.length ? input.accounts : accountsObserved(input.observed),
    regions: [input.config.region],
    secrets,
    targets: targetsOf(input),
    findings,
    summary: { findings: findings.length, failed, passed, unknown: findings.length - failed - passed },
  };
}
