import type { Diagnostic } from '../types.ts';

/** Reads a file relative to the test file; the caller does the I/O. Null when missing. */
export type LoadText = (path: string) => { text: string; file: string } | null;

export interface PolicyTestCaseResult {
  note: string;
  passed: boolean;
  /** Where the case starts in the test file. */
  line: number;
  /** Human-readable expected vs actual, when failed. */
  failures: Array<{ what: string; expected: unknown; actual: unknown }>;
}

export interface PolicyTestReport {
  file: string;
  /** Problems loading the test file, policy or catalog (then no case ran). */
  diagnostics: Diagnostic[];
  cases: PolicyTestCaseResult[];
  coverage: { rules: Array<{ id: string; hits: number }>; constraints: Array<{ name: string; hits: number }> };
}

/** Run one `*.test.yaml` file. STUB: engine-evaluate helper replaces this. */
export function runPolicyTestFile(text: string, file: string, load: LoadText): PolicyTestReport {
  void text;
  void file;
  void load;
  throw new Error('not implemented');
}
