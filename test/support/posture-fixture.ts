/**
 * A small account for the posture page tests: one secret whose chain has a passing CloudFront sender, a
 * failing WAF validator, a Kong route no check covers, and upstreams whose probe is INCONCLUSIVE (a status
 * this code does not know: it must be drawn amber, never green); one reconcile target with one group.
 */
import { emptyObservedAccount, type ObservedAccount } from '../../lambdas/core/audit-model.ts';
import { parseConfig, type Config } from '../../lambdas/config.ts';
import type { Finding } from '../../lambdas/core/ports.ts';

export const FIXTURE_NOW = new Date('2026-12-03T02:00:00Z');

export function postureFixture(): { config: Config; observed: ObservedAccount; findings: Finding[] } {
  const config = parseConfig({
    region: 'eu-west-1',
    secrets: [
      {
        name: 'cdn',
        secretName: 'origin-guard/cdn',
        headerName: 'X-Origin-Verify',
        senders: [{ type: 'cloudfront', distributionId: 'E2EXAMPLE1ABC' }],
        validators: [
          { type: 'wafv2', scope: 'REGIONAL', webAclName: 'gateway-acl', webAclId: 'abc-123' },
          { type: 'kong-route', adminUrl: 'http://127.0.0.1:8001', routes: ['api'] },
          { type: 'secretsmanager-readers' },
        ],
      },
    ],
    ipRanges: {
      targets: [{ name: 'alb', securityGroupIds: ['sg-0123abcd'], ports: [443], sources: [{ type: 'static', cidrs: ['203.0.113.10/32'] }] }],
    },
    audit: { probes: [{ name: 'origin', originUrl: 'https://origin.example.com/', headerName: 'X-Origin-Verify' }] },
  });
  const observed = emptyObservedAccount();
  observed.distributions.push({
    id: 'E2EXAMPLE1ABC',
    listed: false,
    senders: [{ secret: 'cdn', headerName: 'X-Origin-Verify' }],
    distribution: { webAclId: '', behaviors: [], origins: [{ id: 'o1', domainName: 'alb.example.com', headerFingerprints: { 'x-origin-verify': 'fp-current1' } }] },
  });
  observed.originVerifyRules.push({ secret: 'cdn', resource: 'wafv2:REGIONAL/gateway-acl/origin-verify', headerName: 'X-Origin-Verify', state: 'ok', acceptedFingerprints: ['fp-old00001'] });
  observed.secrets.push({
    name: 'cdn',
    secretName: 'origin-guard/cdn',
    headerName: 'X-Origin-Verify',
    rotationDays: 30,
    overlapMinutes: 30,
    fingerprints: { v1: 'fp-current1' },
    description: {
      arn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:origin-guard/cdn-AbCdEf',
      name: 'origin-guard/cdn',
      versions: [{ versionId: 'v1', stages: ['AWSCURRENT'], createdAt: new Date('2026-11-30T00:00:00Z') }],
      tags: {},
      rotationEnabled: true,
      rotationDays: 30,
      lastRotatedAt: new Date('2026-11-30T00:00:00Z'),
      nextRotationAt: new Date('2026-12-30T00:00:00Z'),
    },
  });
  observed.securityGroupTargets.push({
    target: config.ipRanges!.targets[0],
    groups: [
      {
        groupId: 'sg-0123abcd',
        ingress: [
          { ruleId: 'sgr-1', protocol: 'tcp', fromPort: 443, toPort: 443, cidrIpv4: '203.0.113.10/32', description: 'origin-guard:alb:static' },
          { ruleId: 'sgr-2', protocol: 'tcp', fromPort: 22, toPort: 22, cidrIpv4: '198.51.100.0/24', description: 'bastion' },
        ],
      },
    ],
    desired: { status: 'in-sync', groups: [], notes: [], held: false, syncToken: '1733200000', previousSyncToken: '1733100000' },
  });
  const finding = (checkId: string, resource: string, status: string, severity: Finding['severity'] = 'HIGH'): Finding => ({
    id: `${checkId}:${resource}`,
    checkId,
    severity,
    status: status as Finding['status'],
    resource,
    message: `${checkId} on ${resource} is ${status}.`,
    remediation: status === 'PASS' ? 'None.' : `Fix ${resource}.`,
  });
  const findings = [
    finding('cloudfront.origin-secret', 'E2EXAMPLE1ABC/cdn', 'PASS'),
    finding('waf.origin-verify', 'wafv2:REGIONAL/gateway-acl/origin-verify', 'FAIL', 'CRITICAL'),
    finding('probe.origin-without-header', 'probe:origin', 'INCONCLUSIVE'),
    finding('secret.rotation-age', 'origin-guard/cdn', 'PASS', 'MEDIUM'),
    finding('sg.quota', 'sg-0123abcd', 'PASS', 'MEDIUM'),
  ];
  return { config, observed, findings };
}
