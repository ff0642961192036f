/**
 * A Stryker ignorer (https://stryker-mutator.io/docs/stryker-js/disable-mutants/#using-an-ignore-plugin): mutants
 * inside a structured log call, `log.info(…)`, `deps.log.warn(…)`, `this.log?.error(…)`, are reported as ignored
 * rather than run. The text and fields of a log line are a debugging aid; what an operator sees (progress events,
 * alerts, tags, errors, `--json` results) is written through other calls, which stay mutated. Earlier runs listed
 * these mutants one by one as "log only" survivors (docs/mutation-report.md).
 */
import { declareValuePlugin, PluginKind } from '@stryker-mutator/api/plugin';

const LEVELS = new Set(['debug', 'info', 'warn', 'error']);

/** `log` / `logger` itself, or any `x.log` / `x?.log` / `x.logger`. */
function isLogger(node) {
  if (node.type === 'Identifier') return node.name === 'log' || node.name === 'logger';
  if (node.type === 'MemberExpression' || node.type === 'OptionalMemberExpression') {
    return !node.computed && node.property.type === 'Identifier' && (node.property.name === 'log' || node.property.name === 'logger');
  }
  return false;
}

export function isLogCall(node) {
  if (node.type !== 'CallExpression' && node.type !== 'OptionalCallExpression') return false;
  const callee = node.callee;
  if (callee.type !== 'MemberExpression' && callee.type !== 'OptionalMemberExpression') return false;
  return !callee.computed && callee.property.type === 'Identifier' && LEVELS.has(callee.property.name) && isLogger(callee.object);
}

export const strykerPlugins = [
  declareValuePlugin(PluginKind.Ignore, 'log-lines', {
    shouldIgnore(path) {
      return isLogCall(path.node) ? 'a log line: its text and fields are a debugging aid, not what an operator is shown' : undefined;
    },
  }),
];
