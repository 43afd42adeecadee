/**
 * `/dashboard`: one static page (HTML + a small vanilla script + CSS, no framework, no build)
 * that polls `GET /api/v1/dashboard/summary`. The page is public like the model list; the summary
 * (spend, generations) asks for the gateway key when keys are configured, and the page prompts for
 * it once and keeps it in the tab's sessionStorage.
 */
import { readFileSync } from 'node:fs';
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import type { CircuitState } from '../ops/circuit-breaker.ts';
import type { PolicyStatus } from '../ops/policy-reloader.ts';
import type { GenerationStore } from '../store/generation-record.ts';
import { dashboardSummary } from './summary.ts';

const ASSETS = {
  'index.html': 'text/html; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
} as const;

type AssetName = keyof typeof ASSETS;

/** Read once at start-up: the page is three small files. */
const assets = Object.fromEntries(
  (Object.keys(ASSETS) as AssetName[]).map((name) => [name, readFileSync(new URL(`./static/${name}`, import.meta.url), 'utf8')]),
) as Record<AssetName, string>;

/** Default number of generation records the summary covers. */
export const DEFAULT_SUMMARY_LIMIT = 2_000;

export interface DashboardDependencies {
  store: Pick<GenerationStore, 'list'>;
  clock: Clock;
  logger: Logger;
  policy: () => PolicyStatus | null;
  circuits?: () => Array<{ endpoint: string; state: CircuitState }>;
  /** Runs before the summary handler (the gateway's key check). */
  authenticate?: RequestHandler;
  /** Default `DEFAULT_SUMMARY_LIMIT`. */
  limit?: number;
}

function sendAsset(name: AssetName): (request: Request, response: Response) => void {
  return (_request, response) => {
    response.setHeader('Content-Type', ASSETS[name]);
    response.setHeader('Cache-Control', 'no-cache');
    response.setHeader('Content-Security-Policy', "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'");
    response.send(assets[name]);
  };
}

/** Mount at the app root: `/dashboard`, its two assets and `/api/v1/dashboard/summary`. */
export function dashboardRouter(dependencies: DashboardDependencies): Router {
  const router = express.Router();
  router.get('/dashboard', sendAsset('index.html'));
  router.get('/dashboard/dashboard.js', sendAsset('dashboard.js'));
  router.get('/dashboard/dashboard.css', sendAsset('dashboard.css'));
  const limit = dependencies.limit ?? DEFAULT_SUMMARY_LIMIT;
  const summary: RequestHandler = async (_request, response) => {
    try {
      const records = await dependencies.store.list({ limit });
      response.setHeader('Cache-Control', 'no-store');
      response.json(dashboardSummary({ records, limit, now: dependencies.clock.now(), policy: dependencies.policy(), circuits: dependencies.circuits?.() ?? [] }));
    } catch (error) {
      dependencies.logger.error({ err: error }, 'dashboard summary failed');
      response.status(503).json({ error: { code: 503, message: 'The generation log cannot be read right now.' } });
    }
  };
  if (dependencies.authenticate) router.get('/api/v1/dashboard/summary', dependencies.authenticate, summary);
  else router.get('/api/v1/dashboard/summary', summary);
  return router;
}
