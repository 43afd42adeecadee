/** `GET /api/v1/generation?id=`: one generation record as `{data}`. */
import type { Request, Response } from 'express';
import { GatewayError } from '../errors.ts';
import { sendError, type GatewayContext } from '../gateway-context.ts';

export function generationHandler(gateway: GatewayContext) {
  return async function handleGeneration(request: Request, response: Response): Promise<void> {
    const id = request.query.id;
    if (typeof id !== 'string' || id === '') {
      sendError(gateway, response, new GatewayError('invalid_request', "Query parameter 'id' is required.", { param: 'id' }));
      return;
    }
    try {
      const record = await gateway.store.get(id);
      if (!record) {
        sendError(gateway, response, new GatewayError('not_found', `Generation '${id}' not found.`, { id }));
        return;
      }
      response.json({ data: record });
    } catch (error) {
      sendError(gateway, response, error);
    }
  };
}
