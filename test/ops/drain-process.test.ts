/**
 * Drain of the real server process: `node bin/switchyard.mjs serve` with slow simulated streams,
 * 100 streams open, SIGTERM. Every stream completes with `[DONE]`, new connections are refused
 * while draining, and the process exits 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { opsFixture, REPOSITORY } from './support/ops-fixture.ts';

const STREAMS = 100;
// ~3 s per stream: 100 ms to the first token, then 32 tokens at 10 per second.
const SLOW = '{ latency_ms: 100, latency_jitter_ms: 0, tokens_per_second: 10, response_tokens: 32 }';
const fixture = opsFixture({ providerOptions: { 'sim-fast': SLOW, 'sim-cheap': SLOW, 'sim-eu': SLOW }, extraConfig: '' });
let child: ChildProcess | undefined;

afterAll(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  fixture.remove();
});

/** Start the server; resolves with its URL from the start-up log line. */
function startProcess(): Promise<{ process: ChildProcess; url: string; output: () => string }> {
  return new Promise((resolve, reject) => {
    const started = spawn(process.execPath, [join(REPOSITORY, 'bin/switchyard.mjs'), 'serve', '--config', fixture.configPath, '--port', '0'], {
      cwd: fixture.directory,
      env: { PATH: process.env.PATH ?? '', SWITCHYARD_LOG_LEVEL: 'info', SWITCHYARD_DRAIN_TIMEOUT_MS: '20000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /"url":"(http:\/\/[^"]+)"/.exec(output);
      if (match) resolve({ process: started, url: match[1]!, output: () => output });
    };
    started.stdout.on('data', onData);
    started.stderr.on('data', (chunk: Buffer) => void (output += chunk.toString()));
    started.once('exit', (code) => reject(new Error(`server exited (${code}) before listening:\n${output}`)));
    setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 30_000).unref();
  });
}

/** Opens one stream; resolves when its first content chunk arrived, with the promise of the whole body. */
async function openStream(url: string, index: number): Promise<{ body: Promise<string> }> {
  const reply = await fetch(`${url}/api/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: `Stream #${index}` }], stream: true }),
  });
  if (reply.status !== 200 || !reply.body) throw new Error(`stream ${index}: status ${reply.status}`);
  const reader = reply.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!text.includes('"content"')) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ${index} ended before its first chunk`);
    text += decoder.decode(value, { stream: true });
  }
  const body = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return text;
      text += decoder.decode(value, { stream: true });
    }
  })();
  return { body };
}

describe('drain on SIGTERM', () => {
  it(`lets ${STREAMS} open streams finish with [DONE] and exits 0`, async () => {
    const server = await startProcess();
    child = server.process;
    const exited = new Promise<number | null>((resolve) => server.process.once('exit', (code) => resolve(code)));

    const streams = await Promise.all(Array.from({ length: STREAMS }, (_, index) => openStream(server.url, index)));
    const signalledAt = Date.now();
    server.process.kill('SIGTERM');
    // Draining: no new connections.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();

    const bodies = await Promise.all(streams.map((stream) => stream.body));
    const code = await exited;
    const complete = bodies.filter((body) => body.trimEnd().endsWith('data: [DONE]') && body.includes('"finish_reason":"stop"'));
    expect(complete).toHaveLength(STREAMS);
    expect(code).toBe(0);
    // It waited for the streams (about 3 s each) rather than cutting them.
    expect(Date.now() - signalledAt).toBeGreaterThan(1_000);
    expect(server.output()).toMatch(/"msg":"drained"/);
    expect(server.output()).toMatch(/"cut":0/);
  }, 60_000);
});
