/**
 * zod/mini (used by the Lambdas: ~60 KB smaller than classic zod) loads no language, so every built-in
 * message would read "Invalid input". Import this module for its effect: English messages, as classic zod
 * has them, unless a language is already configured.
 */
import { config } from 'zod/mini';
import { en } from 'zod/locales';

if (!config().localeError) config(en());
