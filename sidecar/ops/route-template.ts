/** Route templates for metric labels and log lines: bounded, whatever paths clients send. */

const ROUTE_TEMPLATES: Array<[RegExp, string]> = [
  [/^\/(api\/)?v1\/chat\/completions$/, '/api/v1/chat/completions'],
  [/^\/(api\/)?v1\/plan$/, '/api/v1/plan'],
  [/^\/(api\/)?v1\/generation$/, '/api/v1/generation'],
  [/^\/(api\/)?v1\/models$/, '/api/v1/models'],
  [/^\/(api\/)?v1\/models\/[^/]+\/[^/]+\/endpoints$/, '/api/v1/models/:author/:slug/endpoints'],
  [/^\/(api\/)?v1\/key$/, '/api/v1/key'],
  [/^\/api\/v1\/policy$/, '/api/v1/policy'],
  [/^\/api\/v1\/dashboard\/summary$/, '/api/v1/dashboard/summary'],
  [/^\/dashboard(\/.*)?$/, '/dashboard'],
  [/^\/(healthz|readyz|metrics)$/, ''],
];

/** Templates of the exact paths most requests use, looked up before the patterns (same answers). */
const EXACT_TEMPLATES = new Map<string, string>([
  ['/api/v1/chat/completions', '/api/v1/chat/completions'],
  ['/v1/chat/completions', '/api/v1/chat/completions'],
  ['/healthz', '/healthz'],
  ['/readyz', '/readyz'],
  ['/metrics', '/metrics'],
]);

/** The route template of a path, or `other`. */
export function routeTemplate(path: string): string {
  const exact = EXACT_TEMPLATES.get(path);
  if (exact !== undefined) return exact;
  for (const [pattern, template] of ROUTE_TEMPLATES) if (pattern.test(path)) return template === '' ? path : template;
  return 'other';
}


/** Paths the ops routes answer (probes, metrics, policy status, dashboard); the gateway app gets the rest. */
export function isOpsPath(path: string): boolean {
  return path === '/healthz' || path === '/readyz' || path === '/metrics' || path === '/api/v1/policy' || path === '/api/v1/dashboard/summary' || path === '/dashboard' || path.startsWith('/dashboard/');
}
