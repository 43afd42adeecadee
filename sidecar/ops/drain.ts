/**
 * Graceful drain and the probes that go with it.
 *
 * On SIGTERM (Kubernetes: after the preStop hook): `/readyz` answers 503 at once, the listener
 * stops accepting (`server.close()`; idle keep-alive sockets are closed, responses in flight get
 * `Connection: close`), requests and streams in flight run to their end, up to a deadline; then
 * whatever is still open is cut, the generation log is flushed and the process may exit 0.
 *
 * Kubernetes sizing: terminationGracePeriodSeconds >= preStop sleep + drain deadline + a few
 * seconds for the flush (deploy/README.md).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Request, Response } from 'express';
import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';

/** Default deadline for in-flight work once draining starts. */
export const DEFAULT_DRAIN_DEADLINE_MS = 25_000;

/** What a drain did. */
export interface DrainReport {
  /** Requests in flight when draining started. */
  inFlightAtStart: number;
  /** Requests still open at the deadline, cut. */
  cut: number;
  durationMs: number;
  /** Error from the flush, if any (the drain still completes). */
  flushError: string | null;
}

export interface DrainOptions {
  clock: Clock;
  logger: Logger;
  /** Default `DEFAULT_DRAIN_DEADLINE_MS`. */
  deadlineMs?: number;
  /** Runs after in-flight work ended (or was cut): flush and close the generation log, tracing... */
  flush?: () => Promise<void>;
}

export class Drainer {
  readonly #options: DrainOptions;
  #server: Server | undefined;
  #inFlight = 0;
  #draining = false;
  #idle: Array<() => void> = [];
  #drained: Promise<DrainReport> | null = null;

  constructor(options: DrainOptions) {
    this.#options = options;
  }

  /** The HTTP server to stop accepting on when draining. */
  attach(server: Server): void {
    this.#server = server;
  }

  get draining(): boolean {
    return this.#draining;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Count one request until its response closes (streams included). Plain Node objects. */
  observe(response: ServerResponse): void {
    this.arrived(response);
    response.once('close', () => this.left());
  }

  /**
   * Count one request in (`observe` without the listener): pair it with exactly one `left()` when
   * its response closes. For a listener that already follows the response.
   */
  arrived(response: ServerResponse): void {
    this.#inFlight++;
    if (this.#draining) response.setHeader('Connection', 'close');
  }

  /** One counted request ended. */
  left(): void {
    this.#inFlight--;
    // While draining, a keep-alive connection freed by a response that began before the drain would
    // otherwise take one more request; closed as soon as it is idle (its response's 'close' comes after).
    if (this.#draining) this.#server?.closeIdleConnections();
    if (this.#inFlight === 0 && this.#idle.length > 0) for (const resolve of this.#idle.splice(0)) resolve();
  }

  /** Express middleware form of `observe`. */
  readonly track = (_request: IncomingMessage, response: ServerResponse, next: () => void): void => {
    this.observe(response);
    next();
  };

  /** Start draining (idempotent: later calls get the same report). */
  drain(reason = 'SIGTERM'): Promise<DrainReport> {
    this.#drained ??= this.#drain(reason);
    return this.#drained;
  }

  async #drain(reason: string): Promise<DrainReport> {
    const { clock, logger } = this.#options;
    const deadlineMs = this.#options.deadlineMs ?? DEFAULT_DRAIN_DEADLINE_MS;
    const startedAt = clock.monotonic();
    this.#draining = true;
    const inFlightAtStart = this.#inFlight;
    logger.info({ reason, in_flight: inFlightAtStart, deadline_ms: deadlineMs }, 'draining: readiness off, no new connections, waiting for requests in flight');
    const server = this.#server;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    server?.closeIdleConnections();

    let timer: NodeJS.Timeout | undefined;
    const idle = this.#inFlight === 0 ? Promise.resolve('idle' as const) : new Promise<'idle'>((resolve) => this.#idle.push(() => resolve('idle')));
    const outcome = await Promise.race([idle, new Promise<'deadline'>((resolve) => (timer = setTimeout(() => resolve('deadline'), deadlineMs)))]);
    clearTimeout(timer);
    const cut = outcome === 'deadline' ? this.#inFlight : 0;
    if (cut > 0) {
      logger.warn({ cut, deadline_ms: deadlineMs }, 'drain deadline reached: closing the connections still open');
      server?.closeAllConnections();
    } else {
      // Keep-alive sockets that became idle while we waited.
      server?.closeIdleConnections();
    }
    await closed;

    let flushError: string | null = null;
    try {
      await this.#options.flush?.();
    } catch (error) {
      flushError = (error as Error).message;
      logger.error({ err: error }, 'flushing on shutdown failed');
    }
    const report: DrainReport = { inFlightAtStart, cut, durationMs: Math.round(clock.monotonic() - startedAt), flushError };
    logger.info({ in_flight_at_start: report.inFlightAtStart, cut: report.cut, duration_ms: report.durationMs, flush_error: report.flushError }, 'drained');
    return report;
  }
}

/** One dependency `/readyz` checks (policy loaded, storage reachable, ...). */
export interface ReadinessCheck {
  name: string;
  /** Resolves ok, or not ok with a reason; a throw counts as not ok. */
  check(): Promise<{ ok: boolean; detail?: string }> | { ok: boolean; detail?: string };
}

/** Longest a single readiness check may take before it counts as failing. */
export const READINESS_CHECK_TIMEOUT_MS = 800;

/** `GET /healthz`: the process is alive and its event loop turns. Never checks dependencies. */
export function healthzHandler(): (request: Request, response: Response) => void {
  return (_request, response) => {
    response.setHeader('Cache-Control', 'no-store');
    response.json({ status: 'ok' });
  };
}

async function runCheck(check: ReadinessCheck): Promise<{ name: string; ok: boolean; detail?: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<{ ok: boolean; detail: string }>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${READINESS_CHECK_TIMEOUT_MS} ms` }), READINESS_CHECK_TIMEOUT_MS);
    });
    const result = await Promise.race([Promise.resolve(check.check()), timeout]);
    return { name: check.name, ok: result.ok, ...(result.detail === undefined ? {} : { detail: result.detail }) };
  } catch (error) {
    return { name: check.name, ok: false, detail: (error as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `GET /readyz`: 200 when every check passes and the process is not draining; 503 otherwise, with
 * the failing checks in the body. A rejected policy reload does not fail readiness (the last good
 * version serves; failing the whole fleet on a bad ConfigMap would be worse).
 */
export function readyzHandler(checks: readonly ReadinessCheck[], drainer: Pick<Drainer, 'draining'>): (request: Request, response: Response) => Promise<void> {
  return async (_request, response) => {
    response.setHeader('Cache-Control', 'no-store');
    if (drainer.draining) {
      response.status(503).json({ status: 'draining', checks: [] });
      return;
    }
    const results = await Promise.all(checks.map(runCheck));
    const failing = results.filter((result) => !result.ok);
    response.status(failing.length === 0 ? 200 : 503).json({ status: failing.length === 0 ? 'ready' : 'not_ready', checks: results, failing: failing.map((result) => result.name) });
  };
}
