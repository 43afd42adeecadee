/** `POST /api/v1/plan`: the dry run. Same body as chat; returns the engine's plan (budget spend included); calls no provider. */
import { ROOT_CONTEXT } from '@opentelemetry/api';
import type { Request, Response } from 'express';
import type { Identity } from '../../../engine/index.ts';
import { parseChatBody } from '../chat-body.ts';
import { routeRequest, seedOf, sendError, type GatewayContext } from '../gateway-context.ts';
import { gatewayFor } from '../route-catalog.ts';

export function planHandler(fullGateway: GatewayContext) {
  // A chat body, so the plan is the chat route's: text models only.
  const gateway = gatewayFor(fullGateway, 'text');
  return async function handlePlan(request: Request, response: Response): Promise<void> {
    try {
      const body = parseChatBody(request.body);
      const id = gateway.newId();
      const identity = response.locals.identity as Identity;
      // With accounting on, the plan sees the budget spend the request would see.
      const routed = gateway.accounting
        ? await gateway.accounting.route(gateway, body, request.headers, identity, seedOf(id), ROOT_CONTEXT)
        : routeRequest(gateway, body, request.headers, identity, seedOf(id), ROOT_CONTEXT);
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
