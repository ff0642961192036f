import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

/** SDK client settings that point at the run's moto_server (started by test/support/global-setup.ts). */
export function emulatorClientConfig(region = 'eu-west-1') {
  return {
    endpoint: inject('motoEndpoint'),
    region,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 3,
  };
}

export function motoEndpoint(): string {
  return inject('motoEndpoint');
}

/** A name no other test in this run uses (moto is shared by the whole run). */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}
