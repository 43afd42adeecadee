import type { UpstreamErrorDetails } from '../http.ts';
import type { OpenAIWireErrorBody, OpenAIWireErrorObject } from './api-types.ts';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fromErrorObject(error: OpenAIWireErrorObject): UpstreamErrorDetails {
  // Azure puts the useful code (`ResponsibleAIPolicyViolation`) one level down.
  const codes = [error.code, error.type, error.innererror?.code].filter((code) => typeof code === 'string' && code !== '');
  return { message: error.message ?? undefined, code: codes.length > 0 ? codes.join(' ') : undefined };
}

/**
 * Reads any compatible host's error body (see OpenAIWireErrorBody) into message and code, so the
 * shared classifier can tell quota from rate limit and context length from other 400s.
 */
export function parseOpenAICompatibleError(body: unknown): UpstreamErrorDetails {
  if (!isRecord(body)) return { message: typeof body === 'string' ? body : undefined };
  const wire = body as OpenAIWireErrorBody;
  if (typeof wire.error === 'string') return { message: wire.error };
  if (isRecord(wire.error)) return fromErrorObject(wire.error);
  if (typeof wire.message === 'string') return fromErrorObject({ message: wire.message, type: wire.type, code: wire.code });
  if (typeof wire.detail === 'string') return { message: wire.detail };
  if (Array.isArray(wire.detail)) {
    const message = wire.detail.map((item) => `${(item.loc ?? []).join('.')}: ${item.msg ?? ''}`).join('; ');
    return { message, code: wire.detail[0]?.type ?? undefined };
  }
  if (isRecord(wire.fault)) return { message: wire.fault.faultstring ?? undefined, code: wire.fault.detail?.errorcode ?? undefined };
  return {};
}
