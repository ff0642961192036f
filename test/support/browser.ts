/**
 * Headless Chromium for the browser tests and the README screenshot: Debian's `chromium` (installed by
 * .ci/run when absent) driven by playwright-core, which never downloads a browser of its own.
 * CHROMIUM_PATH overrides where it is. The flags keep Chromium off the network (the machine has none).
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  const path = env.CHROMIUM_PATH ?? CHROMIUM_CANDIDATES.find((p) => existsSync(p));
  if (!path || !existsSync(path)) {
    throw new Error(`No Chromium found (tried ${env.CHROMIUM_PATH ?? CHROMIUM_CANDIDATES.join(', ')}): apt-get install chromium, or set CHROMIUM_PATH.`);
  }
  return path;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    timeout: 30_000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}
