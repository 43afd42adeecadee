/** `POST /api/v1/plan`: the dry run. Same body as chat; returns the engine's plan; calls no provider. */
import { ROOT_CONTEXT } from '@opentelemetry/api';
import type { Request, Response } from 'express';
import type { Identity } from '../../../engine/index.ts';
import { parseChatBody } from '../chat-body.ts';
import { routeRequest, seedOf, sendError, type GatewayContext } from '../gateway-context.ts';

export function planHandler(gateway: GatewayContext) {
  return function handlePlan(request: Request, response: Response): void {
    try {
      const body = parseChatBody(request.body);
      const id = gateway.newId();
      const routed = routeRequest(gateway, body, request.headers, response.locals.identity as Identity, seedOf(id), ROOT_CONTEXT);
      if (!routed.ok) {
        sendError(gateway, response, routed.error);
        return;
      }
      response.json(routed.plan);
    } catch (error) {
      sendError(gateway, response, error);
    }
  };
}
