/**
 * The request body as JSON, with a size limit. A lean replacement for body-parser on the hot path:
 * no charset tables (JSON is UTF-8), one content-type check.
 *
 * Failures carry body-parser's `type` names, so `errors.ts` maps them the same way.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from './errors.ts';

/** `application/json`, `application/json; charset=utf-8`, `application/vnd.foo+json`. */
const JSON_TYPE = /^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i;

/** A body that could not be read; `type` is `entity.too.large` or `entity.parse.failed`. */
export class BodyReadError extends Error {
  override readonly name = 'BodyReadError';
  /** Marks the error as safe to describe to the client (body-parser's convention). */
  readonly expose = true;
  constructor(
    readonly type: 'entity.too.large' | 'entity.parse.failed' | 'request.aborted',
    message: string,
    readonly limit?: number,
  ) {
    super(message);
  }
}

export function readJsonBody(limitBytes: number) {
  return function readJson(request: IncomingMessage & { body?: unknown }, _response: ServerResponse, next: (error?: unknown) => void): void {
    // JSON only: a browser can send text/plain or form bodies cross-site without asking first
    // (no CORS preflight), JSON it cannot.
    const contentType = request.headers['content-type'];
    if (contentType === undefined || !JSON_TYPE.test(contentType)) {
      request.resume();
      next(new GatewayError('invalid_request', 'Send the body as JSON with `Content-Type: application/json`.', { param: 'content-type' }));
      return;
    }
    const declared = Number(request.headers['content-length']);
    if (declared > limitBytes) {
      // Do not read what will be refused; let the socket drain it.
      request.resume();
      next(new BodyReadError('entity.too.large', 'request entity too large', limitBytes));
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    let failed = false;
    request.on('data', (chunk: Buffer) => {
      if (failed) return;
      received += chunk.length;
      if (received > limitBytes) {
        failed = true;
        next(new BodyReadError('entity.too.large', 'request entity too large', limitBytes));
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => {
      if (failed) return;
      const text = chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks, received).toString('utf8');
      if (text.trim() === '') {
        request.body = undefined;
        next();
        return;
      }
      try {
        request.body = JSON.parse(text) as unknown;
      } catch (error) {
        next(new BodyReadError('entity.parse.failed', error instanceof Error ? error.message : 'invalid JSON'));
        return;
      }
      next();
    });
    request.on('error', () => {
      if (failed) return;
      failed = true;
      next(new BodyReadError('request.aborted', 'request aborted'));
    });
  };
}
