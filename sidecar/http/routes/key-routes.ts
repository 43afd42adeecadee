/**
 * Keys over HTTP, in OpenRouter's shapes:
 * - `GET /api/v1/key` (and the legacy `/api/v1/auth/key`): the calling key's usage, limit,
 *   remaining and reset period, and the rate limits that apply to it; `GET /api/v1/credits`: its
 *   limit and usage.
 * - `/api/v1/keys` (management key only): `GET` list, `POST` create (the plaintext is in that
 *   answer and nowhere else, ever), `GET|PATCH|DELETE /keys/:hash`. A key's own `rate_limit`
 *   is set on create and merged kind by kind on PATCH (`rate_limit: null` = the config defaults).
 */
import type { Request, Response } from 'express';
import { Router } from 'express';
import type { Identity } from '../../../engine/index.ts';
import { decimalToNumber } from '../../accounting/decimal.ts';
import { isLimitReset } from '../../accounting/periods.ts';
import { keyUsage, type CostSummer } from '../../store/key-usage.ts';
import { keyInfo, type ApiKeyRecord, type CreateKeyInput, type KeyRateLimit, type KeyStore, type UpdateKeyInput } from '../../store/keys.ts';
import { GatewayError } from '../errors.ts';
import { sendError, type GatewayContext } from '../gateway-context.ts';
import type { StoredKeyVerifier } from '../stored-keys.ts';

/** What the key routes need beyond the gateway context. */
export interface KeyRoutesDependencies {
  store: KeyStore;
  verifier: StoredKeyVerifier;
  /** Spend per key from the generation log. */
  usage: CostSummer;
}

/** A config key (`gateway_keys`) as `/key` shows it: no limit, named by its config name. */
function configKeyRecord(identity: Identity): ApiKeyRecord {
  const name = identity.key ?? 'anonymous';
  return {
    hash: name,
    name,
    label: name,
    limit: null,
    limit_reset: null,
    is_management_key: false,
    disabled: false,
    user: identity.user ?? null,
    team: identity.team ?? null,
    created_at: new Date(0).toISOString(),
    updated_at: new Date(0).toISOString(),
    expires_at: null,
    revoked_at: null,
    rate_limit: null,
  };
}

function optionalString(body: Record<string, unknown>, field: string): string | null | undefined {
  const value = body[field];
  if (value === undefined || value === null) return value;
  if (typeof value === 'number' && field === 'limit') return String(value);
  if (typeof value !== 'string') throw new GatewayError('invalid_request', `'${field}' must be a string.`, { param: field });
  return value;
}

function limitReset(body: Record<string, unknown>): CreateKeyInput['limit_reset'] {
  const value = body.limit_reset;
  if (value === undefined || value === null) return value;
  if (!isLimitReset(value)) throw new GatewayError('invalid_request', "'limit_reset' must be daily, weekly, monthly or null.", { param: 'limit_reset' });
  return value;
}

const RATE_KINDS = new Set(['requests_per_minute', 'tokens_per_minute']);

/** `rate_limit`: absent, null (the config defaults), or `{requests_per_minute?, tokens_per_minute?}` of positive whole numbers or null. */
function rateLimit(body: Record<string, unknown>): KeyRateLimit | null | undefined {
  const value = body.rate_limit;
  if (value === undefined || value === null) return value;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new GatewayError('invalid_request', "'rate_limit' must be an object {requests_per_minute, tokens_per_minute} or null.", { param: 'rate_limit' });
  }
  const result: KeyRateLimit = {};
  for (const [kind, limit] of Object.entries(value as Record<string, unknown>)) {
    if (!RATE_KINDS.has(kind)) throw new GatewayError('invalid_request', `'rate_limit' has no field '${kind}' (requests_per_minute, tokens_per_minute).`, { param: `rate_limit.${kind}` });
    if (limit !== null && (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1)) {
      throw new GatewayError('invalid_request', `'rate_limit.${kind}' must be a positive whole number, or null for no limit.`, { param: `rate_limit.${kind}` });
    }
    result[kind as keyof KeyRateLimit] = limit;
  }
  return result;
}

function bodyOf(request: Request): Record<string, unknown> {
  const body: unknown = request.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new GatewayError('invalid_request', 'The body must be a JSON object.', { param: 'body' });
  return body as Record<string, unknown>;
}

/** Validation errors of the key store (bad limit, empty name) as 400s. */
function asClientError(error: unknown): unknown {
  if (error instanceof RangeError || error instanceof TypeError) return new GatewayError('invalid_request', error.message);
  return error;
}

/**
 * The handlers throw or reject with `GatewayError`s (and store errors); Express 5 passes a rejected
 * handler to the app's error handler, which answers it in the OpenRouter envelope.
 */
export function keyRoutes(gateway: GatewayContext, dependencies: KeyRoutesDependencies): Router {
  const router = Router();
  const { store, verifier, usage } = dependencies;
  const now = (): Date => new Date(gateway.clock.now());

  async function describe(identity: Identity) {
    const record = verifier.storedKeyOf(identity) ?? configKeyRecord(identity);
    return { record, usage: await keyUsage(usage, record.hash, now()) };
  }

  const currentKey = async (_request: Request, response: Response): Promise<void> => {
    const { record, usage: spent } = await describe(response.locals.identity as Identity);
    response.json({ data: keyInfo(record, spent, gateway.accounting?.rateLimitDefaults) });
  };
  router.get('/key', currentKey);
  router.get('/auth/key', currentKey);
  router.get('/credits', async (_request: Request, response: Response) => {
    const { record, usage: spent } = await describe(response.locals.identity as Identity);
    response.json({ data: { total_credits: record.limit === null ? null : decimalToNumber(record.limit), total_usage: decimalToNumber(spent.usage) } });
  });

  const management = Router();
  management.use((_request: Request, response: Response, next) => {
    const record = verifier.storedKeyOf(response.locals.identity as Identity);
    if (!record?.is_management_key) {
      sendError(gateway, response, new GatewayError('management_key_required', 'This route needs a management key.'));
      return;
    }
    next();
  });
  management.get('/', async (request: Request, response: Response) => {
    const keys = await store.list({ includeRevoked: request.query.include_revoked === 'true' });
    response.json({ data: keys });
  });
  management.post('/', async (request: Request, response: Response) => {
    const body = bodyOf(request);
    const name = body.name;
    if (typeof name !== 'string' || name.trim() === '') throw new GatewayError('invalid_request', "'name' is required.", { param: 'name' });
    if (body.is_management_key !== undefined && typeof body.is_management_key !== 'boolean') throw new GatewayError('invalid_request', "'is_management_key' must be a boolean.", { param: 'is_management_key' });
    const created = await store
      .create(
        {
          name,
          limit: optionalString(body, 'limit'),
          limit_reset: limitReset(body),
          is_management_key: body.is_management_key === true,
          user: optionalString(body, 'user'),
          team: optionalString(body, 'team'),
          expires_at: optionalString(body, 'expires_at'),
          rate_limit: rateLimit(body),
        },
        now(),
      )
      .catch((error: unknown) => Promise.reject(asClientError(error)));
    await verifier.refresh();
    response.status(201).json({ data: created.record, key: created.key });
  });
  management.get('/:hash', async (request: Request, response: Response) => {
    const record = await store.get(String(request.params.hash));
    if (!record) throw new GatewayError('not_found', `Key '${String(request.params.hash)}' not found.`);
    response.json({ data: record });
  });
  management.patch('/:hash', async (request: Request, response: Response) => {
    const body = bodyOf(request);
    const patch: UpdateKeyInput = {};
    if (typeof body.name === 'string') patch.name = body.name;
    const limit = optionalString(body, 'limit');
    if (limit !== undefined) patch.limit = limit;
    const reset = limitReset(body);
    if (reset !== undefined) patch.limit_reset = reset;
    if (typeof body.disabled === 'boolean') patch.disabled = body.disabled;
    const expires = optionalString(body, 'expires_at');
    if (expires !== undefined) patch.expires_at = expires;
    const rates = rateLimit(body);
    if (rates !== undefined) patch.rate_limit = rates;
    const record = await store.update(String(request.params.hash), patch, now()).catch((error: unknown) => Promise.reject(asClientError(error)));
    if (!record) throw new GatewayError('not_found', `Key '${String(request.params.hash)}' not found.`);
    await verifier.refresh();
    response.json({ data: record });
  });
  management.delete('/:hash', async (request: Request, response: Response) => {
    const revoked = await store.revoke(String(request.params.hash), now());
    if (!revoked) throw new GatewayError('not_found', `Key '${String(request.params.hash)}' not found.`);
    await verifier.refresh();
    response.json({ deleted: true });
  });
  router.use('/keys', management);
  return router;
}
