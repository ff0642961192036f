import { describe, expect, it } from 'vitest';
import { buildPosture, colourOf } from '../../lambdas/core/posture.ts';
import { escapeHtml, renderPostureHtml } from '../../lambdas/core/posture-html.ts';
import { FIXTURE_NOW, postureFixture } from '../support/posture-fixture.ts';

describe('posture model', () => {
  it.each([
    [[{ status: 'PASS' }], 'green'],
    [[{ status: 'PASS' }, { status: 'FAIL' }], 'red'],
    [[{ status: 'PASS' }, { status: 'INCONCLUSIVE' }], 'amber'],
    [[{ status: 'SOMETHING-NEW' }], 'amber'],
    [[], 'amber'],
  ])('colours %j as %s', (findings, colour) => {
    expect(colourOf(findings)).toBe(colour);
  });

  it('draws the chain sender first, with fingerprints, rotation step and age', () => {
    const model = buildPosture({ ...postureFixture(), generatedAt: FIXTURE_NOW });

    const [secret] = model.secrets;
    expect(secret.hops.map((h) => [h.kind, h.colour])).toEqual([
      ['CloudFront', 'green'],
      ['WAF', 'red'],
      ['Kong route', 'amber'],
      ['Upstreams', 'amber'],
    ]);
    expect(secret.hops[0].values).toEqual(['fp-current1']);
    expect(secret.hops[1].values).toEqual(['fp-old00001']);
    expect(secret.hops[2].reason).toBe('not covered by any audit check');
    expect(secret.hops[3].reason).toMatch(/INCONCLUSIVE/);
    expect(secret.colour).toBe('red');
    expect(secret).toMatchObject({ overlap: 'closed', ageDays: 3, nextRotationAt: '2026-12-30T00:00:00.000Z' });
    expect(model.accounts).toEqual(['123456789012']);
    expect(model.summary).toEqual({ findings: 5, failed: 1, passed: 3, unknown: 1 });
    expect(model.findings[0].status).toBe('FAIL');
  });

  it('counts owned, unowned and free rules per address family, with the ranges versions', () => {
    const model = buildPosture({ ...postureFixture(), generatedAt: FIXTURE_NOW });

    expect(model.targets[0]).toMatchObject({ status: 'in-sync', held: false, sourceVersions: { planned: '1733200000', applied: '1733100000' } });
    expect(renderPostureHtml(model)).toContain('AWS ranges version: applied 1733100000, current 1733200000');
    expect(model.targets[0].groups[0].families).toEqual([
      { family: 'ipv4', owned: 1, unowned: 1, free: 58, quota: 60 },
      { family: 'ipv6', owned: 0, unowned: 0, free: 60, quota: 60 },
    ]);
  });
});

describe('posture page', () => {
  it('is self-contained: no script, no external reference, a CSP that forbids both', () => {
    const html = renderPostureHtml(buildPosture({ ...postureFixture(), generatedAt: FIXTURE_NOW }));

    expect(html).not.toMatch(/<script|<link|<img|@import|url\(|https?:\/\/(?!origin\.example\.com)/i);
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'"`);
  });

  it('escapes what it shows', () => {
    const fixture = postureFixture();
    fixture.findings[1].message = '<img src=x onerror=alert(1)>';
    const html = renderPostureHtml(buildPosture({ ...fixture, generatedAt: FIXTURE_NOW }));

    expect(html).not.toContain('<img');
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});

describe('alerts link to the posture page', () => {
  it('adds the S3 console link of report.bucket to the email text and the chat next steps', async () => {
    const { alertMessage } = await import('../../lambdas/core/alerts.ts');
    const { reportConsoleUrl } = await import('../../lambdas/core/report-link.ts');
    const link = reportConsoleUrl({ bucket: 'example-posture', key: 'origin-guard/posture.html' }, 'eu-west-1');
    const [, failing] = postureFixture().findings;

    const published = alertMessage({ kind: 'NEW', finding: failing }, { format: 'chat', at: FIXTURE_NOW, reportLink: link });

    expect(link).toBe('https://eu-west-1.console.aws.amazon.com/s3/object/example-posture?region=eu-west-1&prefix=origin-guard%2Fposture.html');
    expect(published.email).toContain(`Posture page:   ${link}\n\n--- finding (JSON) ---`);
    expect(published.chat.content.nextSteps.at(-1)).toBe(`Posture page: ${link}`);
    expect(alertMessage({ kind: 'NEW', finding: failing }, { at: FIXTURE_NOW }).email).not.toContain('Posture page');
  });
});
