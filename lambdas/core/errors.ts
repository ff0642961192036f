/**
 * The core's error vocabulary. Adapters translate SDK and HTTP errors into these; messages say what failed
 * and what to do, and never carry secret values (use fingerprints).
 */
export class OriginGuardError extends Error {
  override name = 'OriginGuardError';
}

/** A sender or validator (CloudFront, WAF, Kong, Konnect, ...) could not be read or changed. */
export class TargetError extends OriginGuardError {
  override name = 'TargetError';
  constructor(
    /** e.g. `cloudfront:E2EXAMPLE`, `wafv2:REGIONAL/gateway-acl`, `kong-route:api` */
    readonly target: string,
    message: string,
    options?: { cause?: unknown; retryable?: boolean },
  ) {
    super(`${target}: ${message}`, options);
    this.retryable = options?.retryable ?? false;
  }
  readonly retryable: boolean;
}

/** Someone else changed the resource between our read and our write (ETag / LockToken); retry from a fresh read. */
export class ConcurrentModificationError extends TargetError {
  override name = 'ConcurrentModificationError';
}

/** A rotation step cannot run in the secret's current state (wrong token, overlap still open, ...). */
export class RotationStateError extends OriginGuardError {
  override name = 'RotationStateError';
}

/** A rotation step failed; everything was put back to the last good state. */
export class RotationFailedError extends OriginGuardError {
  override name = 'RotationFailedError';
  constructor(
    readonly secret: string,
    readonly step: string,
    readonly target: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** An IP range source could not be read or looked wrong; nothing was changed. */
export class SourceError extends OriginGuardError {
  override name = 'SourceError';
  constructor(
    /** e.g. `aws(https://ip-ranges.amazonaws.com/ip-ranges.json)`, `cloudflare`, `konnect(us)` */
    readonly source: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${source}: ${message}`, options);
  }
}

/** Short text of any thrown value, for logs and alerts. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** Another writer holds the lease of a secret or reconcile target; nothing was changed. */
export class LeaseHeldError extends OriginGuardError {
  override name = 'LeaseHeldError';
  constructor(
    readonly key: string,
    readonly holder: { owner: string; purpose: string; acquiredAt: Date; expiresAt: Date },
  ) {
    super(
      `${key} is being changed by ${holder.purpose} (${holder.owner}) since ${holder.acquiredAt.toISOString()}; ` +
        `nothing was changed. Try again once it is done (its lease lapses at ${holder.expiresAt.toISOString()} at the latest).`,
    );
  }
}

/** The lease lapsed or was taken over while we held it: stop before the next write. */
export class LeaseLostError extends OriginGuardError {
  override name = 'LeaseLostError';
}

/**
 * A step stopped before its deadline (the Lambda's remaining time, the CLI's --timeout) rather than start a
 * wait it could not finish. Nothing was rolled back: every value a sender may send is still accepted, the
 * progress is kept in the secret's tags, and the next invocation resumes where this one stopped.
 */
export class RotationStoppedError extends OriginGuardError {
  override name = 'RotationStoppedError';
  constructor(
    readonly secret: string,
    readonly step: string,
    message: string,
  ) {
    super(message);
  }
}
