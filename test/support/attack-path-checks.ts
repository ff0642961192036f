/**
 * The checks whose failing and passing cases on the emulator live in test/integration/audit-attack-paths.test.ts
 * (that file asserts it covers exactly these); audit.test.ts counts them towards "every check is covered".
 */
export const ATTACK_PATH_CHECK_IDS = [
  'origin.any-distribution',
  'origin.vpc-origin-group',
  'origin.vpc-origin-candidate',
  'sg.broad-ingress',
  'sg.admin-ports',
  'cloudfront.logging',
  'cloudfront.viewer-tls',
  'cloudfront.s3-oac',
  'waf.default-action',
  'waf.rule-metrics',
  'waf.rules-before-origin-verify',
  'peering.dns-resolution',
  'tgw.route-tables',
  'watch.rules',
] as const;
