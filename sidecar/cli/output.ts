/** Where a command writes. Commands take it as a parameter so tests can capture their output. */
export interface Output {
  /** One line (or block) to standard output. */
  out(text: string): void;
  /** One line (or block) to standard error. */
  error(text: string): void;
}

export const processOutput: Output = {
  out: (text) => process.stdout.write(`${text}\n`),
  error: (text) => process.stderr.write(`${text}\n`),
};

/** Exit codes CI can use. */
export const EXIT = { ok: 0, failures: 1, usage: 2 } as const;

/** `switchyard plan ... | head` closes the pipe early: that is the reader's choice, not an error. */
export function ignoreClosedPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw error;
    });
  }
}
