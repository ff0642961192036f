/**
 * Security groups of many accounts and regions behind one `SecurityGroupStorePort`: each target is read and
 * written through the EC2 client of its own `account` and `region` (the hub's when it names neither). The
 * reconcile core stays unaware of accounts; a target whose spoke role cannot be assumed fails alone.
 */
import type { IpRangeTargetConfig } from '../config.ts';
import type { RulePlan } from '../core/range-planner.ts';
import type { ApplyReport, ObservedTarget, SecurityGroupStorePort, TargetState } from '../core/reconcile.ts';
import type { AccountClients } from './account-clients.ts';
import type { AwsClients } from './aws-clients.ts';
import { Ec2SecurityGroupStore, type Ec2SecurityGroupStoreOptions } from './ec2-security-groups.ts';

export class PlacedSecurityGroupStore implements SecurityGroupStorePort {
  private readonly stores = new Map<AwsClients, Ec2SecurityGroupStore>();
  constructor(
    private readonly hub: AwsClients,
    private readonly accounts: AccountClients | undefined,
    private readonly options: Ec2SecurityGroupStoreOptions = {},
  ) {}

  private storeOf(target: IpRangeTargetConfig): Ec2SecurityGroupStore {
    const placed = target.account !== undefined || (target.region !== undefined && target.region !== this.hub.settings.region);
    if (placed && !this.accounts) throw new Error(`target "${target.name}" is placed in another account or region, but this process was given no account clients`);
    const clients = placed ? this.accounts!.for({ account: target.account, ...(target.region ? { region: target.region } : {}) }) : this.hub;
    let store = this.stores.get(clients);
    if (!store) this.stores.set(clients, (store = new Ec2SecurityGroupStore(clients.ec2(), this.options)));
    return store;
  }

  read(target: IpRangeTargetConfig): Promise<ObservedTarget> {
    return this.storeOf(target).read(target);
  }
  apply(target: IpRangeTargetConfig, plan: RulePlan): Promise<ApplyReport> {
    return this.storeOf(target).apply(target, plan);
  }
  writeState(target: IpRangeTargetConfig, next: TargetState, previous: TargetState): Promise<number> {
    return this.storeOf(target).writeState(target, next, previous);
  }
}
