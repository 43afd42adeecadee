/**
 * The `switchyard` command: `check`, `test`, `plan`, `diff` work offline on files; `serve` runs
 * the gateway (sidecar/cli/serve.ts); `keys` and `generations` work on the configured storage.
 *
 * Exit codes, for CI: 0 ok; 1 failures (failing test cases, check errors, no route, changes with
 * `--fail-on-change`); 2 usage errors or invalid input (unknown options, missing files, inputs
 * that do not load or compile). Human output by default; `--json` for machines.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { formatDiagnostic } from '../../engine/index.ts';
import type { ExportOptions, KeyCommandOptions } from './accounting-commands.ts';
import { checkCommand } from './check.ts';
import { diffCommand } from './diff.ts';
import { UsageError } from './files.ts';
import { EXIT, ignoreClosedPipes, processOutput, type Output } from './output.ts';
import { planCommand } from './plan.ts';
import { testCommand } from './test.ts';

const EXIT_CODES_HELP = `
Exit codes: 0 ok, 1 failures, 2 usage error or invalid input.`;

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function integer(name: string, minimum = 0): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < minimum) throw new InvalidArgumentError(`${name} must be an integer >= ${minimum}`);
    return parsed;
  };
}

function positiveNumber(name: string): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed < 0) throw new InvalidArgumentError(`${name} must be a number >= 0`);
    return parsed;
  };
}

function buildProgram(output: Output, setCode: (code: number) => void): Command {
  const program = new Command('switchyard')
    .description('Self-hosted, OpenRouter-compatible LLM gateway with routing policies as tested code.')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (text) => output.out(text.trimEnd()), writeErr: (text) => output.error(text.trimEnd()) })
    .addHelpText('after', EXIT_CODES_HELP);

  program
    .command('check')
    .description('Validate catalogs, policies and policy test files; print every diagnostic as file:line:col code: message (hint).')
    .argument('[paths...]', 'files or folders (default: policies/)')
    .option('--catalog <path>', 'catalog to check policies against (repeatable; default: the shipped catalogs)', collect)
    .option('--strict', 'warnings fail the check too')
    .option('--json', 'machine-readable output')
    .addHelpText('after', `${EXIT_CODES_HELP}\ncheck exits 1 when it finds an error (an invalid policy, catalog or test file), 2 only for usage errors.`)
    .action(async (paths: string[], options: { catalog?: string[]; strict?: boolean; json?: boolean }) => {
      setCode(await checkCommand(paths, options, output));
    });

  program
    .command('test')
    .description('Run *.test.yaml policy test files; print failing cases with expected vs actual and a closing "N passed, N failed".')
    .argument('[paths...]', 'test files or folders (default: policies/, else .)')
    .option('--coverage', 'report rules no case matched and constraints that never excluded a candidate')
    .option('--filter <text>', 'run only cases whose note contains <text>')
    .option('--catalog <path>', 'catalog for test files that name none (repeatable; default: the shipped catalogs)', collect)
    .option('--verbose', 'list passing cases too')
    .option('--watch', 'run again when a file changes')
    .option('--junit <file>', 'also write a JUnit XML report (for CI test views)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', `${EXIT_CODES_HELP}\ntest exits 1 when a case fails, 2 when no test file is found or one does not load.`)
    .action(async (paths: string[], options: { coverage?: boolean; filter?: string; catalog?: string[]; verbose?: boolean; watch?: boolean; junit?: string; json?: boolean }) => {
      setCode(await testCommand(paths, options, output));
    });

  program
    .command('plan')
    .description('Print the plan for one request: ordered attempts with estimated cost, exclusions, matched rules.')
    .requiredOption('--request <file>', 'OpenRouter chat body (JSON or YAML; - for standard input)')
    .option('--snapshot <file>', 'live state: endpoint health, latency, spend (JSON or YAML)')
    .option('--seed <n>', 'seed for weighted draws (default 0)', integer('--seed'))
    .option('--policy <file>', 'policy (default: policies/default.yaml)')
    .option('--catalog <path>', 'catalog (repeatable; default: the shipped catalogs)', collect)
    .option('--now <time>', 'evaluation time, ISO 8601 or epoch ms (default 2026-01-15T12:00:00Z)')
    .option('--key <id>', 'caller key id')
    .option('--user <id>', 'caller user id')
    .option('--team <id>', 'caller team id')
    .option('--header <name=value>', 'request header (repeatable)', collect)
    .option('--explain', 'add the trace: each rule checked and why, each excluded candidate and why')
    .option('--json', 'print the plan object (or the no-route error) as JSON')
    .addHelpText('after', `${EXIT_CODES_HELP}\nplan exits 1 when the request has no route, 2 when an input is invalid (including a request the gateway would reject with 400).`)
    .action(async (options: Parameters<typeof planCommand>[0]) => {
      setCode(await planCommand(options, output));
    });

  program
    .command('diff')
    .description('Replay a request sample through two policies: changed first providers, estimated cost and latency change.')
    .requiredOption('--old <policy>', 'current policy')
    .requiredOption('--new <policy>', 'proposed policy')
    .requiredOption('--requests <file>', 'JSONL: chat bodies, or generation-log records with a `request` field')
    .option('--catalog <path>', 'catalog (repeatable; default: the shipped catalogs)', collect)
    .option('--snapshot <file>', 'live state used for both policies (latency p50 per endpoint feeds the latency estimate)')
    .option('--seed <n>', 'mixed into each request seed (same seed for both policies)', integer('--seed'))
    .option('--now <time>', 'evaluation time, ISO 8601 or epoch ms')
    .option('--limit <n>', 'changed requests to list (default 20)', integer('--limit'))
    .option('--completion-tokens <n>', 'completion tokens assumed per request when unknown (default 256)', integer('--completion-tokens'))
    .option('--default-latency-ms <ms>', 'latency assumed for endpoints the snapshot has no p50 for (default 1000)', positiveNumber('--default-latency-ms'))
    .option('--fail-on-change', 'exit 1 when any request changes first provider')
    .option('--json', 'machine-readable output')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (options: Parameters<typeof diffCommand>[0]) => {
      setCode(await diffCommand(options, output));
    });

  const keys = program.command('keys').description('Gateway API keys in the configured storage (SQLite, or Postgres with DATABASE_URL): create, list, update, revoke.');
  const keyAction = (action: 'create' | 'list' | 'update' | 'revoke') => async (...parameters: unknown[]) => {
    // Commander passes the positional hash (update, revoke) before the options.
    const hash = typeof parameters[0] === 'string' ? parameters[0] : undefined;
    const options = (typeof parameters[0] === 'string' ? parameters[1] : parameters[0]) as KeyCommandOptions;
    const { keysCommand } = await import('./accounting-commands.ts');
    setCode(await keysCommand(action, hash, options, output));
  };
  keys
    .command('create')
    .description('Create a key; prints the plaintext once (it is stored only as its sha256).')
    .requiredOption('--name <name>', 'what the key is for')
    .option('--limit <usd>', 'credit limit in USD (default: none)')
    .option('--reset <period>', 'daily, weekly or monthly (UTC); default: the limit is for the key\'s lifetime')
    .option('--management', 'may call the key-management API (/api/v1/keys)')
    .option('--user <id>', 'user the key belongs to (user budgets)')
    .option('--team <id>', 'team the key belongs to (team budgets)')
    .option('--expires <time>', 'ISO 8601 expiry')
    .option('--rpm <n>', 'requests per minute for this key, or none (default: accounting.rate_limits)')
    .option('--tpm <n>', 'tokens per minute for this key, or none (default: accounting.rate_limits)')
    .option('-c, --config <file>', 'config file (default: $SWITCHYARD_CONFIG or ./switchyard.yaml)')
    .option('--json', 'machine-readable output')
    .action(keyAction('create'));
  keys
    .command('list')
    .description('List keys: hash, masked label, name, limit, own rate limits (rpm/tpm), state.')
    .option('--all', 'include revoked keys')
    .option('-c, --config <file>', 'config file')
    .option('--json', 'machine-readable output')
    .action(keyAction('list'));
  keys
    .command('update')
    .description('Change a key\'s name, limit, reset period, rate limits, expiry, or disable/enable it.')
    .argument('<hash>', 'the key\'s hash (from keys list)')
    .option('--name <name>', 'new name')
    .option('--limit <usd>', 'new credit limit in USD, or none')
    .option('--reset <period>', 'daily, weekly, monthly or none')
    .option('--expires <time>', 'ISO 8601 expiry, or none')
    .option('--rpm <n>', 'requests per minute for this key, none, or default (back to accounting.rate_limits)')
    .option('--tpm <n>', 'tokens per minute for this key, none, or default (back to accounting.rate_limits)')
    .option('--disable', 'refuse the key until enabled')
    .option('--enable', 'accept the key again')
    .option('-c, --config <file>', 'config file')
    .option('--json', 'machine-readable output')
    .action(keyAction('update'));
  keys
    .command('revoke')
    .description('Revoke a key for good.')
    .argument('<hash>', 'the key\'s hash (from keys list)')
    .option('-c, --config <file>', 'config file')
    .option('--json', 'machine-readable output')
    .action(keyAction('revoke'));

  program
    .command('generations')
    .description('The generation log in the configured storage.')
    .command('export')
    .description('Write generation records as JSONL to standard output (input of `switchyard diff --requests`).')
    .option('--since <time>', 'first record time, inclusive (ISO 8601)')
    .option('--until <time>', 'end time, exclusive (ISO 8601)')
    .option('-c, --config <file>', 'config file')
    .action(async (options: ExportOptions) => {
      const { exportGenerationsCommand } = await import('./accounting-commands.ts');
      setCode(await exportGenerationsCommand(options, process.stdout, output));
    });

  program
    .command('serve')
    .description('Run the gateway (options: switchyard serve --help).')
    .argument('[args...]', 'passed to the server')
    .helpOption(false)
    .allowUnknownOption()
    .action(async (args: string[]) => {
      // Loaded only when serving, so the offline commands never pull in the server's dependencies.
      const { serve } = await import('./serve.ts');
      setCode(await serve(args));
    });

  return program;
}

/** Run the command line; resolves to the exit code. */
export async function main(argv: readonly string[], output: Output = processOutput): Promise<number> {
  let code: number = EXIT.ok;
  if (output === processOutput) ignoreClosedPipes();
  const program = buildProgram(output, (value) => {
    code = value;
  });
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return EXIT.usage;
    }
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.help' || error.code === 'commander.version' ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof UsageError) {
      output.error(`switchyard: ${error.message}`);
      for (const diagnostic of error.diagnostics) output.error(formatDiagnostic(diagnostic));
      return EXIT.usage;
    }
    output.error(`switchyard: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return EXIT.failures;
  }
}
