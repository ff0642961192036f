// What the audit sends to Elastic Load Balancing (origins given by their load balancers); imported with
// import() (on-demand-clients.ts): its own chunk, read only when an origin names a load balancer.
export { DescribeLoadBalancersCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
