// The totals strip above the chart: followers summed per platform and
// across platforms for the chart's range, with the change against the
// previous period and the growth per day (GraphQL trends, computed in
// ClickHouse), and the range's download (CSV, Parquet, Arrow).

import { gql, Q_TRENDS } from '../api.js';
import { failed } from '../app.js';
import { h, replace } from '../dom.js';
import { fmtInt, fmtPct, fmtSigned } from '../format.js';
import { exportURL, platformName } from '../model.js';
import { platformVar, shownRange, state, ui } from '../state.js';
import { renderTrend } from './metrics.js';

let seqTrends = 0;

/** Loads the trends of the selected range and platforms. */
export async function loadTotals() {
  const t = ++seqTrends;
  if (!state.platforms.size) {
    state.trends = [];
    renderTotals();
    renderTrend();
    return;
  }
  const r = shownRange();
  try {
    const { data, errors } = await gql(Q_TRENDS, { grain: r.grain, from: r.from.toISOString(), to: r.to.toISOString(), platforms: platformVar() });
    if (errors.some(failed) || t !== seqTrends) return;
    state.trends = data.trends;
  } catch (e) {
    if (failed(e) || t !== seqTrends) return;
    state.trends = state.trends || [];
  }
  renderTotals();
  renderTrend();
}

export function renderTotals() {
  if (!ui) return;
  const r = shownRange();
  const trends = (state.trends || []).filter((t) => t.value > 0 || t.previousValue);
  // The range's metrics as CSV, Parquet or an Arrow IPC stream (GET
  // /api/v1/export).
  const download = h('span', { class: 'exports' }, [['csv', 'Download CSV'], ['parquet', 'Parquet'], ['arrow', 'Arrow']].map(([format, label]) =>
    h('a', {
      class: 'btn btn-small btn-ghost export-link', download: '', dataset: { format },
      href: exportURL({ grain: r.grain, from: r.from, to: r.to, platforms: platformVar(), format }),
    }, label)));
  if (!state.platforms.size || !trends.length) {
    replace(ui.totals);
    return;
  }
  replace(ui.totals,
    h('ul', { class: 'totals', 'aria-label': 'Followers per platform' }, trends.map((t) => {
      const dir = (t.change ?? 0) > 0 ? 'up' : (t.change ?? 0) < 0 ? 'down' : 'flat';
      return h('li', { class: ['total', t.platform ? null : 'total-all'], dataset: { platform: t.platform || 'ALL' } },
        h('span', { class: 'total-name' }, t.platform ? platformName(t.platform) : 'All platforms'),
        h('span', { class: 'total-value' }, fmtInt(t.value)),
        h('span', { class: ['total-change', 'change-' + dir], title: 'Against the previous period of the same length' },
          t.change === null ? 'no earlier data' : fmtSigned(t.change) + (t.changePercent !== null ? ` (${fmtPct(t.changePercent / 100)})` : '')),
        h('span', { class: 'total-slope muted small', title: `Least-squares fit, R² ${t.r2.toFixed(2)}` },
          `${fmtSigned(t.slopePerDay)}/day`));
    })),
    download);
}
