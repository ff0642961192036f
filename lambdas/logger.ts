import { Logger } from '@aws-lambda-powertools/logger';

/**
 * One structured JSON logger per process. Log fingerprints, never secret values: the rotation core only
 * ever hands fingerprints to the logger, and a test captures a whole rotation's output to prove it.
 */
export function createLogger(serviceName: string): Logger {
  return new Logger({ serviceName, logLevel: (process.env.POWERTOOLS_LOG_LEVEL as 'INFO' | undefined) ?? 'INFO' });
}
