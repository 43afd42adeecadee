/**
 * A loopback HTTP server that plays a scripted sequence of upstream behaviours, one step per call:
 * JSON bodies, error statuses with headers, SSE streams rebuilt from `*.chunks.txt` fixtures,
 * delays, connection resets, mid-stream cuts and hangs. It records every call and notices when
 * the client closed the socket (abort tests). The wire framing of streams is the only thing that
 * differs per protocol (see fake-openai.ts, fake-anthropic.ts, fake-gemini.ts).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { readFileSync } from 'node:fs';

/** Reply with a JSON (or raw text) body. */
export interface JsonStep {
  status?: number;
  /** Serialised as JSON unless it is a string, which is sent verbatim. */
  body: unknown;
  headers?: Record<string, string>;
  /** Wait before sending headers, ms. */
  delayMs?: number;
}

/** Reply with an SSE stream. */
export interface StreamStep {
  status?: number;
  /** One entry per event, as in `*.chunks.txt`: JSON text (framed per protocol), `: comment`, or `#raw <text>` sent verbatim. */
  stream: string[];
  headers?: Record<string, string>;
  delayMs?: number;
  /** Pause between events, ms. */
  chunkDelayMs?: number;
  /** `\r\n` to test CRLF framing. Default `\n`. */
  lineEnding?: '\n' | '\r\n';
  /** Destroy the socket after this many events (a mid-stream cut). */
  cutAfter?: number;
  /** Stop writing after this many events but keep the socket open. */
  hangAfter?: number;
  /** Send the protocol's terminator (OpenAI `[DONE]`). Default true. */
  terminator?: boolean;
}

/** Destroy the connection without a response (connection reset before the first byte). */
export interface ResetStep {
  reset: true;
  delayMs?: number;
}

/** Accept the request and never answer (first-byte timeout tests). */
export interface HangStep {
  hang: true;
}

export type FakeStep = JsonStep | StreamStep | ResetStep | HangStep;

/** One request the fake received. */
export interface FakeCall {
  /** 0-based call number. */
  index: number;
  method: string;
  /** Path and query string. */
  url: string;
  headers: IncomingMessage['headers'];
  /** Parsed JSON body (undefined if it was not JSON). */
  body: unknown;
  /** True once the response was fully written. */
  completed: boolean;
  /** True if the client closed the connection before the response was complete. */
  closedEarly: boolean;
  /** Resolves when the response is over, completed or closed early. */
  ended: Promise<void>;
}

/** Per-call steps: an array (the last step repeats) or a function of the call. */
export type FakeScript = FakeStep[] | ((call: FakeCall) => FakeStep);

/** How a protocol frames stream events on the wire. */
export interface StreamFraming {
  /** Turn one fixture line into SSE text (without the trailing blank line). */
  event: (line: string) => string;
  /** Text written after the last event when `terminator` is not false. */
  terminator?: string;
  /** Default line ending (Gemini uses CRLF in practice). */
  lineEnding?: '\n' | '\r\n';
}

/** A running fake. */
export interface FakeUpstream {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  calls: FakeCall[];
  /** Replace the script (resets nothing else). */
  setScript: (script: FakeScript) => void;
  close: () => Promise<void>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function stepFor(script: FakeScript, call: FakeCall): FakeStep {
  if (typeof script === 'function') return script(call);
  const step = script[Math.min(call.index, script.length - 1)];
  if (step === undefined) throw new Error('fake upstream: empty script');
  return step;
}

function frameLine(line: string, framing: StreamFraming, ending: string): string {
  if (line.startsWith('#raw ')) return `${line.slice(5)}${ending}`;
  if (line.startsWith(':')) return `${line}${ending}${ending}`;
  return `${framing.event(line).split('\n').join(ending)}${ending}${ending}`;
}

/** Lets written events reach the client, then drops the connection without ending the response. */
async function cut(socket: Socket): Promise<void> {
  await sleep(20);
  socket.destroy();
}

async function playStream(step: StreamStep, framing: StreamFraming, response: ServerResponse, socket: Socket): Promise<boolean> {
  const ending = step.lineEnding ?? framing.lineEnding ?? '\n';
  response.writeHead(step.status ?? 200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...step.headers });
  response.flushHeaders();
  for (let index = 0; index < step.stream.length; index += 1) {
    if (step.cutAfter !== undefined && index >= step.cutAfter) {
      await cut(socket);
      return false;
    }
    if (step.hangAfter !== undefined && index >= step.hangAfter) return false;
    if (response.destroyed) return false;
    response.write(frameLine(step.stream[index] as string, framing, ending));
    if (step.chunkDelayMs !== undefined && step.chunkDelayMs > 0) await sleep(step.chunkDelayMs);
  }
  if (step.cutAfter !== undefined && step.cutAfter <= step.stream.length) {
    await cut(socket);
    return false;
  }
  if (step.hangAfter !== undefined) return false;
  if (step.terminator !== false && framing.terminator !== undefined) response.write(frameLine(framing.terminator, framing, ending));
  response.end();
  return true;
}

/** Starts a fake on 127.0.0.1, port 0. */
export async function startFakeUpstream(init: { script: FakeScript; framing: StreamFraming }): Promise<FakeUpstream> {
  let script = init.script;
  const calls: FakeCall[] = [];
  const sockets = new Set<Socket>();

  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text === '' ? undefined : (JSON.parse(text) as unknown);
      } catch {
        body = undefined;
      }
      let markEnded: () => void = () => undefined;
      const call: FakeCall = {
        index: calls.length,
        method: request.method ?? 'GET',
        url: request.url ?? '/',
        headers: request.headers,
        body,
        completed: false,
        closedEarly: false,
        ended: new Promise<void>((resolve) => {
          markEnded = resolve;
        }),
      };
      calls.push(call);
      response.on('close', () => {
        if (!response.writableFinished) call.closedEarly = true;
        markEnded();
      });
      void play(stepFor(script, call), call, request, response).catch(() => {
        request.socket.destroy();
      });
    });
  });

  async function play(step: FakeStep, call: FakeCall, request: IncomingMessage, response: ServerResponse): Promise<void> {
    if ('hang' in step) return;
    if (step.delayMs !== undefined && step.delayMs > 0) await sleep(step.delayMs);
    if ('reset' in step) {
      request.socket.resetAndDestroy();
      return;
    }
    if ('stream' in step) {
      call.completed = await playStream(step, init.framing, response, request.socket);
      return;
    }
    const payload = typeof step.body === 'string' ? step.body : JSON.stringify(step.body);
    response.writeHead(step.status ?? 200, { 'content-type': 'application/json', ...step.headers });
    response.end(payload);
    call.completed = true;
  }

  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    setScript: (next) => {
      script = next;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Reads a `*.chunks.txt` fixture: one event per non-empty line. */
export function loadChunks(fileUrl: URL): string[] {
  return readFileSync(fileUrl, 'utf8')
    .split('\n')
    .map((line) => line.replace(/\r$/, ''))
    .filter((line) => line.trim() !== '');
}

/** Reads a JSON fixture. */
export function loadJson(fileUrl: URL): unknown {
  return JSON.parse(readFileSync(fileUrl, 'utf8')) as unknown;
}
