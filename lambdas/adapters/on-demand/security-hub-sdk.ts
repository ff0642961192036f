// What origin-guard sends to Security Hub; imported with import() (on-demand-clients.ts) so that a bundle keeps
// it in a chunk of its own, tree-shaken, read only by audits that export to Security Hub.
export { BatchImportFindingsCommand, GetFindingsCommand, SecurityHubClient } from '@aws-sdk/client-securityhub';
