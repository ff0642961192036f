import { addressShare, cidrsOfRule, findingOf, OPEN_CIDRS, originGroupsOf, type AuditCheck, type ObservedIngressRule } from '../audit-model.ts';

/** Administration and database ports that must never face the internet (Kong Admin API: 8001 / 8444). */
export const ADMIN_PORTS: ReadonlyArray<{ port: number; what: string }> = [
  { port: 22, what: 'SSH' },
  { port: 3389, what: 'RDP' },
  { port: 8001, what: 'Kong Admin API' },
  { port: 8444, what: 'Kong Admin API (TLS)' },
  { port: 3306, what: 'MySQL' },
  { port: 5432, what: 'PostgreSQL' },
  { port: 1433, what: 'SQL Server' },
  { port: 1521, what: 'Oracle' },
  { port: 6379, what: 'Redis' },
  { port: 27017, what: 'MongoDB' },
  { port: 9200, what: 'OpenSearch' },
];

function opensAdminPort(rule: ObservedIngressRule, port: number): boolean {
  if (rule.protocol === '-1') return true;
  if (rule.protocol !== 'tcp') return false;
  return (rule.fromPort ?? -1) <= port && port <= (rule.toPort ?? -1);
}

/** The origin's groups keep admin and database ports closed to the internet and to broad ranges. */
export const securityGroupAdminPorts: AuditCheck = {
  id: 'sg.admin-ports',
  title: 'Admin and database ports closed to the internet',
  severity: 'HIGH',
  run(observed) {
    const share = observed.settings.broadIngressShare;
    return originGroupsOf(observed).flatMap(({ group }) => {
      if (!group.ingress) return [];
      const open: string[] = [];
      const ruleIds = new Set<string>();
      for (const rule of group.ingress) {
        const wide = cidrsOfRule(rule, observed.prefixLists).filter((c) => OPEN_CIDRS.includes(c) || addressShare(c) > share);
        if (wide.length === 0) continue;
        for (const admin of ADMIN_PORTS) {
          if (!opensAdminPort(rule, admin.port)) continue;
          open.push(`${admin.port} (${admin.what}) from ${wide.join(', ')}`);
          ruleIds.add(rule.ruleId);
        }
      }
      if (open.length === 0) {
        return [findingOf(this, group.groupId, true, `${group.groupId} keeps admin and database ports closed to broad ranges.`, 'None.')];
      }
      return [
        findingOf(
          this,
          group.groupId,
          false,
          `${group.groupId} opens admin or database ports to the internet: ${open.join('; ')}.`,
          `Revoke the rules (aws ec2 revoke-security-group-ingress --group-id ${group.groupId} --security-group-rule-ids ${[...ruleIds].join(' ')}); reach admin ports through SSM Session Manager or a VPN.`,
          { ruleIds: [...ruleIds] },
        ),
      ];
    });
  },
};
