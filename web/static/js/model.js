// Pure dashboard logic: constants, date ranges, feed merging, series
// preparation and figures. Nothing here touches the DOM, storage or the
// network, so `node --test` checks it (web/test/).

export const PLATFORMS = { FACEBOOK: 'Facebook', INSTAGRAM: 'Instagram', X: 'X', LINKEDIN: 'LinkedIn' };
export const ALL_PLATFORMS = Object.keys(PLATFORMS);
export const STATUS_LABEL = { NOT_LINKED: 'Not linked', ACTIVE: 'Active', NEEDS_REAUTH: 'Needs re-auth', REVOKED: 'Revoked' };
export const GRAINS = [
  { id: 'HOUR', label: 'Hour', range: 'last 48 hours', by: 'hourly' },
  { id: 'DAY', label: 'Day', range: 'last 30 days', by: 'daily' },
  { id: 'MONTH', label: 'Month', range: 'last 12 months', by: 'monthly' },
  { id: 'YEAR', label: 'Year', range: 'last 5 years', by: 'yearly' },
];
// What the top posts panel ranks by (topPosts' PostRank).
export const TOP_RANKS = [
  { id: 'LIKES', label: 'Likes', field: 'likes' },
  { id: 'COMMENTS', label: 'Comments', field: 'comments' },
  { id: 'SHARES', label: 'Shares', field: 'shares' },
  { id: 'VIEWS', label: 'Views', field: 'views' },
  { id: 'ENGAGEMENT', label: 'Engagement rate', field: null },
];
export const COLORS = ['#4f46e5', '#0891b2', '#d97706', '#059669', '#dc2626', '#9333ea', '#db2777', '#0d9488', '#ea580c', '#475569'];
export const FIRST_DATA = 'Your first data arrives within a minute of linking.';
// Reasons the OAuth callback reports in #/accounts?link_error=….
export const LINK_ERRORS = {
  access_denied: (n) => `Linking ${n} was cancelled.`,
  authorization_failed: (n) => `${n} did not authorize the link. Please try again.`,
  exchange_failed: (n) => `Couldn't complete linking ${n}. Please try again.`,
  account_failed: (n) => `Couldn't read your ${n} account. Please try again.`,
  store_failed: (n) => `Couldn't save the ${n} link. Please try again.`,
};

export const platformName = (p) => PLATFORMS[p] || p;
export const platformSlug = (p) => String(p).toLowerCase();
export const accountKey = (platform, accountId) => `${platform}:${accountId}`;

/** Preferences from their stored JSON (null or invalid: the defaults). */
export function parsePrefs(json) {
  const d = { grain: 'DAY', platforms: ALL_PLATFORMS };
  try {
    const p = JSON.parse(json || '{}');
    return {
      grain: GRAINS.some((g) => g.id === p.grain) ? p.grain : d.grain,
      platforms: Array.isArray(p.platforms) ? p.platforms.filter((x) => PLATFORMS[x]) : d.platforms,
    };
  } catch {
    return d;
  }
}

/** The metrics window for a grain: [from, to) plus the last bucket's start, all UTC. */
export function rangeFor(grain, now = new Date()) {
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

/** The route of a location hash: '/signin', '/signup', '/verify', '/accounts' or '/'. */
export function routeOf(hash) {
  const r = String(hash || '').replace(/^#/, '');
  if (r === '/accounts' || r.startsWith('/accounts?')) return '/accounts';
  if (r.startsWith('/verify?')) return '/verify';
  return r === '/signup' || r === '/signin' ? r : '/';
}

/**
 * The pending grant id in #/accounts?choose=…: a consent that covered
 * several accounts (a Facebook login managing several Pages), whose
 * accounts the user still has to choose; null otherwise.
 */
export function pendingChoice(hash) {
  return queryOf(hash).get('choose') || null;
}

/** The token of the link a sign-up mailed (#/verify?token=…), or ''. */
export function verifyToken(hash) {
  return queryOf(hash).get('token') || '';
}

const queryOf = (hash) => new URLSearchParams(String(hash || '').split('?')[1] || '');

/**
 * The flash message for the OAuth callback's result in
 * #/accounts?linked=… or ?link_error=…, or null.
 */
export function linkResult(hash) {
  const q = queryOf(hash);
  const name = (p) => platformName(String(p || '').toUpperCase()) || 'the account';
  if (q.get('linked')) return { kind: 'ok', text: `${name(q.get('linked'))} account linked. ${FIRST_DATA}` };
  if (q.get('link_error')) {
    const reason = q.get('link_error');
    const n = name(q.get('platform'));
    return { kind: 'error', text: LINK_ERRORS[reason]?.(n) || `Couldn't link ${n} (${reason}).` };
  }
  return null;
}

const postKey = (p) => p.platform + ':' + p.id;

/**
 * Merges a fresh newest page (asked for with limit) into the loaded posts
 * (null before the first page), keeping older pages. Returns the new
 * {posts, done}.
 */
export function mergeFeed(posts, done, fresh, limit) {
  if (fresh.length < limit || !posts) {
    return { posts: fresh, done: posts && fresh.length === limit ? done : fresh.length < limit };
  }
  const seen = new Set(fresh.map(postKey));
  const cutoff = Date.parse(fresh.at(-1).createdAt);
  const older = posts.filter((p) => !seen.has(postKey(p)) && Date.parse(p.createdAt) < cutoff);
  return { posts: fresh.concat(older), done };
}

/** Appends an older page to the loaded posts, dropping posts already shown. */
export function appendPage(posts, page) {
  const seen = new Set(posts.map(postKey));
  return posts.concat(page.filter((p) => !seen.has(postKey(p))));
}

/** What a summary has observed: changes when any account was observed again. */
export function observedKey(summary) {
  return (summary.updatedAt || '') + '|' + summary.accounts.map((a) => a.linkId + '@' + a.observedAt).join(',');
}

/**
 * A color per account key: by position among keys (linked accounts first,
 * then the others in series order).
 */
export function colorOf(keys, key) {
  const i = keys.indexOf(key);
  return COLORS[(i < 0 ? keys.length : i) % COLORS.length];
}

/**
 * The series' points that have a follower reading. A bucket with post
 * activity but none (hours 0) has no follower values, so it is left out
 * rather than drawn as a drop to zero. Series left without points are
 * dropped. all keeps every bucket (insights come without follower readings).
 */
export function withReadings(series) {
  return (series || [])
    .map((s) => ({ ...s, all: s.points, points: s.points.filter((p) => p.hours > 0) }))
    .filter((s) => s.points.length);
}

/**
 * An insight (reach, views, …) as chart series: for each series (with
 * all, as withReadings returns), the buckets where the platform reported
 * the field, as {at: Date, followers: value} (the chart draws followers).
 * Series whose platform reports none are dropped.
 */
export function insightSeries(series, field) {
  return series
    .map((s) => ({ ...s, points: (s.all || []).filter((p) => p[field] != null).map((p) => ({ at: new Date(p.at), followers: p[field] })) }))
    .filter((s) => s.points.length);
}

/**
 * Figures over a range's points (oldest first, each with followers,
 * followersAvg, followersMin and followersMax): the last value, its change
 * from the first, that change as a fraction of the first (null when the
 * first is 0), the mean of the buckets' averages, the minimum and maximum.
 */
export function rangeFigures(points) {
  const cur = points.at(-1).followers;
  const first = points[0].followers;
  const change = cur - first;
  return {
    cur, change,
    pct: first ? change / first : null,
    avg: points.reduce((sum, p) => sum + p.followersAvg, 0) / points.length,
    min: Math.min(...points.map((p) => p.followersMin)),
    max: Math.max(...points.map((p) => p.followersMax)),
  };
}

/** u as an absolute http(s) URL resolved against base, or null. */
export function safeURL(u, base) {
  try {
    const url = new URL(u, base);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}

/** The message for a failed deleteAccount, by the API's code. */
export function deleteAccountError(e) {
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

const JOB_DONE = new Set(['VISIBLE', 'FAILED']);

/** Whether a refresh job will not change any more. */
export const jobFinished = (job) => JOB_DONE.has(job.state);

/**
 * The note shown next to an account for its refresh job: {kind, text}.
 * fmtTime formats the time a deferred job will run.
 */
export function jobNote(job, fmtTime = (d) => new Date(d).toISOString()) {
  switch (job.state) {
    case 'QUEUED': return { kind: 'info', text: 'Queued' };
    case 'FETCHING': return { kind: 'info', text: 'Fetching…' };
    case 'PROCESSED': return { kind: 'info', text: 'Processed, updating…' };
    case 'VISIBLE': return { kind: 'ok', text: 'Up to date' };
    case 'FAILED': return { kind: 'error', text: 'Failed' + (job.reason ? ': ' + job.reason : '') };
    case 'DEFERRED': {
      const why = job.reason ? ': ' + job.reason : '';
      const when = job.runAt ? ` (runs at ${fmtTime(job.runAt)})` : '';
      return { kind: 'warn', text: 'Deferred' + why + when };
    }
  }
  return { kind: 'info', text: job.state };
}

/** A one-line summary of several jobs, e.g. "2 queued, 1 deferred". */
export function jobsSummary(jobs) {
  const order = ['QUEUED', 'FETCHING', 'PROCESSED', 'VISIBLE', 'DEFERRED', 'FAILED'];
  const label = { QUEUED: 'queued', FETCHING: 'fetching', PROCESSED: 'processed', VISIBLE: 'up to date', DEFERRED: 'deferred', FAILED: 'failed' };
  const n = new Map();
  for (const j of jobs) n.set(j.state, (n.get(j.state) || 0) + 1);
  const parts = order.filter((s) => n.has(s)).map((s) => `${n.get(s)} ${label[s]}`);
  return parts.length ? parts.join(', ') : 'Nothing to refresh';
}

/**
 * The export URL of the metrics shown: CSV (or format) at the grain, over
 * [from, to), for the selected platforms (null: all).
 */
export function exportURL({ grain, from, to, platforms, format = 'csv', dataset = 'metrics' }) {
  const q = new URLSearchParams({ dataset, format, grain: String(grain).toLowerCase(), from: from.toISOString(), to: to.toISOString() });
  if (platforms) q.set('platforms', platforms.map((p) => String(p).toLowerCase()).join(','));
  return '/api/v1/export?' + q.toString();
}

const DAY_MS = 86_400_000;
// A custom range covers at most this many days: at a month grain that is
// 37 buckets, within the API's cost limits (api's dashboard limits test).
export const CUSTOM_MAX_DAYS = 1096;

/**
 * A custom range from two dates (YYYY-MM-DD, UTC, both days included):
 * {grain, from, to, last} with the grain chosen by its length (up to 2
 * days hourly, up to 92 days daily, else monthly, whole months), or
 * {error} when a date is missing or invalid, the start is after the end,
 * the end is after today (now's UTC day) or it spans more than
 * CUSTOM_MAX_DAYS days.
 */
export function customRange(fromDate, toDate, now = new Date()) {
  const day = (s) => {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(String(s || ''))) return NaN;
    const t = Date.parse(s + 'T00:00:00Z');
    return Number.isFinite(t) && new Date(t).toISOString().slice(0, 10) === s ? t : NaN;
  };
  const a = day(fromDate), b = day(toDate);
  if (Number.isNaN(a) || Number.isNaN(b)) return { error: 'Enter a start and an end date.' };
  if (a > b) return { error: 'The start date is after the end date.' };
  if (b > Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())) return { error: 'The end date is in the future.' };
  const days = (b - a) / DAY_MS + 1;
  if (days > CUSTOM_MAX_DAYS) return { error: `A custom range covers at most ${CUSTOM_MAX_DAYS} days (3 years).` };
  if (days <= 2) return { grain: 'HOUR', from: new Date(a), to: new Date(b + DAY_MS), last: new Date(b + DAY_MS - 3_600_000) };
  if (days <= 92) return { grain: 'DAY', from: new Date(a), to: new Date(b + DAY_MS), last: new Date(b) };
  const s = new Date(a), e = new Date(b);
  return {
    grain: 'MONTH',
    from: new Date(Date.UTC(s.getUTCFullYear(), s.getUTCMonth(), 1)),
    to: new Date(Date.UTC(e.getUTCFullYear(), e.getUTCMonth() + 1, 1)),
    last: new Date(Date.UTC(e.getUTCFullYear(), e.getUTCMonth(), 1)),
  };
}

/** t (a Date) moved by n buckets of grain (UTC). */
export function addBuckets(t, grain, n) {
  const d = new Date(t);
  switch (grain) {
    case 'HOUR': return new Date(+d + n * 3_600_000);
    case 'DAY': return new Date(+d + n * DAY_MS);
    case 'MONTH': return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + n, d.getUTCDate(), d.getUTCHours()));
    default: return new Date(Date.UTC(d.getUTCFullYear() + n, d.getUTCMonth(), d.getUTCDate(), d.getUTCHours()));
  }
}

/** How many buckets of grain [from, to) covers (from aligned to the grain). */
export function bucketCount(from, to, grain) {
  let n = 0;
  for (let t = new Date(from); t < to; t = addBuckets(t, grain, 1)) n++;
  return n;
}

/**
 * A trend's least-squares line (slopePerDay, intercept: its value at the
 * period's first bucket, from) as chart points at from and at the last
 * bucket's start: [{at: Date, followers}].
 */
export function slopeLine(trend, from, last) {
  const at = (t) => trend.intercept + trend.slopePerDay * (t - from) / DAY_MS;
  return [{ at: new Date(from), followers: at(+from) }, { at: new Date(last), followers: at(+last) }];
}

/**
 * The previous period's points (trend.previous: [{at, value}]) moved onto
 * the period [from, to) of grain, bucket for bucket, for the overlay:
 * [{at: Date, followers}], oldest first.
 */
export function previousOverlay(previous, grain, from, to) {
  const n = bucketCount(from, to, grain);
  return (previous || []).map((p) => ({ at: addBuckets(new Date(p.at), grain, n), followers: p.value }));
}
