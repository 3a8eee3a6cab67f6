// Pulse dashboard: the app shell. Hash routes: #/signin, #/signup,
// #/verify?token=… (the link a sign-up mails), #/ (dashboard); views/ render the panels, state.js holds what they show,
// model.js the pure logic (unit-tested with node --test).
//
// Freshness: the live summary subscription (live.js) pushes each account's
// numbers as they are observed, and every push also reloads the chart and
// feed (debounced). While the subscription is down, the dashboard polls
// every 30 seconds instead.

import { ApiError, auth, gql, Q_DASHBOARD, Q_FEED, Q_ME, Q_METRICS, Q_SUMMARY } from './api.js';
import { h, replace } from './dom.js';
import { fmtAgo } from './format.js';
import { LiveSummary } from './live.js';
import {
  ALL_PLATFORMS, CUSTOM_MAX_DAYS, GRAINS, customRange, linkResult, mergeFeed, observedKey, pendingChoice, platformName, platformSlug, routeOf, verifyToken,
} from './model.js';
import { platformVar, root, savePrefs, seq, setUi, shownRange, state, ui } from './state.js';
import { chooseAccounts, dangerZone, liveJobs, renderAccounts } from './views/accounts.js';
import { renderAuth, verifySignUp } from './views/auth.js';
import { brand } from './views/common.js';
import { closeDialogs } from './views/dialog.js';
import { FEED_PAGE, renderFeed } from './views/feed.js';
import { renderMetrics, renderNow, retryText, shownFollowers } from './views/metrics.js';
import { loadTop, renderTop } from './views/top.js';
import { loadTotals, renderTotals } from './views/totals.js';

const POLL_MS = 30_000; // only while the live subscription is down
// A live push reloads the chart and feed after LIVE_DEBOUNCE_MS, at most
// once every LIVE_REFRESH_MS.
const LIVE_DEBOUNCE_MS = 1_000;
const LIVE_REFRESH_MS = 10_000;
const TICK_MS = 1_000; // "updated 12s ago"

let pollTimer = 0;
let tickTimer = 0;
let liveRefreshTimer = 0;
let lastLiveRefresh = 0;
const live = new LiveSummary({ onData: onLiveData, onDown: onLiveDown });

// ---- routing ---------------------------------------------------------------

export function go(route) {
  if (location.hash !== '#' + route) history.replaceState(null, '', '#' + route);
  render();
}

/** Stops the dashboard's timers and subscription and drops its view. */
export function stopDashboard() {
  stopPolling();
  stopLive();
  closeDialogs();
  ui?.chart?.destroy();
  ui?.reachChart?.destroy();
  setUi(null);
}

export function render(notice) {
  const route = routeOf(location.hash);
  if (route === '/verify') {
    verifySignUp(verifyToken(location.hash));
    return;
  }
  if (!state.user) {
    stopDashboard();
    const mode = route === '/signup' ? 'signup' : 'signin';
    if (route !== '/' + mode) history.replaceState(null, '', '#/' + mode);
    renderAuth(mode, notice);
    return;
  }
  // A consent covering several accounts: ask which to link.
  const choose = route === '/accounts' ? pendingChoice(location.hash) : null;
  if (route === '/accounts' && !choose) state.flash = linkResult(location.hash) || state.flash;
  if (route !== '/') history.replaceState(null, '', '#/');
  if (!ui) renderDashboard();
  else renderFlash();
  if (route === '/accounts') {
    const panel = document.getElementById('accounts');
    panel.scrollIntoView({ block: 'start' });
    panel.focus({ preventScroll: true });
    refreshAll();
  }
  if (choose) chooseAccounts(choose);
}

window.addEventListener('hashchange', () => render());

// ---- dashboard shell --------------------------------------------------------

function renderDashboard() {
  const status = h('span', { class: 'sync', role: 'status' });
  const signOut = h('button', { type: 'button', class: 'btn btn-ghost', onclick: onSignOut }, 'Sign out');
  setUi({
    status,
    flash: h('div', { class: 'flash-area' }),
    accounts: h('div', { class: 'accounts-body' }),
    accountsHead: h('div', { class: 'panel-actions' }),
    filters: h('div', { class: 'filters' }),
    metricsHead: h('p', { class: 'panel-sub' }),
    grain: h('div', { class: 'grain' }),
    metrics: h('div', { class: 'metrics-body' }),
    totals: h('div', { class: 'totals-body' }),
    now: h('div', { class: 'now', 'aria-labelledby': 'now-title' }),
    feed: h('div', { class: 'feed-body' }),
    top: h('div', { class: 'top-body' }),
    trend: h('div', { class: 'trend-body' }),
    chart: null,
    reachChart: null,
    likesChart: null,
    commentsChart: null,
    trendChart: null,
  });
  replace(root,
    h('header', { class: 'topbar' },
      h('div', { class: 'topbar-inner' },
        brand(),
        h('div', { class: 'topbar-right' },
          status,
          h('span', { class: 'user', title: 'Signed in as ' + state.user.email },
            h('span', { class: 'avatar', 'aria-hidden': 'true' }, state.user.email.slice(0, 1).toUpperCase()),
            h('span', { class: 'user-email' }, state.user.email)),
          signOut))),
    h('main', { class: 'dashboard', id: 'main' },
      h('h1', { class: 'visually-hidden' }, 'Dashboard'),
      ui.flash,
      h('section', { class: 'filterbar', 'aria-label': 'Filters' }, ui.filters),
      h('div', { class: 'layout' },
        h('div', { class: 'col-main' },
          h('section', { class: 'panel', id: 'metrics', 'aria-labelledby': 'metrics-title' },
            h('div', { class: 'panel-head' },
              h('div', null, h('h2', { id: 'metrics-title' }, 'Followers'), ui.metricsHead),
              ui.grain),
            ui.totals,
            ui.trend,
            ui.metrics),
          h('section', { class: 'panel', id: 'top', 'aria-labelledby': 'top-title' },
            h('div', { class: 'panel-head' },
              h('div', null, h('h2', { id: 'top-title' }, 'Top posts'),
                h('p', { class: 'panel-sub' }, 'Created in the chart’s range'))),
            ui.top),
          h('section', { class: 'panel', id: 'feed', 'aria-labelledby': 'feed-title' },
            h('div', { class: 'panel-head' },
              h('div', null, h('h2', { id: 'feed-title' }, 'Posts'),
                h('p', { class: 'panel-sub' }, 'Newest first, across your accounts'))),
            ui.feed)),
        h('aside', { class: 'col-side' },
          h('section', { class: 'panel', id: 'accounts', 'aria-labelledby': 'accounts-title', tabindex: -1 },
            h('div', { class: 'panel-head' },
              h('div', null, h('h2', { id: 'accounts-title' }, 'Accounts'),
                h('p', { class: 'panel-sub' }, 'Platforms you can link')),
              ui.accountsHead),
            ui.accounts),
          dangerZone()))));
  document.title = 'Dashboard · Pulse';
  renderFlash();
  renderFilters();
  renderGrain();
  renderAccounts();
  renderTotals();
  renderMetrics();
  renderFeed();
  renderTop();
  renderStatus();
  startPolling();
  startLive();
  startTicking();
  refreshAll();
}

export function renderFlash() {
  if (!ui) return;
  const f = state.flash;
  replace(ui.flash, f ? h('div', { class: ['flash', 'flash-' + f.kind], role: f.kind === 'error' ? 'alert' : 'status' },
    h('p', null, f.text),
    h('button', {
      type: 'button', class: 'btn btn-small btn-ghost', 'aria-label': 'Dismiss message',
      onclick: () => {
        state.flash = null;
        renderFlash();
      },
    }, 'Dismiss')) : null);
}

function renderStatus() {
  if (!ui) return;
  const s = ui.status;
  s.classList.toggle('sync-error', !!state.pollError);
  s.classList.toggle('sync-live', !state.pollError && state.live === 'live');
  s.removeAttribute('title');
  if (state.pollError) {
    replace(s, h('span', { class: 'dot', 'aria-hidden': 'true' }), state.pollError);
  } else if (state.live === 'live') {
    replace(s, h('span', { class: 'dot', 'aria-hidden': 'true' }), 'Live');
    if (state.updatedAt) {
      s.title = 'Updates arrive as your accounts are observed. Last full refresh at ' +
        state.updatedAt.toLocaleTimeString(undefined, { hour: 'numeric', minute: '2-digit', second: '2-digit' }) + '.';
    }
  } else if (state.updatedAt) {
    replace(s, h('span', { class: 'dot', 'aria-hidden': 'true' }),
      'Updated ', h('time', { datetime: state.updatedAt.toISOString() },
        state.updatedAt.toLocaleTimeString(undefined, { hour: 'numeric', minute: '2-digit', second: '2-digit' })));
  } else {
    replace(s, 'Loading…');
  }
}

function renderFilters() {
  replace(ui.filters,
    h('fieldset', { class: 'chips' },
      h('legend', null, 'Platforms'),
      ALL_PLATFORMS.map((p) => h('label', { class: ['chip', `chip-${platformSlug(p)}`] },
        h('input', {
          type: 'checkbox', name: 'platform', value: p, checked: state.platforms.has(p),
          dataset: { focusKey: 'platform-' + p },
          onchange: (ev) => {
            if (ev.target.checked) state.platforms.add(p);
            else state.platforms.delete(p);
            savePrefs();
            state.posts = null;
            state.feedDone = false;
            renderFeed();
            loadMetrics();
            loadFeed();
          },
        }),
        h('span', { class: 'chip-dot', 'aria-hidden': 'true' }),
        platformName(p)))));
}

function renderGrain() {
  const today = new Date().toISOString().slice(0, 10);
  const shown = shownRange();
  const dateInput = (id, label, value) => h('label', { class: 'range-date' }, h('span', null, label),
    h('input', { type: 'date', id, required: true, max: today, value, dataset: { focusKey: id } }));
  const error = h('p', { class: 'range-error', id: 'range-error', role: 'alert', hidden: true });
  // A custom range (both days included): validated by customRange, which
  // picks the grain and bounds the length, then fed to the same queries.
  const custom = h('form', {
    class: 'custom-range', 'aria-label': 'Custom date range', novalidate: true,
    onsubmit: (ev) => {
      ev.preventDefault();
      const fromDate = ev.target.elements['range-from'].value, toDate = ev.target.elements['range-to'].value;
      const r = customRange(fromDate, toDate);
      if (r.error) {
        error.textContent = r.error;
        error.hidden = false;
        return;
      }
      state.custom = { ...r, fromDate, toDate };
      changeRange();
    },
  },
  dateInput('range-from', 'From', state.custom?.fromDate || shown.from.toISOString().slice(0, 10)),
  dateInput('range-to', 'To', state.custom?.toDate || new Date(+shown.to - 1).toISOString().slice(0, 10)),
  h('button', { type: 'submit', class: 'btn btn-small', title: `Up to ${CUSTOM_MAX_DAYS} days` }, 'Apply'),
  state.custom ? h('button', { type: 'button', class: 'btn btn-small btn-ghost range-clear', onclick: () => { state.custom = null; changeRange(); } }, 'Clear') : null,
  error);
  replace(ui.grain,
    h('fieldset', { class: 'segmented' },
      h('legend', { class: 'visually-hidden' }, 'Time grain'),
      GRAINS.map((g) => h('label', null,
        h('input', {
          type: 'radio', name: 'grain', value: g.id, checked: !state.custom && state.grain === g.id,
          dataset: { focusKey: 'grain-' + g.id },
          onchange: () => {
            state.grain = g.id;
            state.custom = null;
            savePrefs();
            changeRange();
          },
        }),
        h('span', null, g.label)))),
    custom);
}

/** Reloads what the chart's range decides after the range changed. */
function changeRange() {
  state.series = null;
  state.trends = null;
  renderGrain();
  renderMetrics();
  loadMetrics();
}

// ---- data loading -------------------------------------------------------------

export function resetData() {
  Object.assign(state, {
    links: [], custom: null, series: null, trends: null, posts: null, top: null, topError: '', feedDone: false, feedError: '', hidden: new Set(),
    refreshNotes: new Map(), updatedAt: null, pollError: '', flash: null, summary: null, refreshQueued: false,
  });
  shownFollowers.clear();
}

function metricsVars() {
  const r = shownRange();
  return { grain: r.grain, from: r.from.toISOString(), to: r.to.toISOString(), platforms: platformVar() };
}

/** Handles an error from a query: signs out on UNAUTHENTICATED. */
export function failed(e) {
  if (e instanceof ApiError && e.code === 'UNAUTHENTICATED') {
    state.user = null;
    resetData();
    render('Your session has ended. Please sign in again.');
    return true;
  }
  return false;
}

/**
 * Links, metrics and the first feed page in one request (used by polling
 * and after live pushes). A call while one runs queues one more.
 */
export async function refreshAll() {
  if (!state.user) return;
  if (state.loading) {
    state.refreshQueued = true;
    return;
  }
  state.loading = true;
  state.refreshQueued = false;
  const t = { links: ++seq.links, metrics: ++seq.metrics, feed: ++seq.feed };
  const any = state.platforms.size > 0;
  const limit = Math.min(200, Math.max(FEED_PAGE, state.posts?.length || 0));
  // While the subscription is down, the summary query may still answer
  // (e.g. through a proxy that buffers streams): poll it too.
  const summary = state.live === 'down' ? pollSummary() : null;
  try {
    const { data, errors } = await gql(Q_DASHBOARD, { ...metricsVars(), before: null, limit, any });
    await summary;
    if (errors.length && errors.some(failed)) return;
    if (!data.me) return failed(new ApiError('UNAUTHENTICATED', 'sign in required'));
    if (t.links === seq.links) state.links = data.links || state.links;
    if (t.metrics === seq.metrics && any) state.series = data.metrics ?? state.series;
    if (t.metrics === seq.metrics && !any) state.series = [];
    if (t.feed === seq.feed && any && data.feed) ({ posts: state.posts, done: state.feedDone } = mergeFeed(state.posts, state.feedDone, data.feed, limit));
    if (t.feed === seq.feed && !any) [state.posts, state.feedDone] = [[], true];
    state.pollError = errors.length ? 'Some data could not be loaded: ' + errors[0].message : '';
    state.updatedAt = new Date();
  } catch (e) {
    if (failed(e)) return;
    state.pollError = e.code === 'NETWORK' ? 'Offline — retrying' : 'Update failed — retrying';
  } finally {
    state.loading = false;
  }
  if (!ui) return;
  loadTotals();
  loadTop();
  renderStatus();
  renderAccounts();
  renderMetrics();
  renderFeed();
  if (state.refreshQueued) refreshAll();
}

/** The summary by query, while the subscription is down; null when unavailable. */
async function pollSummary() {
  try {
    const { data } = await gql(Q_SUMMARY);
    if (state.live === 'down') state.summary = data.summary;
  } catch (e) {
    if (state.live === 'down' && !failed(e)) state.summary = null;
  }
}

async function loadMetrics() {
  loadTotals();
  loadTop();
  const t = ++seq.metrics;
  if (state.platforms.size === 0) {
    state.series = [];
    renderMetrics();
    return;
  }
  try {
    const { data, errors } = await gql(Q_METRICS, metricsVars());
    if (errors.some(failed) || t !== seq.metrics) return;
    state.series = data.metrics;
  } catch (e) {
    if (failed(e) || t !== seq.metrics) return;
    state.series = state.series || [];
    state.pollError = e.message;
    renderStatus();
  }
  renderMetrics();
}

async function loadFeed() {
  const t = ++seq.feed;
  if (state.platforms.size === 0) {
    [state.posts, state.feedDone] = [[], true];
    renderFeed();
    return;
  }
  try {
    const { data, errors } = await gql(Q_FEED, { platforms: platformVar(), before: null, limit: FEED_PAGE });
    if (errors.some(failed) || t !== seq.feed) return;
    ({ posts: state.posts, done: state.feedDone } = mergeFeed(null, false, data.feed, FEED_PAGE));
    state.feedError = '';
  } catch (e) {
    if (failed(e) || t !== seq.feed) return;
    state.feedError = e.message;
  }
  renderFeed();
}

function startPolling() {
  if (pollTimer) return;
  pollTimer = setInterval(() => {
    if (!document.hidden) refreshAll();
  }, POLL_MS);
}

function stopPolling() {
  clearInterval(pollTimer);
  pollTimer = 0;
}

// ---- live summary ----------------------------------------------------------------

// While the subscription connects, the cards wait this long for it before
// showing the chart's figures, so that they do not flicker at every load.
const LIVE_GRACE_MS = 3_000;
let graceTimer = 0; // while set, state.liveGrace

function startLive() {
  state.live = 'connecting';
  live.start();
  clearTimeout(graceTimer);
  state.liveGrace = true;
  graceTimer = setTimeout(() => {
    graceTimer = 0;
    state.liveGrace = false;
    renderNow();
  }, LIVE_GRACE_MS);
}

function stopLive() {
  live.stop();
  clearTimeout(graceTimer);
  graceTimer = 0;
  state.liveGrace = false;
  state.live = 'off';
  clearTimeout(liveRefreshTimer);
  liveRefreshTimer = 0;
  clearInterval(tickTimer);
  tickTimer = 0;
}

/** A push from the subscription: new numbers now, chart and feed soon. */
function onLiveData(summary) {
  if (!ui) return;
  const prev = state.summary;
  state.summary = summary;
  state.live = 'live';
  liveJobs(summary.refreshJobs);
  stopPolling();
  // The first summary of a connection is the current one; refresh only
  // when something was observed since the numbers shown.
  if (prev && observedKey(prev) !== observedKey(summary)) scheduleLiveRefresh();
  renderNow();
  renderStatus();
}

/** The subscription failed: poll instead until the retry succeeds. */
function onLiveDown(error, retryInMs) {
  if (failed(error) || !ui) return;
  const wasLive = state.live === 'live';
  state.live = 'down';
  state.liveRetryAt = Date.now() + retryInMs;
  startPolling();
  // Connection lost after working: catch up on what the stream missed.
  if (wasLive) refreshAll();
  renderNow();
  renderStatus();
}

function scheduleLiveRefresh() {
  if (liveRefreshTimer) return;
  const wait = Math.max(LIVE_DEBOUNCE_MS, lastLiveRefresh + LIVE_REFRESH_MS - Date.now());
  liveRefreshTimer = setTimeout(() => {
    liveRefreshTimer = 0;
    lastLiveRefresh = Date.now();
    if (ui && !document.hidden) refreshAll(); // a hidden page refreshes on wake
  }, wait);
}

/** Ticks the "updated 12s ago" and "retrying in 5s" texts. */
function startTicking() {
  clearInterval(tickTimer);
  tickTimer = setInterval(() => {
    if (!ui || document.hidden) return;
    for (const el of ui.now.querySelectorAll('[data-ago]')) el.textContent = 'updated ' + fmtAgo(el.dataset.ago);
    const retry = ui.now.querySelector('.live-retry');
    if (retry) retry.textContent = retryText();
  }, TICK_MS);
}

let lastWake = 0;
function onWake() {
  if (!ui || document.hidden || Date.now() - lastWake < 2000) return;
  lastWake = Date.now();
  live.retryNow();
  refreshAll();
}
window.addEventListener('focus', onWake);
document.addEventListener('visibilitychange', onWake);

async function onSignOut() {
  try {
    await auth('logout');
  } catch (e) {
    if (e.code !== 'unauthorized') {
      state.pollError = 'Sign out failed: ' + e.message;
      renderStatus();
      return;
    }
  }
  state.user = null;
  resetData();
  history.replaceState(null, '', '#/signin');
  render('You have been signed out.');
}

// ---- boot ----------------------------------------------------------------------------

async function boot() {
  try {
    const { data } = await gql(Q_ME);
    state.user = data.me;
  } catch (e) {
    replace(root, h('main', { class: 'auth', id: 'main' }, h('div', { class: 'auth-card' }, brand(),
      h('h1', null, "Couldn't load Pulse"),
      h('p', { class: 'form-error', role: 'alert' }, e.message),
      h('button', { type: 'button', class: 'btn btn-primary', onclick: boot }, 'Try again'))));
    return;
  }
  render();
}

boot();
