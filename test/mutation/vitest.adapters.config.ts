import { mutationVitestConfig } from './vitest-config.ts';

/** The target-writing adapters' mutants (stryker.adapters.json): their integration tests against moto_server. */
export default mutationVitestConfig('adapters');
