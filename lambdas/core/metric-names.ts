/**
 * The CloudWatch metrics the handlers emit (Powertools Metrics, EMF) and the stack's dashboard and alarms
 * read: one namespace, one dimension (`service`, the function). Shared so that a renamed metric breaks the
 * CDK test rather than silently emptying a graph.
 */
export const METRICS_NAMESPACE = 'OriginGuard';

/** The `service` dimension of each function (Powertools' serviceName, also the Logger's). */
export const METRIC_SERVICE = {
  audit: 'origin-guard-audit',
  reconcile: 'origin-guard-reconcile',
  rotation: 'origin-guard-rotation',
  retire: 'origin-guard-retire',
} as const;

export const METRIC = {
  // audit
  findingsFailed: 'FindingsFailed',
  findingsFailedCritical: 'FindingsFailedCritical',
  findingsFailedHigh: 'FindingsFailedHigh',
  findingsFailedMedium: 'FindingsFailedMedium',
  findingsFailedLow: 'FindingsFailedLow',
  alertsSent: 'AlertsSent',
  alertsNotSent: 'AlertsNotSent',
  // reconcile
  rulesAdded: 'RulesAdded',
  rulesRemoved: 'RulesRemoved',
  targetsHeld: 'TargetsHeld',
  targetsFailed: 'TargetsFailed',
  // rotation and retire
  rotationStepDuration: 'RotationStepDuration',
  rotationStepsFailed: 'RotationStepsFailed',
  rotationsCompleted: 'RotationsCompleted',
  overlapsClosed: 'OverlapsClosed',
  overlapsWaiting: 'OverlapsWaiting',
  retireFailed: 'RetireFailed',
} as const;
