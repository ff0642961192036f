// What the audit sends to EventBridge (origin-guard's own rules); imported with import() (on-demand-clients.ts):
// its own chunk, read only by a full audit that checks watched rules.
export { DescribeRuleCommand, EventBridgeClient, ListTargetsByRuleCommand } from '@aws-sdk/client-eventbridge';
