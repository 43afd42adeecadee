/** deploy/grafana-dashboard.json queries only metrics (and labels) the gateway exports. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GatewayMetrics } from '../../sidecar/ops/metrics.ts';

interface Panel {
  title: string;
  type: string;
  targets?: Array<{ expr: string }>;
}

const dashboard = JSON.parse(readFileSync(fileURLToPath(new URL('../../deploy/grafana-dashboard.json', import.meta.url)), 'utf8')) as { panels: Panel[]; annotations: { list: Array<{ expr: string }> } };
const PROMQL_WORDS = new Set(['sum', 'by', 'rate', 'increase', 'histogram_quantile', 'max', 'min', 'changes', 'le']);

describe('grafana dashboard', () => {
  it('uses only metric names the registry exports, with their labels', async () => {
    const metrics = new GatewayMetrics({ processMetrics: false, circuits: () => [] });
    const registered = new Map((await metrics.registry.getMetricsAsJSON()).map((metric) => [metric.name, metric]));
    const expressions = [...dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr)), ...dashboard.annotations.list.map((annotation) => annotation.expr)];
    expect(expressions.length).toBeGreaterThan(15);
    const used = new Set<string>();
    for (const expression of expressions) {
      for (const [name] of expression.matchAll(/[a-z_]+(?=[{[\s)]|$)/g)) {
        if (PROMQL_WORDS.has(name) || !/_/.test(name)) continue;
        if (/^gen_ai_(operation_name|provider_name|request_model|token_type)$|^(error_type|status_class|policy_id|policy_version|catalog_version)$/.test(name)) continue;
        const base = name.replace(/_(bucket|sum|count)$/, '');
        used.add(base);
        expect(registered.has(base) || registered.has(name), `${name} in ${expression}`).toBe(true);
      }
    }
    for (const name of ['switchyard_cost_usd_total', 'switchyard_fallbacks_total', 'gen_ai_client_operation_duration_seconds', 'gen_ai_client_token_usage', 'switchyard_circuit_state', 'switchyard_policy_reloads_total', 'switchyard_budget_headroom_usd']) expect(used).toContain(name);
  });

  it('gives every panel a title and a grid position inside 24 columns', () => {
    for (const panel of dashboard.panels as Array<Panel & { gridPos: { x: number; w: number } }>) {
      expect(panel.title.length).toBeGreaterThan(0);
      expect(panel.gridPos.x + panel.gridPos.w).toBeLessThanOrEqual(24);
    }
  });
});
