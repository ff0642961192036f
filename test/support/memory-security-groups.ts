import type { IpRangeTargetConfig } from '../../lambdas/config.ts';
import type { ObservedRule, RulePlan } from '../../lambdas/core/range-planner.ts';
import type { ApplyReport, ObservedTarget, SecurityGroupStorePort, TargetState } from '../../lambdas/core/reconcile.ts';

/**
 * Security groups in memory for unit tests of the reconcile core: applies a plan as the EC2 adapter does
 * (adoptions, additions before removals) and keeps the target state; `removed` counts every rule ever revoked.
 */
export class MemorySecurityGroups implements SecurityGroupStorePort {
  rules: ObservedRule[] = [];
  state: TargetState = {};
  removed = 0;
  added = 0;
  private nextId = 1;

  async read(_target: IpRangeTargetConfig): Promise<ObservedTarget> {
    return { rules: structuredClone(this.rules), state: structuredClone(this.state) };
  }

  async apply(_target: IpRangeTargetConfig, plan: RulePlan): Promise<ApplyReport> {
    const report: ApplyReport = { authorizeCalls: 0, revokeCalls: 0, modifyCalls: 0 };
    for (const g of plan.groups) {
      for (const a of g.adopt) {
        const rule = this.rules.find((r) => r.ruleId === a.ruleId);
        if (rule) rule.description = a.description;
      }
      if (g.adopt.length) report.modifyCalls! += 1;
      for (const r of g.add) this.rules.push({ groupId: g.groupId, ruleId: `sgr-${this.nextId++}`, protocol: r.protocol, fromPort: r.fromPort, toPort: r.toPort, cidr: r.cidr, description: r.description });
      if (g.add.length) report.authorizeCalls += 1;
      this.added += g.add.length;
    }
    for (const g of plan.groups) {
      const ids = new Set(g.remove.map((r) => r.ruleId));
      const before = this.rules.length;
      this.rules = this.rules.filter((r) => !(r.groupId === g.groupId && ids.has(r.ruleId)));
      this.removed += before - this.rules.length;
      if (g.remove.length) report.revokeCalls += 1;
    }
    return report;
  }

  async writeState(_target: IpRangeTargetConfig, next: TargetState, previous: TargetState): Promise<number> {
    if (JSON.stringify(next) === JSON.stringify(previous)) return 0;
    this.state = structuredClone(next);
    return 1;
  }
}
