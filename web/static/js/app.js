// Pulse dashboard: sign-in/sign-up, linked accounts, live "now" numbers,
// follower metrics and the combined post feed. Hash routes: #/signin,
// #/signup, #/verify?token=… (the link a sign-up mails), #/ (dashboard).
//
// Freshness: the live summary subscription (live.js) pushes each account's
// numbers as they are observed, and every push also reloads the chart and
// feed (debounced). While the subscription is down, the dashboard polls
// every 30 seconds instead.

import {
  ApiError, auth, gql, M_DELETE_ACCOUNT, M_LINK_ACCOUNTS, M_REFRESH, M_UNLINK, Q_DASHBOARD, Q_FEED, Q_ME, Q_METRICS,
  Q_PENDING_GRANT, Q_SUMMARY,
} from './api.js';
import { FollowersChart } from './chart.js';
import { h, replace } from './dom.js';
import { fmtAgo, fmtCompact, fmtDateTime, fmtInt, fmtPct, fmtRate, fmtRelative, fmtSigned } from './format.js';
import { LiveSummary } from './live.js';

const POLL_MS = 30_000; // only while the live subscription is down
// A live push reloads the chart and feed after LIVE_DEBOUNCE_MS, at most
// once every LIVE_REFRESH_MS.
const LIVE_DEBOUNCE_MS = 1_000;
const LIVE_REFRESH_MS = 10_000;
const TICK_MS = 1_000; // "updated 12s ago"
const FEED_PAGE = 20;
const REFRESH_NOTE_MS = 15_000;

const PLATFORMS = { FACEBOOK: 'Facebook', INSTAGRAM: 'Instagram', X: 'X', LINKEDIN: 'LinkedIn' };
const ALL_PLATFORMS = Object.keys(PLATFORMS);
const STATUS_LABEL = { NOT_LINKED: 'Not linked', ACTIVE: 'Active', NEEDS_REAUTH: 'Needs re-auth', REVOKED: 'Revoked' };
const GRAINS = [
  { id: 'HOUR', label: 'Hour', range: 'last 48 hours', by: 'hourly' },
  { id: 'DAY', label: 'Day', range: 'last 30 days', by: 'daily' },
  { id: 'MONTH', label: 'Month', range: 'last 12 months', by: 'monthly' },
  { id: 'YEAR', label: 'Year', range: 'last 5 years', by: 'yearly' },
];
const COLORS = ['#4f46e5', '#0891b2', '#d97706', '#059669', '#dc2626', '#9333ea', '#db2777', '#0d9488', '#ea580c', '#475569'];
const FIRST_DATA = 'Your first data arrives within a minute of linking.';
// Reasons the OAuth callback reports in #/accounts?link_error=….
const LINK_ERRORS = {
  access_denied: (n) => `Linking ${n} was cancelled.`,
  authorization_failed: (n) => `${n} did not authorize the link. Please try again.`,
  exchange_failed: (n) => `Couldn't complete linking ${n}. Please try again.`,
  account_failed: (n) => `Couldn't read your ${n} account. Please try again.`,
  store_failed: (n) => `Couldn't save the ${n} link. Please try again.`,
};

const platformName = (p) => PLATFORMS[p] || p;
const platformSlug = (p) => String(p).toLowerCase();
const accountKey = (platform, accountId) => `${platform}:${accountId}`;

// ---- state ---------------------------------------------------------------

const prefs = loadPrefs();
const state = {
  user: null,
  links: [],
  grain: prefs.grain,
  platforms: new Set(prefs.platforms),
  hidden: new Set(), // account keys hidden from the chart via the legend
  series: null, // null until loaded
  posts: null,
  feedDone: false,
  feedLoadingMore: false,
  feedError: '',
  refreshNotes: new Map(), // link id (or "all") -> {text, kind}
  flash: null, // {kind: 'ok'|'error', text} shown above the dashboard
  updatedAt: null,
  pollError: '',
  loading: false,
  refreshQueued: false, // a refresh was asked for while one was running
  summary: null, // the latest live summary {updatedAt, accounts}, or null
  live: 'off', // the subscription: off, connecting, live or down
  liveRetryAt: 0, // when down: the time of the next attempt
};
const seq = { links: 0, metrics: 0, feed: 0 };
let ui = null; // dashboard elements while it is shown
let pollTimer = 0;
let tickTimer = 0;
let liveRefreshTimer = 0;
let lastLiveRefresh = 0;
const live = new LiveSummary({ onData: onLiveData, onDown: onLiveDown });

function loadPrefs() {
  const d = { grain: 'DAY', platforms: ALL_PLATFORMS };
  try {
    const p = JSON.parse(localStorage.getItem('pulse.prefs') || '{}');
    return {
      grain: GRAINS.some((g) => g.id === p.grain) ? p.grain : d.grain,
      platforms: Array.isArray(p.platforms) ? p.platforms.filter((x) => PLATFORMS[x]) : d.platforms,
    };
  } catch {
    return d;
  }
}

function savePrefs() {
  try {
    localStorage.setItem('pulse.prefs', JSON.stringify({ grain: state.grain, platforms: [...state.platforms] }));
  } catch { /* private mode: preferences are not kept */ }
}

/** The metrics window for a grain: [from, to) plus the last bucket's start. */
function rangeFor(grain, now = new Date()) {
  const y = now.getUTCFullYear(), m = now.getUTCMonth(), d = now.getUTCDate(), hr = now.getUTCHours();
  let from, to, last;
  switch (grain) {
    case 'HOUR': to = Date.UTC(y, m, d, hr + 1); from = Date.UTC(y, m, d, hr - 47); last = Date.UTC(y, m, d, hr); break;
    case 'MONTH': to = Date.UTC(y, m + 1, 1); from = Date.UTC(y, m - 11, 1); last = Date.UTC(y, m, 1); break;
    case 'YEAR': to = Date.UTC(y + 1, 0, 1); from = Date.UTC(y - 4, 0, 1); last = Date.UTC(y, 0, 1); break;
    default: to = Date.UTC(y, m, d + 1); from = Date.UTC(y, m, d - 29); last = Date.UTC(y, m, d);
  }
  return { from: new Date(from), to: new Date(to), last: new Date(last) };
}

const grainInfo = () => GRAINS.find((g) => g.id === state.grain);
const allAccounts = () => state.links.flatMap((pl) => pl.accounts);
const selectedPlatforms = () => ALL_PLATFORMS.filter((p) => state.platforms.has(p));
// null means every platform (and keeps queries short).
const platformVar = () => (state.platforms.size === ALL_PLATFORMS.length ? null : selectedPlatforms());

/** An account's handle: from its link, else (once unlinked) from its data. */
function handleFor(platform, accountId) {
  const same = (x) => x.platform === platform && x.accountId === accountId;
  return allAccounts().find(same)?.handle || state.series?.find(same)?.handle ||
    state.summary?.accounts.find(same)?.handle || accountId;
}

/** Stable colors: by position among linked accounts, then series order. */
function colorFor(key) {
  const keys = allAccounts().map((a) => accountKey(a.platform, a.accountId));
  for (const s of state.series || []) {
    const k = accountKey(s.platform, s.accountId);
    if (!keys.includes(k)) keys.push(k);
  }
  const i = keys.indexOf(key);
  return COLORS[(i < 0 ? keys.length : i) % COLORS.length];
}

// ---- routing ---------------------------------------------------------------

const root = document.getElementById('app');

function currentRoute() {
  const r = location.hash.replace(/^#/, '');
  if (r === '/accounts' || r.startsWith('/accounts?')) return '/accounts';
  if (r.startsWith('/verify?')) return '/verify';
  return r === '/signup' || r === '/signin' ? r : '/';
}

/** Reads the OAuth callback's result from #/accounts?linked=… or ?link_error=…. */
function takeLinkResult() {
  const q = new URLSearchParams(location.hash.split('?')[1] || '');
  const name = (p) => platformName(String(p || '').toUpperCase()) || 'the account';
  if (q.get('choose')) {
    state.choose = q.get('choose'); // a consent covering several accounts: ask which
  } else if (q.get('linked')) {
    state.flash = { kind: 'ok', text: `${name(q.get('linked'))} account linked. ${FIRST_DATA}` };
  } else if (q.get('link_error')) {
    const reason = q.get('link_error');
    const n = name(q.get('platform'));
    state.flash = { kind: 'error', text: LINK_ERRORS[reason]?.(n) || `Couldn't link ${n} (${reason}).` };
  }
}

function go(route) {
  if (location.hash !== '#' + route) history.replaceState(null, '', '#' + route);
  render();
}

function render(notice) {
  const route = currentRoute();
  if (route === '/verify') {
    verifySignUp();
    return;
  }
  if (!state.user) {
    stopPolling();
    stopLive();
    closeDialogs();
    ui?.chart?.destroy();
    ui?.reachChart?.destroy();
    ui = null;
    const mode = route === '/signup' ? 'signup' : 'signin';
    if (route !== '/' + mode) history.replaceState(null, '', '#/' + mode);
    renderAuth(mode, notice);
    return;
  }
  if (route === '/accounts') takeLinkResult();
  if (route !== '/') history.replaceState(null, '', '#/');
  if (!ui) renderDashboard();
  else renderFlash();
  if (route === '/accounts') {
    const panel = document.getElementById('accounts');
    panel.scrollIntoView({ block: 'start' });
    panel.focus({ preventScroll: true });
    refreshAll();
  }
  if (state.choose) {
    const grant = state.choose;
    state.choose = null;
    chooseAccounts(grant);
  }
}

/**
 * Asks which accounts of a consent that covered several (a Facebook login
 * managing several Pages) to link; none is linked until the user chooses.
 */
async function chooseAccounts(grantId) {
  let g;
  try {
    const { data, errors } = await gql(Q_PENDING_GRANT, { id: grantId });
    if (errors.length) throw errors[0];
    g = data.pendingGrant;
  } catch (e) {
    if (failed(e)) return;
    throw e;
  }
  if (!g) {
    state.flash = { kind: 'error', text: 'That choice of accounts expired or was already made. Link again to choose.' };
    renderFlash();
    return;
  }
  const name = platformName(g.platform);
  const boxes = g.accounts.map((a) => h('label', { class: 'choice' },
    h('input', { type: 'checkbox', name: 'account', value: a.accountId }), ' ',
    a.handle || a.accountId, a.linked ? h('span', { class: 'muted small' }, ' (already linked)') : null));
  let linked = [];
  const done = await openDialog({
    title: `Choose the ${name} accounts to link`,
    body: [
      `Your ${name} login shares ${g.accounts.length} accounts. Pulse links only the ones you tick; each becomes its own link, with its history.`,
      h('fieldset', { class: 'choices' }, h('legend', { class: 'sr-only' }, 'Accounts'), boxes),
    ],
    confirmLabel: 'Link selected', busyLabel: 'Linking…', confirmClass: 'btn-primary',
    onConfirm: async () => {
      const ids = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
      if (!ids.length) throw new Error('Tick at least one account, or cancel to link none.');
      const { data, errors } = await gql(M_LINK_ACCOUNTS, { grant: g.id, ids });
      if (errors.length) throw errors[0];
      linked = data.linkAccounts;
    },
  });
  if (!done) return;
  state.flash = { kind: 'ok', text: `${linked.length} ${name} account${linked.length === 1 ? '' : 's'} linked. ${FIRST_DATA}` };
  renderFlash();
  refreshAll();
}

window.addEventListener('hashchange', () => render());

// ---- sign in / sign up ------------------------------------------------------

function renderAuth(mode, notice) {
  const signup = mode === 'signup';
  const error = h('div', { class: 'form-error', role: 'alert', id: 'auth-error', hidden: true });
  const email = h('input', {
    id: 'email', name: 'email', type: 'email', required: true, autocomplete: signup ? 'email' : 'username',
    inputmode: 'email', spellcheck: 'false', 'aria-describedby': 'auth-error',
  });
  const password = h('input', {
    id: 'password', name: 'password', type: 'password', required: true,
    autocomplete: signup ? 'new-password' : 'current-password',
    minlength: signup ? 10 : null, 'aria-describedby': signup ? 'password-hint auth-error' : 'auth-error',
  });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, signup ? 'Create account' : 'Sign in');
  const form = h('form', { class: 'auth-form', novalidate: false },
    h('div', { class: 'field' }, h('label', { for: 'email' }, 'Email'), email),
    h('div', { class: 'field' },
      h('label', { for: 'password' }, 'Password'), password,
      signup ? h('p', { class: 'hint', id: 'password-hint' }, 'At least 10 characters.') : null),
    error,
    submit,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    email.removeAttribute('aria-invalid');
    password.removeAttribute('aria-invalid');
    submit.disabled = true;
    submit.textContent = signup ? 'Creating account…' : 'Signing in…';
    try {
      const res = await auth(signup ? 'signup' : 'login', { email: email.value.trim(), password: password.value });
      if (signup) {
        // The account exists once the link mailed to the address is opened.
        history.replaceState(null, '', '#/signin');
        renderCheckMail(res.email);
        return;
      }
      state.user = res.user;
      resetData();
      go('/');
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
      const field = /password/i.test(e.message) ? password : /email/i.test(e.message) ? email : null;
      if (field) field.setAttribute('aria-invalid', 'true');
      else if (e.code === 'unauthorized') password.setAttribute('aria-invalid', 'true');
      submit.disabled = false;
      submit.textContent = signup ? 'Create account' : 'Sign in';
      (field || password).focus();
    }
  });

  replace(root,
    h('main', { class: 'auth', id: 'main' },
      h('div', { class: 'auth-card' },
        brand(),
        h('h1', null, signup ? 'Create your account' : 'Sign in to Pulse'),
        h('p', { class: 'muted' }, signup
          ? 'Track followers and posts across Facebook, Instagram, X and LinkedIn.'
          : 'Welcome back. Your social analytics are waiting.'),
        notice ? h('p', { class: 'notice', role: 'status' }, notice) : null,
        form,
        h('p', { class: 'auth-switch' }, signup ? 'Already have an account? ' : 'New to Pulse? ',
          h('a', { href: signup ? '#/signin' : '#/signup' }, signup ? 'Sign in' : 'Create an account')),
      )));
  document.title = (signup ? 'Create account' : 'Sign in') + ' · Pulse';
  email.focus();
}

/** After a sign-up: the account is created by the link mailed to email. */
function renderCheckMail(email) {
  replace(root,
    h('main', { class: 'auth', id: 'main' },
      h('div', { class: 'auth-card' },
        brand(),
        h('h1', { tabindex: '-1', id: 'check-mail' }, 'Check your mail'),
        h('p', { class: 'notice', role: 'status' },
          `We sent a link to ${email}. Open it within 24 hours to finish creating your account.`),
        h('p', { class: 'muted' }, 'If this address already has an account, the mail tells you so instead.'),
        h('p', { class: 'auth-switch' }, h('a', { href: '#/signin' }, 'Back to sign in')))));
  document.title = 'Check your mail · Pulse';
  document.getElementById('check-mail').focus();
}

/** Opens the link a sign-up mailed: creates the account and signs in. */
async function verifySignUp() {
  const token = new URLSearchParams(location.hash.split('?')[1] || '').get('token') || '';
  // The token leaves the address bar (and history) at once.
  history.replaceState(null, '', '#/signin');
  replace(root, h('main', { class: 'auth', id: 'main' }, h('div', { class: 'auth-card' }, brand(),
    h('h1', null, 'Creating your account…'))));
  try {
    const res = await auth('verify', { token });
    stopPolling();
    stopLive();
    ui?.chart?.destroy();
    ui?.reachChart?.destroy();
    ui = null;
    state.user = res.user;
    resetData();
    go('/');
  } catch (e) {
    render(e.status === 404
      ? 'That link is invalid, already used or expired. Sign up again to get a new one.'
      : e.message);
  }
}

function brand() {
  return h('div', { class: 'brand' },
    h('svg:svg', { viewBox: '0 0 32 32', width: 28, height: 28, 'aria-hidden': 'true', class: 'brand-mark' },
      h('svg:rect', { width: 32, height: 32, rx: 8 }),
      h('svg:path', { d: 'M5 17h5l3-7 5 13 3-6h6' })),
    h('span', null, 'Pulse'));
}

// ---- dashboard shell --------------------------------------------------------

function renderDashboard() {
  const status = h('span', { class: 'sync', role: 'status' });
  const signOut = h('button', { type: 'button', class: 'btn btn-ghost', onclick: onSignOut }, 'Sign out');
  ui = {
    status,
    flash: h('div', { class: 'flash-area' }),
    accounts: h('div', { class: 'accounts-body' }),
    accountsHead: h('div', { class: 'panel-actions' }),
    filters: h('div', { class: 'filters' }),
    metricsHead: h('p', { class: 'panel-sub' }),
    grain: h('div', { class: 'grain' }),
    metrics: h('div', { class: 'metrics-body' }),
    now: h('div', { class: 'now', 'aria-labelledby': 'now-title' }),
    feed: h('div', { class: 'feed-body' }),
    chart: null,
  };
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
            ui.metrics),
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
  renderMetrics();
  renderFeed();
  renderStatus();
  startPolling();
  startLive();
  startTicking();
  refreshAll();
}

function renderFlash() {
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
  replace(ui.grain,
    h('fieldset', { class: 'segmented' },
      h('legend', { class: 'visually-hidden' }, 'Time grain'),
      GRAINS.map((g) => h('label', null,
        h('input', {
          type: 'radio', name: 'grain', value: g.id, checked: state.grain === g.id,
          dataset: { focusKey: 'grain-' + g.id },
          onchange: () => {
            state.grain = g.id;
            savePrefs();
            state.series = null;
            renderMetrics();
            loadMetrics();
          },
        }),
        h('span', null, g.label)))));
}

// ---- data loading -------------------------------------------------------------

function resetData() {
  Object.assign(state, {
    links: [], series: null, posts: null, feedDone: false, feedError: '', hidden: new Set(),
    refreshNotes: new Map(), updatedAt: null, pollError: '', flash: null, summary: null, refreshQueued: false,
  });
  shownFollowers.clear();
}

function metricsVars() {
  const r = rangeFor(state.grain);
  return { grain: state.grain, from: r.from.toISOString(), to: r.to.toISOString(), platforms: platformVar() };
}

/** Handles an error from a query: signs out on UNAUTHENTICATED. */
function failed(e) {
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
async function refreshAll() {
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
    if (t.feed === seq.feed && any && data.feed) mergeFeed(data.feed, limit);
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
    state.posts = null;
    mergeFeed(data.feed, FEED_PAGE);
    state.feedError = '';
  } catch (e) {
    if (failed(e) || t !== seq.feed) return;
    state.feedError = e.message;
  }
  renderFeed();
}

/** Merges a fresh newest page into the loaded posts, keeping older pages. */
function mergeFeed(fresh, limit) {
  const key = (p) => p.platform + ':' + p.id;
  if (fresh.length < limit || !state.posts) {
    state.feedDone = state.posts && fresh.length === limit ? state.feedDone : fresh.length < limit;
    state.posts = fresh;
    return;
  }
  const seen = new Set(fresh.map(key));
  const cutoff = Date.parse(fresh.at(-1).createdAt);
  const older = state.posts.filter((p) => !seen.has(key(p)) && Date.parse(p.createdAt) < cutoff);
  state.posts = fresh.concat(older);
}

async function loadMore() {
  if (!state.posts?.length || state.feedLoadingMore) return;
  const t = seq.feed;
  state.feedLoadingMore = true;
  renderFeed();
  try {
    const before = state.posts.at(-1).createdAt;
    const { data, errors } = await gql(Q_FEED, { platforms: platformVar(), before, limit: FEED_PAGE });
    if (errors.some(failed)) return;
    if (t === seq.feed) {
      const seen = new Set(state.posts.map((p) => p.platform + ':' + p.id));
      state.posts = state.posts.concat(data.feed.filter((p) => !seen.has(p.platform + ':' + p.id)));
      state.feedDone = data.feed.length < FEED_PAGE;
      state.feedError = '';
    }
  } catch (e) {
    if (failed(e)) return;
    state.feedError = e.message;
  } finally {
    state.feedLoadingMore = false;
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
let graceTimer = 0;

function startLive() {
  state.live = 'connecting';
  live.start();
  clearTimeout(graceTimer);
  graceTimer = setTimeout(() => {
    graceTimer = 0;
    renderNow();
  }, LIVE_GRACE_MS);
}

function stopLive() {
  live.stop();
  clearTimeout(graceTimer);
  graceTimer = 0;
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
  stopPolling();
  // The first summary of a connection is the current one; refresh only
  // when something was observed since the numbers shown.
  if (prev && observedKey(prev) !== observedKey(summary)) scheduleLiveRefresh();
  renderNow();
  renderStatus();
}

function observedKey(summary) {
  return (summary.updatedAt || '') + '|' + summary.accounts.map((a) => a.linkId + '@' + a.observedAt).join(',');
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

function retryText() {
  const s = Math.ceil((state.liveRetryAt - Date.now()) / 1000);
  return s > 0 ? `retrying in ${s}s` : 'retrying…';
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

// ---- accounts ------------------------------------------------------------------

function statusPill(status) {
  return h('span', { class: ['pill', `pill-${status.toLowerCase().replace('_', '-')}`] }, STATUS_LABEL[status] || status);
}

function badge(platform) {
  return h('span', { class: ['badge', `badge-${platformSlug(platform)}`] }, platformName(platform));
}

function timeEl(iso, text) {
  return h('time', { datetime: iso, title: fmtDateTime(iso) }, text ?? fmtRelative(iso));
}

function renderAccounts() {
  if (!ui) return;
  const accounts = allAccounts();
  root.querySelector('.layout')?.classList.toggle('no-links', !!state.updatedAt && !accounts.length);
  const active = accounts.filter((a) => a.status === 'ACTIVE');
  const allNote = state.refreshNotes.get('all');
  replace(ui.accountsHead,
    active.length > 1 ? h('button', {
      type: 'button', class: 'btn btn-small', dataset: { focusKey: 'refresh-all' },
      disabled: allNote?.busy, onclick: () => onRefresh(null),
    }, 'Refresh all') : null,
    allNote ? h('span', { class: ['note', allNote.kind && 'note-' + allNote.kind], role: 'status' }, allNote.text) : null);

  if (!state.links.length) {
    replace(ui.accounts, h('p', { class: 'muted' }, state.updatedAt ? 'No platforms available.' : 'Loading accounts…'));
    return;
  }
  replace(ui.accounts, h('ul', { class: 'platforms' }, state.links.map(platformCard)));
}

function platformCard(pl) {
  const name = platformName(pl.platform);
  const linked = pl.accounts.length > 0;
  const linkLabel = !linked ? `Link ${name}` : pl.status !== 'ACTIVE' ? `Reconnect ${name}` : 'Link another';
  // linkable is false when this server has no connector for the platform.
  const canLink = pl.linkable !== false;
  return h('li', { class: 'platform', dataset: { platform: pl.platform } },
    h('div', { class: 'platform-head' }, badge(pl.platform), statusPill(pl.status)),
    linked ? h('ul', { class: 'accounts' }, pl.accounts.map(accountRow)) : null,
    linked && !canLink ? null : h('div', { class: 'platform-foot' },
      linked ? null : h('p', { class: 'muted small' }, canLink ? 'No account linked.' : 'Not available on this server yet.'),
      canLink ? h('p', { class: 'muted small history-note' }, pl.historyDays > 0
        ? `Linking reads the last ${pl.historyDays} days of history.`
        : `No history: ${name} serves none, so numbers start when you link.`) : null,
      canLink ? h('a', {
        class: ['btn', 'btn-small', 'link-btn', linkLabel === 'Link another' ? 'btn-ghost' : 'btn-primary'],
        href: `/oauth/${platformSlug(pl.platform)}/start`,
        'aria-label': linkLabel === 'Link another' ? `Link another ${name} account` : null,
      }, linkLabel) : null));
}

function accountRow(a) {
  const note = state.refreshNotes.get(a.id);
  const key = accountKey(a.platform, a.accountId);
  const active = a.status === 'ACTIVE';
  return h('li', { class: 'account', dataset: { linkId: a.id } },
    h('div', { class: 'account-main' },
      h('span', { class: 'swatch', style: { '--c': colorFor(key) }, 'aria-hidden': 'true' }),
      h('span', { class: 'handle', title: a.handle }, a.handle || a.accountId),
      active ? null : statusPill(a.status)),
    active
      ? h('button', {
        type: 'button', class: 'btn btn-small refresh-btn', disabled: note?.busy,
        dataset: { focusKey: 'refresh-' + a.id }, 'aria-label': `Refresh ${a.handle}`,
        onclick: () => onRefresh(a.id),
      }, note?.busy ? 'Refreshing…' : 'Refresh')
      : null,
    h('div', { class: 'account-meta small muted' },
      a.lastFetchedAt ? ['Fetched ', timeEl(a.lastFetchedAt)] : 'Waiting for first fetch',
      active && a.lastFetchedAt && a.nextFetchAt && Date.parse(a.nextFetchAt) > Date.now() + 45_000
        ? [' · next ', timeEl(a.nextFetchAt)] : null),
    h('button', {
      type: 'button', class: 'btn-text unlink-btn',
      dataset: { focusKey: 'unlink-' + a.id }, 'aria-label': `Unlink ${a.handle} (${platformName(a.platform)})`,
      onclick: (ev) => onUnlink(a, ev.currentTarget),
    }, 'Unlink'),
    a.statusReason && !active ? h('p', { class: 'reason small' }, a.statusReason) : null,
    active ? h('p', { class: ['note', 'refresh-note', note?.kind && 'note-' + note.kind], role: 'status' }, note && !note.busy ? note.text : '') : null);
}

async function onUnlink(a, opener) {
  const name = platformName(a.platform);
  const handle = a.handle || a.accountId;
  const done = await openDialog({
    title: `Unlink ${handle}?`,
    body: [
      `Pulse will stop fetching this ${name} account and delete its stored access tokens.`,
      'Analytics already collected for it are kept until you delete your Pulse account. You can link it again at any time.',
    ],
    confirmLabel: 'Unlink account', busyLabel: 'Unlinking…', opener,
    onConfirm: async () => {
      try {
        const { errors } = await gql(M_UNLINK, { id: a.id });
        if (errors.length) throw errors[0];
      } catch (e) {
        if (e.code === 'NOT_FOUND') return; // already gone: the outcome wanted
        if (failed(e)) return;
        throw e;
      }
    },
  });
  if (!done || !state.user || !ui) return;
  // Drop it now (and any links already being loaded, which may still list
  // it); the refresh below confirms.
  seq.links++;
  state.links = state.links.map((pl) => {
    const accounts = pl.accounts.filter((x) => x.id !== a.id);
    if (accounts.length === pl.accounts.length) return pl;
    const status = accounts.some((x) => x.status === 'ACTIVE') ? 'ACTIVE' : accounts[0]?.status ?? 'NOT_LINKED';
    return { ...pl, accounts, status };
  });
  state.refreshNotes.delete(a.id);
  state.flash = { kind: 'ok', text: `Unlinked ${handle} (${name}). Pulse no longer fetches it.` };
  renderFlash();
  renderAccounts();
  renderMetrics();
  renderFeed();
  document.getElementById('accounts')?.focus({ preventScroll: true });
  refreshAll();
}

async function onRefresh(linkId) {
  const id = linkId ?? 'all';
  const mark = {};
  state.refreshNotes.set(id, { busy: true, text: 'Refreshing…', mark });
  renderAccounts();
  let note;
  try {
    const { data, errors } = await gql(M_REFRESH, { id: linkId });
    if (errors.length) throw errors[0];
    const n = data.refresh;
    note = n > 0
      ? { kind: 'ok', text: linkId ? 'Queued' : `Queued ${n} account${n === 1 ? '' : 's'}` }
      : { kind: 'info', text: 'Already queued' };
  } catch (e) {
    if (failed(e)) return;
    note = { kind: 'error', text: e.message };
  }
  note.mark = mark;
  state.refreshNotes.set(id, note);
  renderAccounts();
  setTimeout(() => {
    if (state.refreshNotes.get(id)?.mark === mark) {
      state.refreshNotes.delete(id);
      renderAccounts();
    }
  }, REFRESH_NOTE_MS);
}

// ---- dialogs ----------------------------------------------------------------------

let dialogSeq = 0;

/**
 * Opens a modal confirmation. onConfirm(password) runs on submit; when it
 * throws, its message is shown and the dialog stays open. Resolves true
 * once onConfirm succeeded, false when cancelled.
 */
function openDialog({ title, body, confirmLabel, busyLabel, password = false, opener, onConfirm, confirmClass = 'btn-danger' }) {
  return new Promise((resolve) => {
    const id = 'dialog-' + ++dialogSeq;
    let busy = false;
    let done = false;
    const error = h('p', { class: 'form-error', role: 'alert', id: 'dialog-error', hidden: true });
    const input = password ? h('input', {
      id: 'dialog-password', name: 'password', type: 'password', autocomplete: 'current-password',
      required: true, 'aria-describedby': 'dialog-error',
    }) : null;
    const confirm = h('button', { type: 'submit', class: ['btn', confirmClass, 'dialog-confirm'] }, confirmLabel);
    const cancel = h('button', {
      type: 'button', class: 'btn dialog-cancel',
      onclick: () => {
        if (!busy) dlg.close();
      },
    }, 'Cancel');
    const setBusy = (b) => {
      busy = b;
      confirm.disabled = b;
      cancel.disabled = b;
      confirm.textContent = b ? busyLabel : confirmLabel;
    };
    const form = h('form', { class: 'dialog-body', novalidate: true },
      h('h2', { id: id + '-title' }, title),
      h('div', { id: id + '-desc', class: 'dialog-text' }, body.map((t) => (typeof t === 'string' ? h('p', null, t) : t))),
      input ? h('div', { class: 'field' }, h('label', { for: 'dialog-password' }, 'Password'), input) : null,
      error,
      h('div', { class: 'dialog-actions' }, cancel, confirm));
    const dlg = h('dialog', { class: 'dialog', 'aria-labelledby': id + '-title', 'aria-describedby': id + '-desc' }, form);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (busy) return;
      setBusy(true);
      error.hidden = true;
      input?.removeAttribute('aria-invalid');
      try {
        await onConfirm(input?.value);
        done = true;
        dlg.close();
      } catch (e) {
        setBusy(false);
        error.textContent = e.message;
        error.hidden = false;
        if (input) {
          input.setAttribute('aria-invalid', 'true');
          input.select();
          input.focus();
        } else {
          confirm.focus();
        }
      }
    });
    dlg.addEventListener('cancel', (ev) => {
      if (busy) ev.preventDefault(); // Escape while the request runs
    });
    dlg.addEventListener('close', () => {
      dlg.remove();
      resolve(done);
      if (opener?.isConnected) opener.focus();
    });
    document.body.append(dlg);
    dlg.showModal();
    (input || cancel).focus(); // the safe choice first
  });
}

function closeDialogs() {
  for (const d of document.querySelectorAll('dialog.dialog[open]')) d.close();
}

// ---- account deletion ---------------------------------------------------------------

function dangerZone() {
  return h('section', { class: 'panel panel-danger', id: 'danger-zone', 'aria-labelledby': 'danger-title' },
    h('div', { class: 'panel-head' },
      h('div', null, h('h2', { id: 'danger-title' }, 'Danger zone'),
        h('p', { class: 'panel-sub' }, 'Permanent changes to your Pulse account'))),
    h('div', { class: 'danger-row' },
      h('div', null,
        h('h3', null, 'Delete my Pulse account'),
        h('p', { class: 'muted small' },
          'Deletes your account, your linked accounts and their tokens, and all the analytics Pulse collected for you. This cannot be undone.')),
      h('button', {
        type: 'button', class: 'btn btn-danger-outline delete-account-btn',
        onclick: (ev) => onDeleteAccount(ev.currentTarget),
      }, 'Delete account…')));
}

/** The message for a failed deleteAccount, by the API's code. */
function deleteAccountError(e) {
  const kept = ' Your account has not been deleted.';
  switch (e.code) {
    case 'FORBIDDEN':
      return 'That password is not correct.' + kept;
    case 'BAD_USER_INPUT':
      return (/password/i.test(e.message) ? 'That password is not correct.' : e.message) + kept;
    case 'THROTTLED': {
      const when = /try again in [^.;]+/i.exec(e.message)?.[0];
      return 'Too many password attempts.' + (when ? ` ${when[0].toUpperCase()}${when.slice(1)}.` : ' Please wait and try again.');
    }
    default:
      return e.message;
  }
}

async function onDeleteAccount(opener) {
  const done = await openDialog({
    title: 'Delete your Pulse account?',
    body: [
      'This permanently deletes your account, your linked accounts and their stored tokens, and all the analytics Pulse has collected for you.',
      'This cannot be undone. Enter your password to confirm.',
    ],
    password: true, confirmLabel: 'Delete my account', busyLabel: 'Deleting…', opener,
    onConfirm: async (password) => {
      if (!password) throw new Error('Enter your password to confirm.');
      try {
        const { data, errors } = await gql(M_DELETE_ACCOUNT, { password });
        if (errors.length || !data.deleteAccount) throw errors[0] || new ApiError('INTERNAL', 'The account was not deleted.');
      } catch (e) {
        if (failed(e)) return;
        throw new Error(deleteAccountError(e));
      }
    },
  });
  if (!done || !state.user) return;
  try {
    await auth('logout'); // clears the cookie; the session itself went with the account
  } catch { /* nothing left to sign out of */ }
  state.user = null;
  resetData();
  history.replaceState(null, '', '#/signin');
  render('Your Pulse account has been deleted, along with its linked accounts and analytics.');
}

// ---- metrics ---------------------------------------------------------------------

function emptyState(title, body, action) {
  return h('div', { class: 'empty' },
    h('div', { class: 'empty-icon', 'aria-hidden': 'true' },
      h('svg:svg', { viewBox: '0 0 24 24', width: 28, height: 28 },
        h('svg:path', { d: 'M3 17l5-6 4 4 7-9', fill: 'none', 'stroke-width': 2, 'stroke-linecap': 'round', 'stroke-linejoin': 'round' }))),
    h('h3', null, title),
    body ? h('p', { class: 'muted' }, body) : null,
    action);
}

function linkCta() {
  return h('button', {
    type: 'button', class: 'btn btn-primary',
    onclick: () => {
      const el = document.getElementById('accounts');
      el.scrollIntoView({ behavior: matchMedia('(prefers-reduced-motion: reduce)').matches ? 'auto' : 'smooth', block: 'start' });
      el.focus({ preventScroll: true });
    },
  }, 'Link an account');
}

/** The empty state shared by metrics and feed, or null when there is data to show. */
function noDataState(what) {
  if (state.updatedAt && !allAccounts().length) {
    return emptyState('Link an account to start', `Connect Facebook, Instagram, X or LinkedIn to see your ${what} here.`, linkCta());
  }
  if (state.platforms.size === 0) return emptyState('No platforms selected', 'Choose at least one platform above.');
  return null;
}

function renderMetrics() {
  if (!ui) return;
  const g = grainInfo();
  const r = rangeFor(state.grain);
  ui.metricsHead.textContent = `${g.range[0].toUpperCase()}${g.range.slice(1)}, ${g.by}`;
  const empty = noDataState('follower growth');
  if (empty || state.series === null) {
    ui.chart?.destroy();
    ui.chart = null;
    ui.reachChart?.destroy();
    ui.reachChart = null;
    replace(ui.metrics, empty || h('div', { class: 'skeleton chart-skeleton', 'aria-busy': 'true' }, h('span', { class: 'visually-hidden' }, 'Loading metrics…')),
      empty ? null : ui.now);
    renderNow();
    return;
  }
  const series = chartSeries();
  if (!series.length) {
    ui.chart?.destroy();
    ui.chart = null;
    ui.reachChart?.destroy();
    ui.reachChart = null;
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
  const reach = visible
    .map((s) => ({ ...s, points: s.all.filter((p) => p.reach != null).map((p) => ({ at: new Date(p.at), followers: p.reach })) }))
    .filter((s) => s.points.length);
  const reachBox = reach.length ? ui.reachChart?.el || h('div') : null;
  if (!reach.length && ui.reachChart) {
    ui.reachChart.destroy();
    ui.reachChart = null;
  }
  replace(ui.metrics, legend, chartBox,
    h('p', { class: 'hint chart-hint' }, 'Hover or focus the chart and use the arrow keys to read values.'),
    reachBox ? h('h3', { class: 'chart-title reach-title' }, `Reach, ${g.by}`) : null,
    reachBox,
    ui.now);
  renderNow();
  if (!ui.chart) ui.chart = new FollowersChart(chartBox);
  const label = `Followers per account, ${g.range}, ${g.by}. ` +
    visible.map((s) => `${s.handle} on ${s.platformName}: ${fmtInt(s.points.at(-1).followers)}`).join('; ') + '.';
  ui.chart.update({ series: visible, grain: state.grain, from: r.from, last: r.last, label });
  if (reachBox) {
    if (!ui.reachChart) ui.reachChart = new FollowersChart(reachBox);
    const reachLabel = `Accounts reached per account, ${g.range}, ${g.by}. ` +
      reach.map((s) => `${s.handle} on ${s.platformName}: ${fmtInt(s.points.at(-1).followers)}`).join('; ') + '.';
    ui.reachChart.update({ series: reach, grain: state.grain, from: r.from, last: r.last, label: reachLabel });
  }
}

/**
 * The loaded series with points, ready for the chart and the cards. A
 * bucket with post activity but no follower reading (hours 0) has no
 * follower values, so it is left out rather than drawn as a drop to zero.
 */
function chartSeries() {
  return (state.series || [])
    .map((s) => ({ ...s, all: s.points, points: s.points.filter((p) => p.hours > 0) }))
    .filter((s) => s.points.length)
    .map((s) => {
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
function renderNow() {
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
  if (!live && graceTimer && state.live === 'connecting') {
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
const shownFollowers = new Map(); // link id -> followers last shown, to highlight changes

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
  const pts = s.raw;
  const cur = pts.at(-1).followers;
  const first = pts[0].followers;
  const change = cur - first;
  const pct = first ? change / first : null;
  const avg = pts.reduce((sum, p) => sum + p.followersAvg, 0) / pts.length;
  const min = Math.min(...pts.map((p) => p.followersMin));
  const max = Math.max(...pts.map((p) => p.followersMax));
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

// ---- feed --------------------------------------------------------------------------

function renderFeed() {
  if (!ui) return;
  const empty = noDataState('posts');
  if (empty) {
    replace(ui.feed, empty);
    return;
  }
  if (state.posts === null) {
    replace(ui.feed, state.feedError
      ? h('p', { class: 'form-error' }, state.feedError)
      : h('div', { class: 'skeleton feed-skeleton', 'aria-busy': 'true' }, h('span', { class: 'visually-hidden' }, 'Loading posts…')));
    return;
  }
  if (!state.posts.length) {
    replace(ui.feed, emptyState('No posts yet', FIRST_DATA + ' New posts show up here automatically.'));
    return;
  }
  const more = state.feedDone
    ? h('p', { class: 'muted small feed-end' }, "You're all caught up.")
    : h('button', {
      type: 'button', class: 'btn load-more', disabled: state.feedLoadingMore,
      dataset: { focusKey: 'load-more' }, onclick: loadMore,
    }, state.feedLoadingMore ? 'Loading…' : 'Load more');
  replace(ui.feed,
    h('ol', { class: 'posts' }, state.posts.map(postItem)),
    state.feedError ? h('p', { class: 'form-error', role: 'alert' }, state.feedError) : null,
    h('div', { class: 'feed-more' }, more));
}

function safeURL(u) {
  try {
    const url = new URL(u, location.href);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}

function postItem(p) {
  const handle = handleFor(p.platform, p.accountId);
  const link = safeURL(p.permalink);
  const stats = [['likes', p.likes], ['comments', p.comments], ['shares', p.shares]];
  if (p.views > 0) stats.push(['views', p.views]);
  return h('li', { class: 'post', dataset: { platform: p.platform, postId: p.id } },
    h('article', { 'aria-label': `${platformName(p.platform)} post by ${handle}` },
      h('header', { class: 'post-head' },
        badge(p.platform),
        h('span', { class: 'post-handle' }, handle),
        h('span', { class: 'post-time muted' }, timeEl(p.createdAt))),
      p.text ? h('p', { class: 'post-text' }, p.text) : h('p', { class: 'post-text muted' }, 'No text'),
      h('footer', { class: 'post-foot' },
        h('ul', { class: 'post-stats' }, stats.map(([label, n]) =>
          h('li', null, h('strong', { title: fmtInt(n) }, fmtCompact(n)), ' ', label))),
        link ? h('a', { class: 'permalink', href: link, target: '_blank', rel: 'noopener noreferrer' },
          `View on ${platformName(p.platform)}`, h('span', { 'aria-hidden': 'true' }, ' ↗'),
          h('span', { class: 'visually-hidden' }, ' (opens in a new tab)')) : null)));
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
