/// <reference lib="dom" />
/**
 * The posture page as a person sees it, in headless Chromium (Debian's chromium, driven by playwright-core):
 * each hop box is drawn in the colour the audit gives it (read from computed styles, not from our own
 * classes), nothing on the page runs a script or asks the network, and a page that draws a failing hop
 * green fails the same assertion (the negative control).
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPosture } from '../../lambdas/core/posture.ts';
import { renderPostureHtml } from '../../lambdas/core/posture-html.ts';
import { launchChromium } from '../support/browser.ts';
import { FIXTURE_NOW, postureFixture } from '../support/posture-fixture.ts';

/** What a person must see, written out here rather than taken from the renderer's own constants. */
const RGB = { green: 'rgb(30, 142, 62)', amber: 'rgb(249, 171, 0)', red: 'rgb(217, 48, 37)' } as const;
const EXPECTED: Record<string, keyof typeof RGB> = { CloudFront: 'green', WAF: 'red', 'Kong route': 'amber', Upstreams: 'amber' };

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

async function open(html: string): Promise<{ page: Page; requests: string[]; errors: string[] }> {
  const page = await browser.newPage();
  const requests: string[] = [];
  const errors: string[] = [];
  page.on('request', (r) => void requests.push(r.url()));
  page.on('pageerror', (e) => void errors.push(e.message));
  page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
  await page.setContent(html, { waitUntil: 'load' });
  return { page, requests, errors };
}

/** Each hop's kind and the background colour Chromium actually paints. */
async function drawnHops(page: Page): Promise<Array<{ kind: string; background: string }>> {
  return page.$$eval('[data-hop]', (boxes) =>
    boxes.map((box) => ({
      kind: (box.querySelector('.kind')?.firstChild?.textContent ?? '').trim(),
      background: getComputedStyle(box).backgroundColor,
    })),
  );
}

function expectHopColours(hops: Array<{ kind: string; background: string }>): void {
  expect(hops.map((h) => h.kind)).toEqual(Object.keys(EXPECTED));
  for (const hop of hops) expect(hop.background, `${hop.kind} hop`).toBe(RGB[EXPECTED[hop.kind]]);
}

const page0 = () => renderPostureHtml(buildPosture({ ...postureFixture(), generatedAt: FIXTURE_NOW }));

describe('posture page in headless Chromium', () => {
  it('draws each hop of the chain in the colour of its findings, amber for unknown statuses', async () => {
    const { page, requests, errors } = await open(page0());

    expectHopColours(await drawnHops(page));
    const visible = await page.locator('[data-hop]').evaluateAll((boxes) => boxes.every((b) => (b as HTMLElement).offsetWidth > 0 && (b as HTMLElement).offsetHeight > 0));
    expect(visible).toBe(true);
    await expect(page.locator('[data-summary]').textContent()).resolves.toContain('1 failing, 1 inconclusive');
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
    await page.close();
  });

  it('fails when a hop that should be red is drawn green (negative control)', async () => {
    const tampered = page0().replace(/class="hop c-red"/, 'class="hop c-green"');
    expect(tampered).not.toBe(page0());
    const { page } = await open(tampered);

    const hops = await drawnHops(page);
    expect(() => expectHopColours(hops)).toThrow(/WAF hop/);
    await page.close();
  });

  it('shows the failing finding before the passing ones, and the group quota bars', async () => {
    const { page } = await open(page0());

    const rows = await page.$$eval('tr[data-finding]', (trs) => trs.map((tr) => tr.getAttribute('data-status')));
    expect(rows[0]).toBe('FAIL');
    expect(rows.lastIndexOf('FAIL')).toBeLessThan(rows.indexOf('PASS'));
    await expect(page.locator('details').evaluate((d) => (d as HTMLDetailsElement).open)).resolves.toBe(false);
    const ipv4 = page.locator('[data-group="sg-0123abcd"] [data-family="ipv4"]');
    const widths = await ipv4.evaluate((bar) => [...bar.children].map((c) => (c as HTMLElement).getBoundingClientRect().width));
    expect(widths[0]).toBeGreaterThan(0); // owned
    expect(widths[1]).toBeGreaterThan(0); // unowned
    expect(widths[2]).toBeGreaterThan(widths[0]); // free: 58 of 60
    await page.close();
  });
});
