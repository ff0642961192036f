/**
 * `audit --ocsf` output against the OCSF 1.6.0 definitions in ../shared/ocsf-1.6.0: every Detection Finding has
 * the required attributes of base_event → finding → detection_finding and their objects, the right types and
 * enum ids, and the class / type ids derived from the files.
 */
import { describe, expect, it } from 'vitest';
import { DETECTION_FINDING_CLASS_UID, OCSF_VERSION, toOcsf } from '../../lambdas/adapters/ocsf.ts';
import type { Finding } from '../../lambdas/core/ports.ts';
import { OCSF_DIR, OcsfSchema } from '../support/ocsf-schema.ts';

const DETECTION_FINDING = 'events/findings/detection_finding.json';
const present = OcsfSchema.available();
if (!present && process.env.CI) throw new Error(`OCSF definitions missing at ${OCSF_DIR}: CI must provide ../shared/ocsf-1.6.0`);
if (!present) console.warn(`skipping the OCSF schema tests: ${OCSF_DIR} is absent (outside CI)`);

const findings: Finding[] = [
  {
    id: 'origin.any-distribution:origin:gateway',
    checkId: 'origin.any-distribution',
    severity: 'CRITICAL',
    status: 'FAIL',
    resource: 'origin:gateway',
    message: 'Origin gateway is reachable through any CloudFront distribution.',
    remediation: 'Check the origin-verify header.',
    details: { admissions: ['sg-1: pl-1 (sgr-1)'] },
  },
  { id: 'sg.broad-ingress:sg-0a1b2c3d', checkId: 'sg.broad-ingress', severity: 'HIGH', status: 'PASS', resource: 'sg-0a1b2c3d', message: 'ok', remediation: 'None.' },
  { id: 'probe.through-cdn:probe:api', checkId: 'probe.through-cdn', severity: 'MEDIUM', status: 'INCONCLUSIVE', resource: 'probe:api', message: 'no answer', remediation: 'Check DNS.' },
  { id: 'waf.rule-metrics:wafv2:REGIONAL/acl', checkId: 'waf.rule-metrics', severity: 'LOW', status: 'FAIL', resource: 'wafv2:REGIONAL/acl', message: 'dark', remediation: 'Enable.' },
];

describe.skipIf(!present)('OCSF 1.6.0 Detection Findings', () => {
  const schema = present ? new OcsfSchema() : undefined!;
  const events = toOcsf(findings, { productVersion: '0.1.0', region: 'eu-west-1', accountId: '123456789012', time: new Date('2026-12-03T03:00:00Z') });

  it('targets the schema version shipped in ../shared', () => {
    expect(schema.version).toBe(OCSF_VERSION);
  });

  it('validates every finding against the class definitions (required attributes, types, enums)', () => {
    const attributes = schema.classAttributes(DETECTION_FINDING);
    for (const event of events) expect(schema.validate(event, attributes)).toEqual([]);
  });

  it('uses the class, category and type ids the definitions give', () => {
    // category "findings" is 2; the class uid in detection_finding.json is 4 within it.
    const classUid = 2 * 1000 + schema.uidOf(DETECTION_FINDING)!;
    expect(DETECTION_FINDING_CLASS_UID).toBe(classUid);
    for (const event of events) {
      expect(event.class_uid).toBe(classUid);
      expect(event.type_uid).toBe(classUid * 100 + (event.activity_id as number));
    }
  });

  it('names severities and statuses by their enum captions', () => {
    const attributes = schema.classAttributes(DETECTION_FINDING);
    for (const event of events) {
      expect(event.severity).toBe(schema.caption('severity_id', event.severity_id as number, attributes.severity_id));
      expect(event.status).toBe(schema.caption('status_id', event.status_id as number, attributes.status_id));
    }
    expect(events.map((e) => [e.status_id, e.status_code])).toEqual([
      [1, 'FAIL'],
      [4, 'PASS'],
      [99, 'INCONCLUSIVE'],
      [1, 'FAIL'],
    ]);
  });

  it('finds the broken output: a missing required attribute, a wrong enum id, a wrong type', () => {
    const attributes = schema.classAttributes(DETECTION_FINDING);
    const broken = { ...events[0], severity_id: 42, time: '2026-12-03', finding_info: { title: 'no uid' } } as Record<string, unknown>;
    delete broken.metadata;

    const problems = schema.validate(broken, attributes);

    expect(problems).toEqual(
      expect.arrayContaining([
        'metadata: required, missing',
        expect.stringMatching(/^severity_id: 42 is not one of/),
        expect.stringMatching(/^time: must be long_t/),
        'finding_info.uid: required, missing',
      ]),
    );
  });

  it('keeps the finding id as the stable finding_info.uid', () => {
    expect(events.map((e) => e.finding_info.uid)).toEqual(findings.map((f) => f.id));
  });
});

describe('SARIF with an INCONCLUSIVE finding', () => {
  it('keeps it as a note, never dropped as a pass', async () => {
    const { toSarif } = await import('../../cli/audit.ts');
    const sarif = toSarif(findings, { configPath: 'origin-guard.config.json' });
    const results = sarif.runs[0].results;

    expect(results.map((r) => [r.ruleId, r.level])).toEqual([
      ['origin.any-distribution', 'error'],
      ['probe.through-cdn', 'note'],
      ['waf.rule-metrics', 'note'],
    ]);
    expect(results[1].message.text).toMatch(/^INCONCLUSIVE: /);
  });
});

describe('SARIF with findings from several accounts', () => {
  it('names the account and region of each result, so the same resource id in two accounts stays two results', async () => {
    const { toSarif } = await import('../../cli/audit.ts');
    const base = { checkId: 'sg.open-world', severity: 'HIGH' as const, status: 'FAIL' as const, resource: 'sg-0123', message: 'open to the world.', remediation: 'Remove it.' };
    const sarif = toSarif(
      [
        { ...base, id: 'sg.open-world:prod:eu-west-1:sg-0123', account: 'prod', region: 'eu-west-1' },
        { ...base, id: 'sg.open-world:staging:us-east-1:sg-0123', account: 'staging', region: 'us-east-1' },
        { ...base, id: 'sg.open-world:sg-0123' },
      ],
      { configPath: 'origin-guard.config.json' },
    );
    const results = sarif.runs[0].results;
    expect(results.map((r) => r.locations[0].logicalLocations[0].fullyQualifiedName)).toEqual(['prod/eu-west-1/sg-0123', 'staging/us-east-1/sg-0123', 'sg-0123']);
    expect(results.map((r) => [r.properties.account, r.properties.region])).toEqual([
      ['prod', 'eu-west-1'],
      ['staging', 'us-east-1'],
      [undefined, undefined],
    ]);
    expect(new Set(results.map((r) => r.partialFingerprints['originGuardFindingId/v1'])).size).toBe(3);
  });
});
