// Switchyard dashboard: fetches /api/v1/dashboard/summary every few seconds and draws it.
// Plain DOM and inline SVG; every string from the server goes through textContent.
'use strict';

const REFRESH_MS = 5000;
const PALETTE = ['#2f6fde', '#e07b39', '#2b9d8f', '#c2487a', '#7b61c9', '#8a9a2b', '#d1a32a', '#5a7085'];
const SVG = 'http://www.w3.org/2000/svg';
let group = 'by_model';
let last = null;

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null) continue;
    if (name === 'class') node.className = value;
    // Through CSSOM: the page's CSP allows no inline style attributes.
    else if (name === 'style') node.style.cssText = value;
    else node.setAttribute(name, String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  return node;
}

function svg(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
  return node;
}

/** USD for display: cents above a dollar, micro-dollars below. */
function usd(text) {
  const value = Number(text);
  return '$' + (Math.abs(value) >= 1 ? value.toFixed(2) : value.toFixed(6));
}

function ms(value) {
  if (value === null || value === undefined) return '–';
  return value >= 1000 ? (value / 1000).toFixed(2) + ' s' : Math.round(value) + ' ms';
}

function percent(rate) {
  return rate === null || rate === undefined ? '–' : (rate * 100).toFixed(1) + '%';
}

function time(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

function key() {
  return sessionStorage.getItem('switchyard-key');
}

async function load() {
  const headers = key() ? { authorization: 'Bearer ' + key() } : {};
  const reply = await fetch('/api/v1/dashboard/summary', { headers });
  if (reply.status === 401) {
    document.getElementById('key-form').hidden = false;
    document.getElementById('content').hidden = true;
    document.getElementById('refreshed').textContent = 'key needed';
    return;
  }
  if (!reply.ok) throw new Error('summary answered ' + reply.status);
  document.getElementById('key-form').hidden = true;
  document.getElementById('content').hidden = false;
  last = await reply.json();
  render(last);
}

function render(summary) {
  renderPolicy(summary.policy);
  const totals = summary.totals;
  document.getElementById('total-requests').textContent = totals.requests.toLocaleString('en-US');
  document.getElementById('total-window').textContent = summary.window.from ? 'since ' + time(summary.window.from) : 'no traffic yet';
  const spend = document.getElementById('total-spend');
  spend.textContent = usd(totals.spend);
  spend.dataset.value = totals.spend;
  document.getElementById('total-tokens').textContent = totals.prompt_tokens.toLocaleString('en-US') + ' in / ' + totals.completion_tokens.toLocaleString('en-US') + ' out tokens';
  document.getElementById('fallback-rate').textContent = percent(totals.fallback_rate);
  document.getElementById('total-fallbacks').textContent = totals.fallbacks + ' of ' + totals.served + ' served by a fallback';
  document.getElementById('total-failed').textContent = totals.failed.toLocaleString('en-US');
  renderSpend(summary.spend_over_time);
  renderProviders(summary.providers);
  renderCircuits(summary.circuits);
  renderRecent(summary.recent);
  document.getElementById('refreshed').textContent = 'updated ' + time(summary.generated_at);
}

function renderPolicy(policy) {
  if (!policy) return;
  document.getElementById('policy-name').textContent = policy.policy.id;
  document.getElementById('policy-version').textContent = policy.policy.version;
  document.getElementById('policy-loaded').textContent = 'loaded ' + time(policy.loaded_at);
  const state = document.getElementById('policy-state');
  state.textContent = policy.last_reload === 'ok' ? 'in force' : 'reload rejected';
  state.className = policy.last_reload === 'ok' ? 'badge' : 'badge bad';
  const alert = document.getElementById('reload-error');
  alert.hidden = !policy.last_error;
  if (policy.last_error) {
    document.getElementById('reload-error-message').textContent = '(' + time(policy.last_error.at) + '): ' + policy.last_error.message;
    document.getElementById('reload-error-diagnostics').textContent = policy.last_error.diagnostics.join('\n');
  }
}

function renderSpend(spend) {
  const container = document.getElementById('spend-chart');
  const legend = document.getElementById('spend-legend');
  container.replaceChildren();
  legend.replaceChildren();
  const series = spend[group];
  if (series.length === 0) {
    container.append(el('div', { class: 'empty' }, 'No spend yet.'));
    return;
  }
  const width = 1000;
  const height = 220;
  const left = 64;
  const top = 10;
  const bottom = 22;
  const count = spend.buckets.length;
  const totals = spend.buckets.map((_, index) => series.reduce((sum, line) => sum + line.values[index], 0));
  const max = Math.max(...totals) || 1;
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': 'Spend over time' });
  for (const fraction of [0, 0.5, 1]) {
    const y = top + (height - bottom - top) * (1 - fraction) + 0.5;
    chart.append(svg('line', { x1: left, x2: width, y1: y, y2: y, class: 'axis' }));
    const label = svg('text', { x: left - 6, y: y + 4, 'text-anchor': 'end' });
    label.textContent = usd(String(max * fraction));
    chart.append(label);
  }
  const slot = (width - left) / count;
  const barWidth = Math.max(2, slot * 0.7);
  spend.buckets.forEach((start, index) => {
    let y = height - bottom;
    series.forEach((line, lineIndex) => {
      const value = line.values[index];
      if (value <= 0) return;
      const barHeight = ((height - bottom - top) * value) / max;
      y -= barHeight;
      const rect = svg('rect', { x: left + index * slot + (slot - barWidth) / 2, y, width: barWidth, height: barHeight, fill: PALETTE[lineIndex % PALETTE.length] });
      const title = svg('title');
      title.textContent = `${line.name} ${time(start)}: ${usd(String(value))}`;
      rect.append(title);
      chart.append(rect);
    });
    if (index === 0 || index === count - 1 || index === Math.floor(count / 2)) {
      const label = svg('text', { x: left + index * slot + slot / 2, y: height - 6, 'text-anchor': 'middle' });
      label.textContent = time(start);
      chart.append(label);
    }
  });
  container.append(chart);
  series.forEach((line, lineIndex) => {
    legend.append(el('li', { 'data-name': line.name, 'data-total': line.total }, el('span', { class: 'swatch', style: `background:${PALETTE[lineIndex % PALETTE.length]}` }), line.name, el('span', { class: 'amount' }, usd(line.total))));
  });
}

function renderProviders(providers) {
  const body = document.getElementById('providers');
  body.replaceChildren();
  const slowest = Math.max(1, ...providers.map((row) => row.latency_ms.p90 || 0));
  for (const row of providers) {
    const bar = el('div', { class: 'bar' });
    if (row.latency_ms.p90 !== null) bar.append(el('span', { class: 'p90', style: `width:${(100 * row.latency_ms.p90) / slowest}%` }));
    if (row.latency_ms.p50 !== null) bar.append(el('span', { class: 'p50', style: `width:${(100 * row.latency_ms.p50) / slowest}%` }));
    body.append(
      el('tr', { 'data-provider': row.provider, 'data-attempts': row.attempts, 'data-failed': row.failed },
        el('td', {}, row.provider),
        el('td', { class: 'num' }, row.attempts),
        el('td', { class: row.failed > 0 ? 'num status-bad' : 'num' }, row.failed),
        el('td', { class: 'num' }, ms(row.latency_ms.p50)),
        el('td', { class: 'num' }, ms(row.latency_ms.p90)),
        el('td', { class: 'num' }, ms(row.ttft_ms.p50)),
        el('td', { class: 'bar-cell' }, bar),
        el('td', { class: 'num', 'data-value': row.spend }, usd(row.spend))));
  }
  if (providers.length === 0) body.append(el('tr', {}, el('td', { colspan: 8, class: 'empty' }, 'No attempts yet.')));
}

function renderCircuits(circuits) {
  const list = document.getElementById('circuits');
  list.replaceChildren();
  if (circuits.length === 0) list.append(el('li', { class: 'muted' }, 'All circuits closed.'));
  for (const circuit of circuits) list.append(el('li', {}, el('span', {}, circuit.endpoint), el('span', { class: circuit.state }, circuit.state.replace('_', '-'))));
}

function chain(attempts) {
  const node = el('div', { class: 'chain' });
  attempts.forEach((attempt, index) => {
    if (index > 0) node.append(el('span', { class: 'arrow' }, '→'));
    const kind = attempt.outcome === 'ok' ? 'ok' : attempt.outcome === 'cancelled' ? 'other' : 'fail';
    const label = attempt.provider + ' ' + (attempt.status === null ? attempt.outcome : attempt.status + (attempt.outcome === 'ok' ? '' : ' ' + attempt.outcome));
    node.append(el('span', { class: 'pill ' + kind, title: attempt.model + ', ' + ms(attempt.latency_ms) }, label));
  });
  return node;
}

function renderRecent(recent) {
  const body = document.getElementById('recent');
  body.replaceChildren();
  for (const row of recent) {
    body.append(
      el('tr', { 'data-id': row.id },
        el('td', { title: row.id }, time(row.created_at)),
        el('td', {}, row.model),
        el('td', {}, row.provider || '–'),
        el('td', { class: row.status === 200 ? 'num status-ok' : 'num status-bad' }, row.status),
        el('td', { class: 'num' }, ms(row.latency_ms)),
        el('td', { class: 'num', 'data-value': row.cost }, usd(row.cost)),
        el('td', { class: 'chain-cell' }, chain(row.attempts))));
  }
  if (recent.length === 0) body.append(el('tr', {}, el('td', { colspan: 7, class: 'empty' }, 'No generations yet.')));
}

function refresh() {
  load().catch((error) => {
    document.getElementById('refreshed').textContent = 'could not refresh: ' + error.message;
  });
}

document.addEventListener('DOMContentLoaded', () => {
  for (const button of document.querySelectorAll('.toggle button')) {
    button.addEventListener('click', () => {
      group = button.dataset.group;
      for (const other of document.querySelectorAll('.toggle button')) other.setAttribute('aria-pressed', String(other === button));
      if (last) renderSpend(last.spend_over_time);
    });
  }
  document.getElementById('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem('switchyard-key', document.getElementById('key-input').value);
    refresh();
  });
  refresh();
  setInterval(refresh, REFRESH_MS);
});
