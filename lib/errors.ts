/**
 * Invalid construct props. Like aws-solutions-constructs, a construct collects every problem first and
 * throws once, so a user fixes them all in one go.
 */
export class InvalidPropsError extends Error {
  override name = 'InvalidPropsError';
  constructor(
    readonly construct: string,
    readonly problems: string[],
  ) {
    super(`Invalid props for ${construct}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Throws InvalidPropsError when `problems` is not empty. */
export function throwIfProblems(construct: string, problems: string[]): void {
  if (problems.length > 0) throw new InvalidPropsError(construct, problems);
}
