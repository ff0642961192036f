// Cold-init probe, run by bench/lambda-packages.ts in a fresh `node` process per measurement:
//   node bench/cold-init-probe.mjs <bundle.mjs> <handler name> <result.json>
// t0 is taken just before the bundle is imported. The handler is then invoked with an event that makes it
// build what a cold start builds (embedded config, logger, SDK clients, adapters) and send its first request;
// that request goes to AWS_ENDPOINT_URL, a closed port on 127.0.0.1, and the probe exits the moment the request
// is created (before any connection), so nothing leaves the machine. Plain JavaScript: no TypeScript loader.
import diagnostics from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const [bundle, name, resultFile] = process.argv.slice(2);
const config = JSON.parse(process.env.ORIGIN_GUARD_CONFIG_JSON ?? '{}');
const scheduled = { version: '0', id: 'bench-cold-init', 'detail-type': 'Scheduled Event', source: 'aws.events', account: '123456789012', time: new Date().toISOString(), region: 'eu-west-1', resources: [], detail: {} };
const events = {
  rotate: { Step: 'createSecret', SecretId: config.secrets?.[0]?.secretName ?? 'origin-guard/none', ClientRequestToken: 'bench-cold-init-token' },
  retire: scheduled,
  reconcile: scheduled,
  audit: scheduled,
};

let importMs;
let finished = false;
function finish(outcome) {
  if (finished) return;
  finished = true;
  writeFileSync(resultFile, JSON.stringify({ importMs, ...outcome }));
  process.exit(0);
}

// Which service the first request is for: the SigV4 credential scope names it (…/eu-west-1/ec2/aws4_request).
function serviceOf(request) {
  const auth = String(request.getHeader?.('authorization') ?? '');
  return /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\//.exec(auth)?.[1] ?? 'http';
}
diagnostics.subscribe('http.client.request.start', ({ request }) => {
  finish({ firstRequestMs: performance.now() - t0, firstRequest: `${serviceOf(request)} ${request.method} ${request.host}${request.path}` });
});
diagnostics.subscribe('undici:request:create', ({ request }) => {
  finish({ firstRequestMs: performance.now() - t0, firstRequest: `fetch ${request.method} ${request.origin}${request.path}` });
});
setTimeout(() => finish({ error: 'no request within 10 s' }), 10_000).unref();

const t0 = performance.now();
const mod = await import(pathToFileURL(bundle).href);
importMs = performance.now() - t0;
try {
  await mod.handler(events[name] ?? {}, { functionName: `origin-guard-${name}`, awsRequestId: 'bench', getRemainingTimeInMillis: () => 60_000 });
  finish({ settledMs: performance.now() - t0, error: 'the handler finished without sending a request' });
} catch (error) {
  finish({ settledMs: performance.now() - t0, error: `the handler failed before sending a request: ${String(error?.message ?? error).split('\n')[0]}` });
}
