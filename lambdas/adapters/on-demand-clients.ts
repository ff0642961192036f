/**
 * SDK clients a function needs only for some configurations or some runs: for the audit Security Hub
 * (`audit.securityHub`), Elastic Load Balancing (origins given by `loadBalancerArns`) and EventBridge
 * (origin-guard's own rules, read by full audits only); for the rotation CloudWatch (the readers' stale alarm,
 * read by createSecret only). Loaded on first use, so that a cold start neither reads nor evaluates them; the
 * Lambda bundle keeps each in a chunk of its own (lib/function.ts splits at import()), tree-shaken to the
 * commands of on-demand/*.ts. The loaded class is given to `clients` (and so to every account-region's clients).
 */
import type { AwsClients } from './aws-clients.ts';

export async function securityHubSdk(clients: AwsClients) {
  const sdk = await import('./on-demand/security-hub-sdk.ts');
  clients.provide('SecurityHubClient', sdk.SecurityHubClient);
  return sdk;
}

export async function elbv2Sdk(clients: AwsClients) {
  const sdk = await import('./on-demand/elbv2-sdk.ts');
  clients.provide('ElasticLoadBalancingV2Client', sdk.ElasticLoadBalancingV2Client);
  return sdk;
}

export async function eventBridgeSdk(clients: AwsClients) {
  const sdk = await import('./on-demand/eventbridge-sdk.ts');
  clients.provide('EventBridgeClient', sdk.EventBridgeClient);
  return sdk;
}

export async function cloudWatchSdk(clients: AwsClients) {
  const sdk = await import('./on-demand/cloudwatch-sdk.ts');
  clients.provide('CloudWatchClient', sdk.CloudWatchClient);
  return sdk;
}
