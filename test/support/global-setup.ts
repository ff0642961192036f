import type { TestProject } from 'vitest/node';
import { startLocalEmulator } from '../../cli/local-emulator.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    motoEndpoint: string;
  }
}

/** One moto_server for the whole run; tests isolate themselves by unique resource names. */
export default async function setup(project: TestProject) {
  const emulator = await startLocalEmulator();
  project.provide('motoEndpoint', emulator.endpoint);
  return async () => {
    await emulator.stop();
  };
}
