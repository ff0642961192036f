import { findingOf, type AuditCheck } from '../audit-model.ts';
import type { RuleView } from '../reconcile.ts';

const show = (rules: RuleView[]) =>
  rules
    .slice(0, 3)
    .map((r) => `${r.cidr} ${r.protocol}/${r.fromPort === r.toPort ? r.fromPort : `${r.fromPort}-${r.toPort}`}`)
    .join(', ') + (rules.length > 3 ? ` and ${rules.length - 3} more` : '');

/**
 * The rules origin-guard owns in each group equal the desired set, as reconcile itself plans it (a dry run):
 * an extra owned rule admits a range nobody publishes any more, a missing one refuses real CDN traffic.
 */
export const securityGroupOwnedRules: AuditCheck = {
  id: 'sg.owned-rules',
  title: 'Owned security group rules equal the desired set',
  severity: 'MEDIUM',
  run(observed) {
    return observed.securityGroupTargets.flatMap((t) => {
      const target = t.target;
      const resourceOf = (groupId: string) => `${groupId}/${target.name}`;
      const missingGroups = t.groups.filter((g) => g.ingress === undefined);
      const findings = missingGroups.map((g) =>
        findingOf(
          this,
          resourceOf(g.groupId),
          false,
          `Security group ${g.groupId} of target ${target.name} does not exist.`,
          `Fix ipRanges.targets "${target.name}".securityGroupIds in the config, or recreate the group and run origin-guard reconcile --target ${target.name}.`,
        ),
      );
      const desired = t.desired;
      if (!desired || missingGroups.length > 0 || desired.status === 'failed' || desired.status === 'skipped') return findings;
      for (const group of desired.groups) {
        const resource = resourceOf(group.groupId);
        const fix = `Run origin-guard reconcile --target ${target.name} (it adds and removes exactly these); if someone edited the rules by hand, find out why first.`;
        if (desired.status === 'insufficient-capacity') {
          findings.push(findingOf(this, resource, false, `Target ${target.name} cannot hold its desired rules: ${desired.notes.join(' ')}`, `Add security groups to ipRanges.targets "${target.name}", then run origin-guard reconcile.`));
        } else if (group.add.length > 0 || group.remove.length > 0) {
          const parts = [
            ...(group.add.length ? [`lacks ${group.add.length} desired rule(s) (${show(group.add)})`] : []),
            ...(group.remove.length ? [`has ${group.remove.length} owned rule(s) no longer desired (${show(group.remove)})`] : []),
          ];
          findings.push(findingOf(this, resource, false, `${group.groupId} (target ${target.name}) ${parts.join(' and ')}.`, fix, { missing: group.add.length, extra: group.remove.length }));
        } else if (desired.held) {
          findings.push(
            findingOf(this, resource, false, `${group.groupId} (target ${target.name}) keeps owned rules no longer desired: reconcile held a large removal.`, `If the shrink is expected, run origin-guard reconcile --target ${target.name} --force.`, {
              notes: desired.notes,
            }),
          );
        } else {
          findings.push(findingOf(this, resource, true, `${group.groupId} holds exactly the desired rules of target ${target.name}.`, 'None.'));
        }
      }
      return findings;
    });
  },
};
