/**
 * The WAF rule that validates the origin-verify header: it blocks every request whose header matches none
 * of the accepted values. Pure data in, data out: the WAFv2 adapter reads and writes it.
 */
import type { ByteMatchStatement, Rule, Statement } from '@aws-sdk/client-wafv2';

export interface OriginVerifyRuleSpec {
  ruleName: string;
  priority: number;
  /** Matched case-insensitively by WAF; stored lower-case, as WAF normalises header names. */
  headerName: string;
  /** One value, or two during a rotation's overlap (current and pending/previous). */
  values: string[];
}

/** WAF's limit on a ByteMatchStatement's SearchString. */
export const MAX_SEARCH_STRING_BYTES = 200;

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Why a list of values cannot go into the rule, or undefined when it can. Speaks of counts and lengths
 * only, never of the values.
 */
export function invalidValuesReason(values: string[]): string | undefined {
  const distinct = distinctValues(values);
  if (distinct.length < 1 || distinct.length > 2) return `expected one or two distinct values, got ${distinct.length}`;
  for (const [i, value] of distinct.entries()) {
    const bytes = utf8.encode(value).byteLength;
    if (bytes === 0) return `value #${i + 1} is empty`;
    if (bytes > MAX_SEARCH_STRING_BYTES) return `value #${i + 1} is ${bytes} bytes; WAF matches at most ${MAX_SEARCH_STRING_BYTES}`;
  }
  return undefined;
}

/** Values in first-seen order without repeats: accepting [a, a] means accepting a. */
export function distinctValues(values: string[]): string[] {
  return values.filter((value, i) => values.indexOf(value) === i);
}

/**
 * CloudWatch metric names allow `[\w#:.\-/]`, 1-255 characters; rule names are a subset in practice, but a
 * hand-written config may differ.
 */
export function metricNameOf(ruleName: string): string {
  const cleaned = ruleName.replace(/[^\w#:.\-/]/g, '-').slice(0, 255);
  return cleaned === '' ? 'origin-verify' : cleaned;
}

function headerMatch(headerName: string, value: string): Statement {
  const byteMatch: ByteMatchStatement = {
    SearchString: utf8.encode(value),
    FieldToMatch: { SingleHeader: { Name: headerName.toLowerCase() } },
    TextTransformations: [{ Priority: 0, Type: 'NONE' }],
    PositionalConstraint: 'EXACTLY',
  };
  return { ByteMatchStatement: byteMatch };
}

/** The rule blocking requests whose header is none of `values`. Throws RangeError for an unusable value list. */
export function buildOriginVerifyRule(spec: OriginVerifyRuleSpec): Rule {
  const reason = invalidValuesReason(spec.values);
  if (reason) throw new RangeError(`origin-verify rule ${spec.ruleName}: ${reason}`);
  const matches = distinctValues(spec.values).map((value) => headerMatch(spec.headerName, value));
  const anyAccepted: Statement = matches.length === 1 ? matches[0] : { OrStatement: { Statements: matches } };
  return {
    Name: spec.ruleName,
    Priority: spec.priority,
    Action: { Block: {} },
    Statement: { NotStatement: { Statement: anyAccepted } },
    VisibilityConfig: {
      // Sampled requests are blocked ones, which by construction carry no accepted value.
      SampledRequestsEnabled: true,
      CloudWatchMetricsEnabled: true,
      MetricName: metricNameOf(spec.ruleName),
    },
  };
}

function searchStringText(searchString: unknown): string | undefined {
  try {
    if (searchString instanceof Uint8Array) return utf8Decoder.decode(searchString);
  } catch {
    return undefined;
  }
  // Rules that went through JSON (CLI dumps, fixtures) carry the string itself.
  if (typeof searchString === 'string') return searchString;
  return undefined;
}

function acceptedValueOfMatch(statement: Statement | undefined, headerName: string): string | undefined {
  const match = statement?.ByteMatchStatement;
  if (!match || !onlyKeys(statement, ['ByteMatchStatement'])) return undefined;
  const header = match.FieldToMatch?.SingleHeader?.Name;
  if (header === undefined || header.toLowerCase() !== headerName.toLowerCase()) return undefined;
  if (!onlyKeys(match.FieldToMatch, ['SingleHeader'])) return undefined;
  if (match.PositionalConstraint !== 'EXACTLY') return undefined;
  const transforms = match.TextTransformations ?? [];
  if (transforms.length !== 1 || transforms[0].Type !== 'NONE') return undefined;
  if (match.PreParseTextTransformations?.length) return undefined;
  const value = searchStringText(match.SearchString);
  return value === undefined || value === '' ? undefined : value;
}

/**
 * The values `rule` accepts in the header, or undefined when the rule is not in the shape that
 * buildOriginVerifyRule makes (someone edited it by hand, or it is another rule).
 */
export function acceptedValuesOfRule(rule: Rule, headerName: string): string[] | undefined {
  if (!rule.Action?.Block || !onlyKeys(rule.Action, ['Block'])) return undefined;
  if (rule.OverrideAction) return undefined;
  const inner = rule.Statement?.NotStatement?.Statement;
  if (!inner || !onlyKeys(rule.Statement, ['NotStatement'])) return undefined;
  const matches = inner.OrStatement && onlyKeys(inner, ['OrStatement']) ? (inner.OrStatement.Statements ?? []) : [inner];
  if (matches.length < 1 || matches.length > 2) return undefined;
  const values: string[] = [];
  for (const match of matches) {
    const value = acceptedValueOfMatch(match, headerName);
    if (value === undefined) return undefined;
    values.push(value);
  }
  return values;
}

/** Whether two rules are the same WAF configuration (bytes compared by content; absent equals undefined). */
export function sameRule(a: Rule, b: Rule): boolean {
  return deepEqual(a, b);
}

function onlyKeys(object: object | undefined, allowed: string[]): boolean {
  if (!object) return false;
  return Object.entries(object).every(([key, value]) => value === undefined || allowed.includes(key));
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array && b instanceof Uint8Array) || a.byteLength !== b.byteLength) return false;
    return a.every((byte, i) => byte === b[i]);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!(Array.isArray(a) && Array.isArray(b)) || a.length !== b.length) return false;
    return a.every((item, i) => deepEqual(item, b[i]));
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) {
    if (!deepEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key])) return false;
  }
  return true;
}
