import { mutationVitestConfig } from './vitest-config.ts';

/** The core's mutants (stryker.config.json): unit tests only. */
export default mutationVitestConfig('unit');
