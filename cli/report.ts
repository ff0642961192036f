/**
 * `origin-guard report --html [--out FILE]`: the posture page, from the same audit as `origin-guard audit`
 * (one observation, the same checks), drawn as one self-contained HTML file. Exit codes as `audit`.
 */
import { writeFileSync } from 'node:fs';
import { createReportS3Client, S3PostureReportStore } from '../lambdas/adapters/report-s3.ts';
import { AwsAuditCollector } from '../lambdas/adapters/audit-collector.ts';
import { hasBlockingFailure, runAudit } from '../lambdas/core/audit.ts';
import { buildPosture } from '../lambdas/core/posture.ts';
import { renderPostureHtml } from '../lambdas/core/posture-html.ts';
import { silentLog, systemClock } from '../lambdas/core/ports.ts';
import type { Command } from './context.ts';
import { UsageError } from './context.ts';
import { cliClients, loadCliConfig, parseFlags } from './runtime.ts';

const HELP = `Usage: origin-guard report --html [--out FILE] [--upload] [--config FILE]

Audits what the config names (as origin-guard audit does) and writes the posture page: per secret the chain
client -> CloudFront -> WAF -> Kong -> upstream, each hop green (holds), amber (not checked or inconclusive)
or red (a check fails); per reconcile target each group's rule quota (owned / unowned / free); findings,
failures first. One self-contained HTML file: no script, no network. Secret values never appear (fingerprints).

  --html       write HTML (the only format so far; required)
  --out FILE   write the page to FILE instead of stdout
  --upload     also write it to s3://report.bucket/report.key (as the audit Lambda does after each scheduled run)

Exits 1 when a HIGH or CRITICAL check fails, 0 otherwise (the page is written either way).`;

export const reportCommand: Command = async (argv, ctx) => {
  const { values } = parseFlags(argv, { html: { type: 'boolean', default: false }, out: { type: 'string' }, upload: { type: 'boolean', default: false } });
  if (values.help) {
    ctx.stdout(HELP);
    return 0;
  }
  if (!values.html) throw new UsageError('choose a format: --html (see origin-guard report --help)');
  const config = loadCliConfig(values.config, ctx.env);
  if (values.upload && !config.report) throw new UsageError('--upload needs report.bucket in the config');
  const observer = new AwsAuditCollector(config, { clients: cliClients(config) });
  const result = await runAudit({ observer, clock: systemClock, log: silentLog });
  if (!result.observed) throw new Error('the audit returned no observation to draw');
  const model = buildPosture({ config, observed: result.observed, findings: result.findings, generatedAt: systemClock.now() });
  const html = renderPostureHtml(model);
  if (values.out) {
    writeFileSync(values.out, html);
    ctx.stderr(`posture page written to ${values.out}: ${model.summary.failed} failing, ${model.summary.unknown} inconclusive, ${model.summary.passed} passing`);
  } else {
    ctx.stdout(html);
  }
  if (values.upload && config.report) {
    const store = new S3PostureReportStore(await createReportS3Client(config.region), config.report);
    await store.put(html);
    ctx.stderr(`posture page uploaded to s3://${config.report.bucket}/${config.report.key}`);
  }
  return hasBlockingFailure(result.findings) ? 1 : 0;
};
