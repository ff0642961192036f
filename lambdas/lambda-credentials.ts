/**
 * Replaces `@aws-sdk/credential-provider-node` in the Lambda bundles (an esbuild alias in lib/function.ts).
 * Lambda always puts the function's role credentials in the environment, so the rest of the Node default
 * chain (SSO, INI files, web identity, container and instance metadata, and the STS/SSO clients they need) is
 * dead code there: about 90 KB of every bundle and part of every cold start.
 */
import { fromEnv } from '@aws-sdk/credential-provider-env';

export const defaultProvider = (init: Parameters<typeof fromEnv>[0] = {}) => fromEnv(init);
