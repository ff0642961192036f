/**
 * origin-guard operator CLI. Each command lives in cli/<command>.ts and calls the same core functions as
 * the Lambdas. Every command takes --config (else ORIGIN_GUARD_CONFIG, else ./origin-guard.config.json)
 * and --json, honours AWS_ENDPOINT_URL, and exits non-zero on failure.
 */
import { processContext, UsageError, type CliContext, type Command } from './context.ts';

const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  rotate: {
    summary: 'rotate origin-verify secrets (validators accept old+new, then senders switch)',
    load: async () => (await import('./rotate.ts')).rotateCommand,
  },
  retire: {
    summary: 'close the overlap: validators accept only the new value once senders have propagated',
    load: async () => (await import('./rotate.ts')).retireCommand,
  },
  adopt: {
    summary: 'onboarding: store the value senders send today as the secret\'s current value',
    load: async () => (await import('./rotate.ts')).adoptCommand,
  },
  status: {
    summary: 'versions, stages, senders and validators of every secret',
    load: async () => (await import('./status.ts')).statusCommand,
  },
  reconcile: {
    summary: 'make security groups admit exactly the current CDN and gateway ranges',
    load: async () => (await import('./reconcile.ts')).reconcileCommand,
  },
  audit: {
    summary: 'check WAF, CloudFront, security groups, peering, transit gateways, secrets, Konnect',
    load: async () => (await import('./audit.ts')).auditCommand,
  },
  report: {
    summary: 'write the posture page (--html): the chain per secret, group quotas, findings failures first',
    load: async () => (await import('./report.ts')).reportCommand,
  },
  demo: {
    summary: 'run the whole product against a local emulated AWS account (moto_server)',
    load: async () => (await import('./demo.ts')).demoCommand,
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  return [
    'Usage: origin-guard <command> [options]',
    '',
    'Commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Common options: --config FILE, --json, --help. Run origin-guard <command> --help for details.',
  ].join('\n');
}

export async function main(argv: string[], ctx: CliContext = processContext): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    ctx.stdout(usage());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    ctx.stderr(`origin-guard: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await (await command.load())(rest, ctx);
  } catch (error) {
    if (error instanceof UsageError) {
      ctx.stderr(`origin-guard ${name}: ${error.message}`);
      return 2;
    }
    const err = error as Error;
    ctx.stderr(`origin-guard ${name} failed: ${err.name === 'Error' ? '' : `${err.name}: `}${err.message}`);
    return 1;
  }
}

