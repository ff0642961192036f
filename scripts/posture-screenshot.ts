/**
 * Screenshot of a posture page for the README: `npx tsx scripts/posture-screenshot.ts report.html docs/posture-report.png`.
 * The same headless Chromium as the browser test (test/support/browser.ts).
 */
import { readFileSync } from 'node:fs';
import { launchChromium } from '../test/support/browser.ts';

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: tsx scripts/posture-screenshot.ts PAGE.html OUT.png');
  process.exit(2);
}
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.setContent(readFileSync(input, 'utf8'), { waitUntil: 'load' });
  await page.screenshot({ path: output, fullPage: true });
  console.log(`wrote ${output}`);
} finally {
  await browser.close();
}
