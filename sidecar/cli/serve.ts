/**
 * `switchyard serve [--config switchyard.yaml] [--port N] [--host H]`: run the gateway until
 * SIGINT/SIGTERM, then drain (requests and streams in flight finish, up to the drain deadline).
 * Exit codes: 0 after a clean shutdown, 2 when the configuration is refused.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { formatDiagnostic } from '../../engine/index.ts';
import { startServer } from '../server.ts';

function port(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65_535) throw new InvalidArgumentError('port must be an integer from 0 to 65535');
  return parsed;
}

/** Runs the server; resolves with the exit code once it stopped (or refused to start). */
export async function serve(argv: string[]): Promise<number> {
  const command = new Command('switchyard serve')
    .description('Run the Switchyard gateway.')
    .option('-c, --config <file>', 'config file (default: $SWITCHYARD_CONFIG or ./switchyard.yaml)')
    .option('-p, --port <port>', 'port to listen on (beats PORT and the config)', port)
    .option('--host <host>', 'interface to bind (beats SWITCHYARD_HOST and the config)')
    .exitOverride()
    .configureOutput({ writeOut: (text) => process.stdout.write(text), writeErr: (text) => process.stderr.write(text) });
  try {
    command.parse(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    throw error;
  }
  const options = command.opts<{ config?: string; port?: number; host?: string }>();
  const started = await startServer({
    ...(options.config !== undefined ? { configPath: options.config } : {}),
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.host !== undefined ? { host: options.host } : {}),
  });
  if (!started.ok) {
    for (const diagnostic of started.diagnostics) console.error(formatDiagnostic(diagnostic));
    console.error(`switchyard serve: refused to start (${started.diagnostics.length} problem${started.diagnostics.length === 1 ? '' : 's'})`);
    return 2;
  }
  const { gateway } = started;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      const finish = (code: number): void => {
        // Everything is drained and flushed; a forgotten handle must not keep a terminating pod alive.
        setTimeout(() => process.exit(code), 2_000).unref();
        resolve(code);
      };
      gateway.close(signal).then(
        () => finish(0),
        () => finish(1),
      );
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
