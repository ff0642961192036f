/**
 * WAFv2 web ACL as a validator: one rule, owned by origin-guard, that blocks requests without an accepted
 * origin-verify header. Everything else in the web ACL belongs to someone else and is sent back untouched.
 */
import {
  GetWebACLCommand,
  UpdateWebACLCommand,
  type Rule,
  type UpdateWebACLRequest,
  type WAFV2Client,
  type WebACL,
} from '@aws-sdk/client-wafv2';
import { ConcurrentModificationError, TargetError } from '../core/errors.ts';
import { fingerprint } from '../core/fingerprint.ts';
import type { ValidatorPort } from '../core/ports.ts';
import { retryReadModifyWrite, type WriteRetryOptions } from './retry.ts';
import {
  acceptedValuesOfRule,
  buildOriginVerifyRule,
  distinctValues,
  invalidValuesReason,
  sameRule,
} from '../core/waf-rule.ts';

export type WafScope = 'REGIONAL' | 'CLOUDFRONT';

export interface WebAclRef {
  scope: WafScope;
  name: string;
  id: string;
}

/** Bounds of the read-modify-write loop on a lock conflict or throttling. */
export type { WriteRetryOptions };

export interface WafV2ValidatorOptions {
  scope: WafScope;
  webAclName: string;
  webAclId: string;
  ruleName: string;
  priority: number;
  headerName: string;
  propagationSeconds: number;
  retry?: WriteRetryOptions;
}

/**
 * The web ACL fields that UpdateWebACL takes besides its key, lock token and rules. AWS replaces the whole
 * web ACL on update, so each one that GetWebACL returned must be sent back or it is reset.
 */
const CARRIED_WEB_ACL_FIELDS = [
  'DefaultAction',
  'Description',
  'VisibilityConfig',
  'DataProtectionConfig',
  'CustomResponseBodies',
  'CaptchaConfig',
  'ChallengeConfig',
  'TokenDomains',
  'AssociationConfig',
  'OnSourceDDoSProtectionConfig',
  'ApplicationConfig',
  'MonetizationConfig',
] as const satisfies ReadonlyArray<keyof UpdateWebACLRequest & keyof WebACL>;

type CarriedField = (typeof CARRIED_WEB_ACL_FIELDS)[number];
// Fails to type-check when an SDK upgrade adds an UpdateWebACL field that is not carried over above.
type UncarriedUpdateField = Exclude<keyof UpdateWebACLRequest, CarriedField | 'Name' | 'Scope' | 'Id' | 'LockToken' | 'Rules'>;
const everyUpdateFieldCarried: [UncarriedUpdateField] extends [never] ? true : never = true;
// Fails to type-check when what GetWebACL returns for a field is not what UpdateWebACL takes.
type MismatchedField = { [K in CarriedField]: WebACL[K] extends UpdateWebACLRequest[K] ? never : K }[CarriedField];
const carriedFieldsAssignable: [MismatchedField] extends [never] ? true : never = true;
void everyUpdateFieldCarried;
void carriedFieldsAssignable;

/** The UpdateWebACL request that writes `rules` and leaves every other setting of `webAcl` as it is. */
export function updateRequestKeepingSettings(
  ref: WebAclRef,
  webAcl: WebACL,
  lockToken: string,
  rules: Rule[],
): UpdateWebACLRequest {
  const request: UpdateWebACLRequest = {
    Name: ref.name,
    Scope: ref.scope,
    Id: ref.id,
    LockToken: lockToken,
    DefaultAction: webAcl.DefaultAction,
    VisibilityConfig: webAcl.VisibilityConfig,
    Rules: rules,
  };
  for (const field of CARRIED_WEB_ACL_FIELDS) {
    // Same type on both sides, checked by `carriedFieldsAssignable` above.
    if (webAcl[field] !== undefined) (request as Record<CarriedField, unknown>)[field] = webAcl[field];
  }
  return request;
}

const webAclTarget = (ref: WebAclRef) => `wafv2:${ref.scope}/${ref.name}`;

/** Reads a web ACL with the lock token needed to change it. */
export async function getWebAcl(client: WAFV2Client, ref: WebAclRef): Promise<{ webAcl: WebACL; lockToken: string }> {
  let response;
  try {
    response = await client.send(new GetWebACLCommand({ Scope: ref.scope, Name: ref.name, Id: ref.id }));
  } catch (error) {
    throw wafError(webAclTarget(ref), 'reading the web ACL (GetWebACL)', 'wafv2:GetWebACL', error);
  }
  if (!response.WebACL || !response.LockToken) {
    throw new TargetError(webAclTarget(ref), 'GetWebACL returned no web ACL or no lock token; retry later.', { retryable: true });
  }
  return { webAcl: response.WebACL, lockToken: response.LockToken };
}

export class WafV2Validator implements ValidatorPort {
  readonly id: string;
  readonly propagationSeconds: number;
  private readonly ref: WebAclRef;

  constructor(
    private readonly client: WAFV2Client,
    private readonly options: WafV2ValidatorOptions,
  ) {
    this.id = `wafv2:${options.scope}/${options.webAclName}/${options.ruleName}`;
    this.propagationSeconds = options.propagationSeconds;
    this.ref = { scope: options.scope, name: options.webAclName, id: options.webAclId };
  }

  async accept(values: string[]): Promise<void> {
    const reason = invalidValuesReason(values);
    if (reason) throw new TargetError(this.id, `cannot build the origin-verify rule: ${reason}.`);

    await retryReadModifyWrite(this.id, 'web ACL', () => this.acceptOnce(distinctValues(values)), {
      baseDelayMs: 100,
      maxElapsedMs: 30_000,
      ...this.options.retry,
    });
  }

  /** One read-modify-write; a lock conflict or throttling surfaces as a retryable TargetError. */
  private async acceptOnce(values: string[]): Promise<void> {
    const { ruleName, priority, headerName } = this.options;
    const { webAcl, lockToken } = await getWebAcl(this.client, this.ref);
    const rules = webAcl.Rules ?? [];
    const existing = rules.find((rule) => rule.Name === ruleName);

    // The same set in another order is the same rule for WAF: keep the stored order and skip the write.
    const existingValues = existing ? acceptedValuesOfRule(existing, headerName) : undefined;
    const ordered = existingValues && sameSet(existingValues, values) ? existingValues : values;
    const desired = buildOriginVerifyRule({ ruleName, priority, headerName, values: ordered });
    if (existing && sameRule(existing, desired)) return;

    const holder = rules.find((rule) => rule.Name !== ruleName && rule.Priority === priority);
    if (holder) {
      throw new TargetError(
        this.id,
        `rule "${holder.Name}" already has priority ${priority} in the web ACL, so rule "${ruleName}" cannot take it. ` +
          `Choose a free priority for "${ruleName}" in the configuration (validators[].priority) or move "${holder.Name}".`,
      );
    }

    const nextRules = existing ? rules.map((rule) => (rule.Name === ruleName ? desired : rule)) : [...rules, desired];
    try {
      await this.client.send(new UpdateWebACLCommand(updateRequestKeepingSettings(this.ref, webAcl, lockToken, nextRules)));
    } catch (error) {
      throw wafError(this.id, 'updating the web ACL (UpdateWebACL)', 'wafv2:UpdateWebACL', error, values);
    }
  }

  async accepted(): Promise<string[]> {
    const { webAcl } = await getWebAcl(this.client, this.ref);
    const rule = webAcl.Rules?.find((r) => r.Name === this.options.ruleName);
    if (!rule) return [];
    const values = acceptedValuesOfRule(rule, this.options.headerName);
    if (values === undefined) {
      throw new TargetError(
        this.id,
        `rule "${this.options.ruleName}" is not in origin-guard's shape (block unless header ${this.options.headerName} exactly matches an accepted value); ` +
          'it was edited outside origin-guard. Rename that rule, or run a rotation to rewrite it.',
      );
    }
    return values;
  }
}

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((value) => b.includes(value));
}

const THROTTLING = new Set(['ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded']);

/**
 * WAFInvalidParameterException echoes the offending parameter, which can be a SearchString (raw or base64):
 * replace every accepted value by its fingerprint before the text goes into an error.
 */
function redactValues(text: string, values: string[]): string {
  let out = text;
  for (const value of values) {
    const mark = `<value ${fingerprint(value)}>`;
    for (const form of [value, Buffer.from(value, 'utf8').toString('base64')]) out = out.split(form).join(mark);
  }
  return out;
}

/** Translates an SDK error into the core's vocabulary. */
function wafError(target: string, doing: string, permission: string, error: unknown, values: string[] = []): TargetError {
  const name = (error as { name?: string })?.name ?? 'Error';
  const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  const said = redactValues(error instanceof Error ? `${name}: ${error.message}` : String(error), values);
  switch (name) {
    case 'WAFOptimisticLockException':
      return new ConcurrentModificationError(target, `the web ACL changed while ${doing}; re-reading and retrying.`, {
        cause: error,
        retryable: true,
      });
    case 'WAFNonexistentItemException':
      return new TargetError(
        target,
        `${doing} failed: the web ACL does not exist. Check webAclName, webAclId and scope (CLOUDFRONT scope lives in us-east-1). (${said})`,
        { cause: error },
      );
    case 'AccessDeniedException':
      return new TargetError(target, `${doing} failed: access denied. Grant ${permission} on the web ACL. (${said})`, { cause: error });
    case 'WAFLimitsExceededException':
      return new TargetError(target, `${doing} failed: a WAF limit was reached (web ACL capacity or rule count). (${said})`, {
        cause: error,
      });
    case 'WAFUnavailableEntityException':
      return new TargetError(target, `${doing} failed: the web ACL is not ready yet; retry shortly. (${said})`, {
        cause: error,
        retryable: true,
      });
  }
  if (THROTTLING.has(name) || name === 'WAFInternalErrorException' || (status !== undefined && status >= 500)) {
    return new TargetError(target, `${doing} failed: WAF is throttling or unavailable; retry later. (${said})`, {
      cause: error,
      retryable: true,
    });
  }
  return new TargetError(target, `${doing} failed. (${said})`, { cause: error });
}
