import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorResponse, GatewayError, SIDECAR_ERROR_CODES } from './errors.ts';
import type { Logger } from '../logger.ts';

function recordingLogger(): Logger & { errors: unknown[] } {
  const errors: unknown[] = [];
  const ignore = (): void => undefined;
  return { errors, debug: ignore, info: ignore, warn: ignore, error: (fields) => errors.push(fields) };
}

describe('error registry', () => {
  it('matches the README table exactly', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const table = readme.split('<!-- error-codes:start -->')[1]?.split('<!-- error-codes:end -->')[0] ?? '';
    const rows = table
      .split('\n')
      .map((line) => /^\| `([a-z_]+)` \| (\d{3}) \| (.+) \|$/.exec(line.trim()))
      .filter((match): match is RegExpExecArray => match !== null)
      .map((match) => [match[1], Number(match[2]), match[3]]);
    const registry = Object.entries(SIDECAR_ERROR_CODES).map(([code, entry]) => [code, entry.status, entry.meaning]);
    expect(rows).toEqual(registry);
  });
});

describe('errorResponse', () => {
  it('answers a GatewayError with its status, envelope and Retry-After', () => {
    const answer = errorResponse(new GatewayError('rate_limit_exceeded', 'slow down', { provider_name: 'Alpha' }, 3), recordingLogger());
    expect(answer.status).toBe(429);
    expect(answer.headers).toEqual({ 'retry-after': '3' });
    expect(answer.body).toEqual({ error: { code: 429, message: 'slow down', metadata: { error_type: 'rate_limit_exceeded', provider_name: 'Alpha' } } });
  });

  it('turns an unknown error into a generic 500 and logs it', () => {
    const logger = recordingLogger();
    const answer = errorResponse(new Error('database password is hunter2'), logger);
    expect(answer.status).toBe(500);
    expect(JSON.stringify(answer.body)).not.toContain('hunter2');
    expect(answer.body.error.metadata.error_type).toBe('server');
    expect(logger.errors).toHaveLength(1);
  });

  it('maps body-parser failures to 400 and 413', () => {
    const malformed = Object.assign(new Error('Unexpected end of JSON input'), { type: 'entity.parse.failed', expose: true, status: 400 });
    expect(errorResponse(malformed, recordingLogger()).body.error).toMatchObject({ code: 400, metadata: { error_type: 'invalid_request', param: 'body' } });
    const large = Object.assign(new Error('too large'), { type: 'entity.too.large', expose: true, status: 413, limit: 100 });
    expect(errorResponse(large, recordingLogger()).body.error).toMatchObject({ code: 413, metadata: { error_type: 'payload_too_large', limit_bytes: 100 } });
  });
});
