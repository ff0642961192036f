#!/usr/bin/env node
// npm's bin entry: load the TypeScript CLI through tsx so the installed package needs no build step.
import { register } from 'tsx/esm/api';

register();
await import('./origin-guard.ts');
