// Runs one Lambda bundle as the Node.js runtime does: import the handler file of the asset, call
// handler(event, context) once with a context whose getRemainingTimeInMillis() counts down from the
// function's timeout, and write { ok, result | error } to the result file. Plain JavaScript: nothing but
// Node and the bundle (and the SDK clients it leaves to the runtime) is loaded.
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [handlerPath, exportName, eventFile, resultFile] = process.argv.slice(2);
const write = (value) => writeFileSync(resultFile, JSON.stringify(value));
const timeoutMs = Number(process.env.AWS_LAMBDA_FUNCTION_TIMEOUT) * 1000;
const deadline = Date.now() + timeoutMs;
const context = {
  functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
  functionVersion: '$LATEST',
  invokedFunctionArn: `arn:aws:lambda:${process.env.AWS_REGION}:123456789012:function:${process.env.AWS_LAMBDA_FUNCTION_NAME}`,
  memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? '512',
  awsRequestId: randomUUID(),
  logGroupName: `/aws/lambda/${process.env.AWS_LAMBDA_FUNCTION_NAME}`,
  logStreamName: 'deployed-test',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
};
const timer = setTimeout(() => {
  write({ ok: false, error: { name: 'Timeout', message: `Task timed out after ${timeoutMs / 1000} seconds` } });
  process.exit(1);
}, timeoutMs);
timer.unref();
try {
  const module = await import(pathToFileURL(handlerPath).href);
  const handler = module[exportName];
  if (typeof handler !== 'function') throw Object.assign(new Error(`${handlerPath} does not export ${exportName}`), { name: 'Runtime.HandlerNotFound' });
  const result = await handler(JSON.parse(readFileSync(eventFile, 'utf8')), context);
  write({ ok: true, result: result ?? null });
  process.exit(0);
} catch (error) {
  write({ ok: false, error: { name: error?.name ?? 'Error', message: String(error?.message ?? error), code: error?.code } });
  process.exit(1);
}
