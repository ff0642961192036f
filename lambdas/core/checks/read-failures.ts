import { findingOf, type AuditCheck } from '../audit-model.ts';

/**
 * What the audit could not read: the checks that need it are silent, so say so. A resource read fine
 * yields a passing finding, which resolves an earlier read failure.
 */
export const auditReadFailures: AuditCheck = {
  id: 'audit.read',
  title: 'Audited resources could be read',
  severity: 'MEDIUM',
  run(observed) {
    const failures = new Map<string, string[]>();
    for (const f of observed.readFailures) failures.set(f.resource, [...(failures.get(f.resource) ?? []), `${f.what}: ${f.error}`]);
    const resources = [...new Set([...observed.readResources, ...failures.keys()])];
    return resources.map((resource) => {
      const errors = failures.get(resource);
      if (!errors) return findingOf(this, resource, true, `${resource} was read.`, 'None.');
      return findingOf(
        this,
        resource,
        false,
        `The audit could not read ${resource}, so its checks did not run: ${errors.join('; ')}.`,
        `Grant the audit role read access (see the error), or wait out throttling; the next audit retries.`,
        { errors },
      );
    });
  },
};
