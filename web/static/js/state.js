// The dashboard's shared state: what was loaded, the user's preferences,
// the elements of the shown dashboard, and helpers derived from them.
// Views read and change it; app.js loads data into it.

import { ALL_PLATFORMS, GRAINS, accountKey, colorOf, parsePrefs, rangeFor } from './model.js';

function loadPrefs() {
  try {
    return parsePrefs(localStorage.getItem('pulse.prefs'));
  } catch {
    return parsePrefs(null); // storage unavailable
  }
}

const prefs = loadPrefs();

export const state = {
  user: null,
  links: [],
  grain: prefs.grain,
  custom: null, // a custom range {grain, from, to, last, fromDate, toDate} (model.customRange), or null
  platforms: new Set(prefs.platforms),
  hidden: new Set(), // account keys hidden from the chart via the legend
  series: null, // null until loaded
  trends: null, // the totals' trends per platform, null until loaded
  posts: null,
  top: null, // the top posts of the chart's range, null until loaded
  topBy: 'LIKES',
  topError: '',
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
  liveGrace: false, // the subscription is connecting: the cards wait for it
};

/** Request counters: an answer older than the newest request is dropped. */
export const seq = { links: 0, metrics: 0, feed: 0, top: 0 };

/** The dashboard's elements while it is shown, else null. */
export let ui = null;

export function setUi(u) {
  ui = u;
}

export function savePrefs() {
  try {
    localStorage.setItem('pulse.prefs', JSON.stringify({ grain: state.grain, platforms: [...state.platforms] }));
  } catch { /* private mode: preferences are not kept */ }
}

/** The chart's window: the custom range when set, else the grain's: {grain, from, to, last}. */
export const shownRange = () => state.custom || { grain: state.grain, ...rangeFor(state.grain) };
/** The shown grain's labels; a custom range reads "chosen range". */
export function grainInfo() {
  const g = GRAINS.find((x) => x.id === shownRange().grain);
  return state.custom ? { ...g, range: 'chosen range' } : g;
}
export const allAccounts = () => state.links.flatMap((pl) => pl.accounts);
export const selectedPlatforms = () => ALL_PLATFORMS.filter((p) => state.platforms.has(p));
// null means every platform (and keeps queries short).
export const platformVar = () => (state.platforms.size === ALL_PLATFORMS.length ? null : selectedPlatforms());

/** An account's handle: from its link, else (once unlinked) from its data. */
export function handleFor(platform, accountId) {
  const same = (x) => x.platform === platform && x.accountId === accountId;
  return allAccounts().find(same)?.handle || state.series?.find(same)?.handle ||
    state.summary?.accounts.find(same)?.handle || accountId;
}

/** Stable colors: by position among linked accounts, then series order. */
export function colorFor(key) {
  const keys = allAccounts().map((a) => accountKey(a.platform, a.accountId));
  for (const s of state.series || []) {
    const k = accountKey(s.platform, s.accountId);
    if (!keys.includes(k)) keys.push(k);
  }
  return colorOf(keys, key);
}

/** The element the app renders into. */
export const root = document.getElementById('app');
