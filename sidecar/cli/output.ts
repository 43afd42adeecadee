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
