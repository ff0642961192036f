/**
 * `origin-guard reconcile --release`: hands a target's security groups back to their owner without cutting
 * traffic. Of the rules origin-guard owns (description `origin-guard:<target>:...`), it removes only those that
 * another rule of the same group makes redundant (same protocol, ports covered, CIDR contained), or all of them
 * when the operator confirms that traffic arrives otherwise (`--confirm-release`); for every rule it keeps, it
 * says why.
 */
import { parseCidr } from './cidr.ts';
import type { ObservedRule } from './range-planner.ts';

export interface ReleaseDecision {
  remove: Array<{ rule: ObservedRule; reason: string }>;
  keep: Array<{ rule: ObservedRule; reason: string }>;
}

/** The rule descriptions origin-guard writes for `target`. */
export const ownedBy = (target: string) => (rule: ObservedRule) => (rule.description ?? '').startsWith(`origin-guard:${target}:`);

function addressBits(text: string): { family: 'ipv4' | 'ipv6'; value: bigint; length: number } | undefined {
  let cidr;
  try {
    cidr = parseCidr(text);
  } catch {
    return undefined; // a prefix list id or something else: it covers nothing we can prove
  }
  const [address] = cidr.text.split('/');
  if (cidr.family === 'ipv4') {
    const value = address.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
    return { family: 'ipv4', value, length: cidr.prefixLength };
  }
  const [head, tail = ''] = address.includes('::') ? address.split('::') : [address, undefined as unknown as string];
  const left = head ? head.split(':') : [];
  const right = address.includes('::') && tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  const value = groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
  return { family: 'ipv6', value, length: cidr.prefixLength };
}

/** Whether CIDR `outer` contains CIDR `inner` (same family, shorter or equal prefix, same leading bits). */
export function cidrContains(outer: string, inner: string): boolean {
  const a = addressBits(outer);
  const b = addressBits(inner);
  if (!a || !b || a.family !== b.family || a.length > b.length) return false;
  const width = a.family === 'ipv4' ? 32n : 128n;
  const shift = width - BigInt(a.length);
  return a.value >> shift === b.value >> shift;
}

/** Whether `other` admits everything `rule` admits. */
function covers(other: ObservedRule, rule: ObservedRule): boolean {
  if (other.groupId !== rule.groupId || other.cidr === undefined || rule.cidr === undefined) return false;
  const protocolOk = other.protocol === '-1' || other.protocol === rule.protocol;
  const portsOk = other.protocol === '-1' || (other.fromPort <= rule.fromPort && other.toPort >= rule.toPort);
  return protocolOk && portsOk && cidrContains(other.cidr, rule.cidr);
}

const describe = (r: ObservedRule) => `${r.cidr ?? '(group reference)'} ${r.protocol === '-1' ? 'all traffic' : `${r.protocol}/${r.fromPort === r.toPort ? r.fromPort : `${r.fromPort}-${r.toPort}`}`}`;

export function planRelease(target: string, rules: readonly ObservedRule[], confirmed: boolean): ReleaseDecision {
  const owned = ownedBy(target);
  const others = rules.filter((r) => !owned(r));
  const decision: ReleaseDecision = { remove: [], keep: [] };
  for (const rule of rules.filter(owned)) {
    const other = others.find((o) => covers(o, rule));
    if (other) {
      decision.remove.push({ rule, reason: `${describe(other)}${other.ruleId ? ` (${other.ruleId})` : ''} admits it too` });
    } else if (confirmed) {
      decision.remove.push({ rule, reason: 'the operator confirmed that traffic does not depend on it (--confirm-release)' });
    } else {
      decision.keep.push({
        rule,
        reason: `no other rule of ${rule.groupId} admits ${describe(rule)}: removing it would cut that traffic (add a rule that admits it, or pass --confirm-release)`,
      });
    }
  }
  return decision;
}
