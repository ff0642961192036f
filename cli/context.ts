/** What a CLI command needs from the process; tests pass their own to capture output. */
export interface CliContext {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** Whether stderr is a terminal (progress indicators redraw in place only then). */
  interactive: boolean;
}

export const processContext: CliContext = {
  stdout: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  stderr: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  env: process.env,
  interactive: Boolean(process.stderr.isTTY),
};

/** A command: takes its own arguments (after the command name), returns the exit code. */
export type Command = (argv: string[], ctx: CliContext) => Promise<number>;

/** Thrown for bad flags; the dispatcher prints it with the command's usage and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
