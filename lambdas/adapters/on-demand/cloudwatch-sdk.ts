// What the rotation reads from CloudWatch (the readers' stale alarm, once per rotation, at its start); imported
// with import() (on-demand-clients.ts): its own chunk, read by createSecret only, not by the other three steps.
export { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
