import type { RotationProgress } from '../lambdas/core/rotation.ts';
import type { CliContext } from './context.ts';

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

function seconds(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/**
 * Shows rotation progress on stderr: one line per step, and for real waits (validator propagation,
 * CloudFront deploying, the overlap) a spinner with the elapsed time and what it waits for. On a terminal the
 * wait line redraws in place; elsewhere (CI, logs) it prints at most one line every 10 seconds.
 */
export function progressPrinter(ctx: CliContext, options: { quiet?: boolean } = {}) {
  let frame = 0;
  let waiting = false;
  let lastPrinted = -Infinity;
  const endWait = () => {
    if (waiting && ctx.interactive) process.stderr.write('\r\x1b[2K');
    waiting = false;
  };
  return (event: RotationProgress) => {
    if (options.quiet) return;
    if (event.phase === 'wait') {
      const eta = event.until ? `, ETA ${event.until.toISOString().slice(11, 19)} UTC` : '';
      const line = `${SPINNER[frame++ % SPINNER.length]} ${event.secret}: waiting for ${event.waitingFor ?? event.message} (${seconds(event.waitedMs ?? 0)} elapsed${eta})`;
      if (ctx.interactive) {
        process.stderr.write(`\r\x1b[2K${line}`);
        waiting = true;
      } else if ((event.waitedMs ?? 0) - lastPrinted >= 10_000 || (event.waitedMs ?? 0) < lastPrinted) {
        ctx.stderr(line);
        lastPrinted = event.waitedMs ?? 0;
      }
      return;
    }
    endWait();
    lastPrinted = -Infinity;
    const mark = { start: '…', done: '✓', skip: '-', fail: '✗', stop: '■', wait: '' }[event.phase];
    if (event.phase === 'start' && event.step !== 'rollback') return; // the done line says it
    ctx.stderr(`${mark} ${event.secret} ${event.step}: ${event.message}`);
  };
}
