// The followers panel: the chart with its legend, and the cards under it
// (live numbers when the summary subscription has them, else the figures of
// the chart's range).

import { FollowersChart } from '../chart.js';
import { h, replace } from '../dom.js';
import { fmtAgo, fmtCompact, fmtDateTime, fmtInt, fmtPct, fmtRate, fmtSigned } from '../format.js';
import { FIRST_DATA, accountKey, insightSeries, platformName, previousOverlay, rangeFigures, slopeLine, withReadings } from '../model.js';
import { allAccounts, colorFor, grainInfo, handleFor, shownRange, state, ui } from '../state.js';
import { badge, emptyState, noDataState } from './common.js';

export function renderMetrics() {
  if (!ui) return;
  const g = grainInfo();
  const r = shownRange();
  ui.metricsHead.textContent = state.custom
    ? `${state.custom.fromDate} to ${state.custom.toDate}, ${g.by}`
    : `${g.range[0].toUpperCase()}${g.range.slice(1)}, ${g.by}`;
  const empty = noDataState('follower growth');
  if (empty || state.series === null) {
    dropCharts();
    replace(ui.metrics, empty || h('div', { class: 'skeleton chart-skeleton', 'aria-busy': 'true' }, h('span', { class: 'visually-hidden' }, 'Loading metrics…')),
      empty ? null : ui.now);
    renderNow();
    return;
  }
  const series = chartSeries();
  if (!series.length) {
    dropCharts();
    const fetched = allAccounts().some((a) => a.lastFetchedAt);
    replace(ui.metrics, fetched
      ? emptyState(`No data for the ${g.range}`, 'Try a longer time range or other platforms. ' + FIRST_DATA)
      : emptyState('Waiting for data', FIRST_DATA), ui.now);
    renderNow();
    return;
  }

  const visible = series.filter((s) => !state.hidden.has(s.key));
  const legend = h('ul', { class: 'legend', 'aria-label': 'Accounts in the chart' }, series.map((s) => h('li', null,
    h('button', {
      type: 'button', class: 'legend-item', 'aria-pressed': String(!state.hidden.has(s.key)),
      dataset: { focusKey: 'legend-' + s.key },
      title: state.hidden.has(s.key) ? 'Show in chart' : 'Hide from chart',
      onclick: () => {
        if (state.hidden.has(s.key)) state.hidden.delete(s.key);
        else state.hidden.add(s.key);
        renderMetrics();
      },
    },
    h('span', { class: 'swatch', style: { '--c': s.color } }),
    h('span', { class: 'legend-handle' }, s.handle),
    h('span', { class: 'legend-platform' }, s.platformName)))));

  const chartBox = ui.chart?.el || h('div');
  // Reach, from the platforms' insights (summed per bucket): its own chart,
  // for the accounts whose platform reports it.
  const reach = insightSeries(visible, 'reach');
  const reachBox = reach.length ? ui.reachChart?.el || h('div') : null;
  if (!reach.length && ui.reachChart) {
    ui.reachChart.destroy();
    ui.reachChart = null;
  }
  // Likes and comments gained over the accounts' posts, per bucket.
  const likes = insightSeries(visible, 'likesGained').map((s) => ({ ...s, lineClass: 'likes-line' }));
  const comments = insightSeries(visible, 'commentsGained').map((s) => ({ ...s, lineClass: 'comments-line' }));
  const likesBox = ui.likesChart?.el || h('div', { class: 'likes-chart' });
  const commentsBox = ui.commentsChart?.el || h('div', { class: 'comments-chart' });
  replace(ui.metrics, legend, chartBox,
    h('p', { class: 'hint chart-hint' }, 'Hover or focus the chart and use the arrow keys to read values.'),
    reachBox ? h('h3', { class: 'chart-title reach-title' }, `Reach, ${g.by}`) : null,
    reachBox,
    h('h3', { class: 'chart-title likes-title' }, `Likes gained, ${g.by}`),
    likesBox,
    h('h3', { class: 'chart-title comments-title' }, `Comments gained, ${g.by}`),
    commentsBox,
    ui.now);
  renderNow();
  if (!ui.chart) ui.chart = new FollowersChart(chartBox);
  const label = `Followers per account, ${g.range}, ${g.by}. ` +
    visible.map((s) => `${s.handle} on ${s.platformName}: ${fmtInt(s.points.at(-1).followers)}`).join('; ') + '.';
  ui.chart.update({ series: visible, grain: r.grain, from: r.from, last: r.last, label });
  if (reachBox) {
    if (!ui.reachChart) ui.reachChart = new FollowersChart(reachBox);
    const reachLabel = `Accounts reached per account, ${g.range}, ${g.by}. ` +
      reach.map((s) => `${s.handle} on ${s.platformName}: ${fmtInt(s.points.at(-1).followers)}`).join('; ') + '.';
    ui.reachChart.update({ series: reach, grain: r.grain, from: r.from, last: r.last, label: reachLabel });
  }
  const gained = (chart, list, what) => {
    if (!ui[chart]) ui[chart] = new FollowersChart(chart === 'likesChart' ? likesBox : commentsBox);
    const text = `${what} gained per account, ${g.range}, ${g.by}. ` +
      list.map((s) => `${s.handle} on ${s.platformName}: ${fmtInt(s.points.reduce((n, p) => n + p.followers, 0))} in all`).join('; ') + '.';
    ui[chart].update({ series: list, grain: r.grain, from: r.from, last: r.last, label: text });
  };
  gained('likesChart', likes, 'Likes');
  gained('commentsChart', comments, 'Comments');
}

/** Destroys the charts (no data or loading). */
export function dropCharts() {
  for (const c of ['chart', 'reachChart', 'likesChart', 'commentsChart']) {
    ui[c]?.destroy();
    ui[c] = null;
  }
}

/**
 * The trend of every selected platform together (GraphQL trends' first
 * entry): its total per bucket, the least-squares line (dashed) and the
 * previous period of as many buckets laid over this one (dotted).
 */
export function renderTrend() {
  if (!ui) return;
  const t = state.trends?.find((x) => !x.platform);
  if (!t || !t.points.length) {
    ui.trendChart?.destroy();
    ui.trendChart = null;
    replace(ui.trend);
    return;
  }
  const r = shownRange();
  const g = grainInfo();
  const box = ui.trendChart?.el || h('div', { class: 'trend-chart' });
  const at = (p) => ({ at: new Date(p.at), followers: p.value });
  const series = [
    { key: 'trend-total', handle: 'Total', platformName: 'all platforms', color: '#4f46e5', lineClass: 'trend-line', points: t.points.map(at) },
    { key: 'trend-fit', handle: 'Trend line', platformName: '', color: '#dc2626', lineClass: 'trend-fit', dash: '6 4', straight: true, points: slopeLine(t, r.from, r.last) },
  ];
  const prev = previousOverlay(t.previous, r.grain, r.from, r.to);
  if (prev.length) {
    series.push({ key: 'trend-previous', handle: 'Previous period', platformName: '', color: '#94a3b8', lineClass: 'trend-previous', dash: '2 3', points: prev });
  }
  replace(ui.trend,
    h('h3', { class: 'chart-title trend-title' }, `Total followers, ${g.by}: trend line and previous period`),
    h('ul', { class: 'legend trend-legend', 'aria-label': 'Lines of the trend chart' }, series.map((s) => h('li', { class: 'legend-item', dataset: { line: s.key } },
      h('span', { class: ['swatch', s.dash && 'swatch-dashed'], style: { '--c': s.color } }), h('span', null, s.handle)))),
    box);
  if (!ui.trendChart) ui.trendChart = new FollowersChart(box);
  const label = `Total followers, ${g.range}, ${g.by}: ${fmtInt(t.value)} at the end, trend ${fmtSigned(Math.round(t.slopePerDay))} per day` +
    (t.previousValue != null ? `, ${fmtInt(t.previousValue)} at the end of the previous period.` : '.');
  ui.trendChart.update({ series, grain: r.grain, from: r.from, last: r.last, label });
}

/** The loaded series with follower readings, ready for the chart and the cards. */
export function chartSeries() {
  return withReadings(state.series).map((s) => {
    const key = accountKey(s.platform, s.accountId);
    return {
      key, platform: s.platform, platformName: platformName(s.platform), handle: s.handle || s.accountId,
      color: colorFor(key), raw: s.points, all: s.all, points: s.points.map((p) => ({ ...p, at: new Date(p.at) })),
    };
  });
}

/**
 * The per-account cards under the chart: the live numbers when the summary
 * is available, else the figures of the chart's range.
 */
export function renderNow() {
  if (!ui) return;
  const el = ui.now;
  el.dataset.live = state.live;
  if (!state.platforms.size || (state.updatedAt && !allAccounts().length)) {
    replace(el);
    return;
  }
  const g = grainInfo();
  let cards = state.summary ? liveCards() : null;
  const live = !!cards;
  if (!live && state.liveGrace && state.live === 'connecting') {
    replace(el);
    return;
  }
  if (!cards) cards = chartSeries().map((s) => summaryCard(s, g));
  if (!cards.length) {
    replace(el);
    return;
  }
  // Live but with nothing for these accounts: the range's figures, unlabelled.
  let status = null;
  if (state.live === 'live' && live) {
    status = h('span', { class: 'live-badge', title: 'These numbers update as your accounts are observed.' },
      h('span', { class: 'live-dot', 'aria-hidden': 'true' }), 'Live');
  } else if (state.live === 'down') {
    status = h('span', { class: 'live-off' },
      live ? 'Live updates paused, ' : 'Live numbers unavailable, ', h('span', { class: 'live-retry' }, retryText()));
  } else if (state.live === 'connecting' && !live) {
    status = h('span', { class: 'live-off' }, 'Connecting to live updates…');
  }
  replace(el,
    h('div', { class: 'now-head' },
      h('h3', { id: 'now-title' }, live ? 'Right now' : `Over the ${g.range}`),
      status),
    h('ul', { class: ['summaries', live && 'summaries-live'] }, cards));
}

/**
 * Live cards for the linked accounts of the selected platforms, or null to
 * fall back to the chart's figures when the summary has none of them.
 */
function liveCards() {
  const accounts = state.summary.accounts.filter((a) => state.platforms.has(a.platform));
  const linked = allAccounts().filter((l) => state.platforms.has(l.platform));
  let cards;
  if (!state.links.length) {
    cards = accounts.map(liveCard); // links not loaded yet
  } else {
    // An unlinked account's numbers may linger in the summary: only
    // linked accounts are shown, and those not yet observed as pending.
    cards = linked.map((l) => {
      const a = accounts.find((x) => x.linkId === l.id) ||
        accounts.find((x) => x.platform === l.platform && x.accountId === l.accountId);
      return a ? liveCard(a) : pendingCard(l);
    });
  }
  const observed = cards.some((c) => c.classList.contains('summary-live'));
  return observed || !chartSeries().length ? cards : null;
}

const DELTAS = [['delta24h', '24h', '24 hours'], ['delta7d', '7d', '7 days'], ['delta30d', '30d', '30 days']];
export const shownFollowers = new Map(); // link id -> followers last shown, to highlight changes

function liveCard(a) {
  const key = accountKey(a.platform, a.accountId);
  const handle = a.handle || handleFor(a.platform, a.accountId);
  const before = shownFollowers.get(a.linkId);
  shownFollowers.set(a.linkId, a.followers);
  return h('li', { class: 'summary summary-live', dataset: { account: key, linkId: a.linkId } },
    cardHead(key, handle, a.platform),
    h('div', { class: 'summary-value' },
      h('span', { class: ['followers', before !== undefined && before !== a.followers && 'changed'] }, fmtInt(a.followers)),
      h('span', { class: 'summary-unit' }, ' followers')),
    h('ul', { class: 'deltas', 'aria-label': 'Follower change' }, DELTAS.map(([field, label, long]) => {
      const d = a[field];
      const dir = d > 0 ? 'up' : d < 0 ? 'down' : 'flat';
      return h('li', { class: ['delta', 'delta-' + label, 'change-' + dir], title: `${fmtSigned(d)} followers in the last ${long}` },
        h('span', { class: 'delta-value' },
          h('span', { class: 'delta-arrow', 'aria-hidden': 'true' }, dir === 'up' ? '▲' : dir === 'down' ? '▼' : ''),
          fmtSigned(d)),
        h('span', { class: 'delta-label', 'aria-hidden': 'true' }, label),
        h('span', { class: 'visually-hidden' }, ` in the last ${long}`));
    })),
    h('dl', { class: 'stats' },
      h('div', { title: 'Average likes, comments and shares per post over the last 30 days, relative to followers' },
        h('dt', null, 'Engagement'), h('dd', { class: 'engagement' }, fmtRate(a.engagementRate))),
      h('div', { title: 'Posts published in the last 30 days' },
        h('dt', null, 'Posts 30d'), h('dd', { class: 'posts-30d' }, fmtInt(a.posts30d))),
      h('div', null, h('dt', null, 'Following'), h('dd', null, fmtCompact(a.following)))),
    h('p', { class: 'summary-updated' },
      h('time', { datetime: a.observedAt, title: 'Observed ' + fmtDateTime(a.observedAt), dataset: { ago: a.observedAt } },
        'updated ' + fmtAgo(a.observedAt))));
}

function pendingCard(l) {
  const key = accountKey(l.platform, l.accountId);
  return h('li', { class: 'summary summary-pending', dataset: { account: key, linkId: l.id } },
    cardHead(key, l.handle || l.accountId, l.platform),
    h('p', { class: 'muted small pending-text' }, 'No numbers yet. ' + FIRST_DATA));
}

function cardHead(key, handle, platform) {
  return h('div', { class: 'summary-head' },
    h('span', { class: 'swatch', style: { '--c': colorFor(key) }, 'aria-hidden': 'true' }),
    h('span', { class: 'summary-handle', title: handle }, handle),
    badge(platform));
}

function summaryCard(s, g) {
  const { cur, change, pct, avg, min, max } = rangeFigures(s.raw);
  const dir = change > 0 ? 'up' : change < 0 ? 'down' : 'flat';
  return h('li', { class: 'summary', dataset: { account: s.key } },
    h('div', { class: 'summary-head' },
      h('span', { class: 'swatch', style: { '--c': s.color }, 'aria-hidden': 'true' }),
      h('span', { class: 'summary-handle' }, s.handle),
      badge(s.platform)),
    h('div', { class: 'summary-value' }, fmtInt(cur), h('span', { class: 'summary-unit' }, ' followers')),
    h('div', { class: ['change', 'change-' + dir] },
      h('span', { 'aria-hidden': 'true' }, dir === 'up' ? '▲ ' : dir === 'down' ? '▼ ' : ''),
      fmtSigned(change), pct !== null && change !== 0 ? ` (${fmtPct(pct)})` : '',
      h('span', { class: 'muted' }, ` over the ${g.range}`)),
    h('dl', { class: 'stats' },
      h('div', null, h('dt', null, 'Average'), h('dd', null, fmtCompact(avg))),
      h('div', null, h('dt', null, 'Min'), h('dd', null, fmtCompact(min))),
      h('div', null, h('dt', null, 'Max'), h('dd', null, fmtCompact(max)))));
}


/** "retrying in 5s" while the subscription is down. */
export function retryText() {
  const s = Math.ceil((state.liveRetryAt - Date.now()) / 1000);
  return s > 0 ? `retrying in ${s}s` : 'retrying…';
}
