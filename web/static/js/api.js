// The Pulse API: REST auth routes and GraphQL, same-origin, cookie session.

/** An error the API reported, with its code (e.g. UNAUTHENTICATED). */
export class ApiError extends Error {
  constructor(code, message, status = 0) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
  }
}

const NETWORK = "Couldn't reach Pulse. Check your connection and try again.";

async function post(path, body) {
  try {
    return await fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body ?? {}),
    });
  } catch {
    throw new ApiError('NETWORK', NETWORK);
  }
}

async function readJSON(res) {
  try {
    return await res.json();
  } catch {
    return null;
  }
}

function sentence(s) {
  s = String(s || '').trim();
  if (!s) return s;
  s = s[0].toUpperCase() + s.slice(1);
  return /[.!?]$/.test(s) ? s : s + '.';
}

// Messages for auth failures, by the REST error code.
const AUTH_MESSAGES = {
  unauthorized: 'Incorrect email or password.',
  internal: 'Something went wrong on our side. Please try again.',
};

/**
 * Calls POST /auth/{action} ("signup", "verify", "login" or "logout") and returns the
 * decoded body. Failures throw an ApiError with a message fit for the user.
 */
export async function auth(action, body) {
  const res = await post('/auth/' + action, body);
  if (res.ok) return res.status === 204 ? null : readJSON(res);
  const data = await readJSON(res);
  const code = data?.error?.code || 'http_' + res.status;
  const msg = AUTH_MESSAGES[code] || sentence(data?.error?.message) || `Request failed (HTTP ${res.status}).`;
  throw new ApiError(code, msg, res.status);
}

/**
 * Runs a GraphQL operation. It resolves to {data, errors}: errors (possibly
 * empty) is an array of ApiError for partial failures. It throws when there
 * is no data at all, with the first error.
 */
export async function gql(query, variables = {}) {
  const res = await post('/graphql', { query, variables });
  const body = await readJSON(res);
  if (res.status === 429 && !body?.errors) throw throttled(res, body);
  const errors = (body?.errors || []).map(
    (e) => new ApiError(e.extensions?.code || 'INTERNAL', sentence(e.message) || 'Request failed.', res.status),
  );
  if (!body || (!res.ok && !body.data)) {
    throw errors[0] || new ApiError(body?.error?.code || 'http_' + res.status, sentence(body?.error?.message) || `Request failed (HTTP ${res.status}).`, res.status);
  }
  if (!body.data) throw errors[0] || new ApiError('INTERNAL', 'Empty response.', res.status);
  return { data: body.data, errors };
}

/** An ApiError for an HTTP 429 answer, with the wait from Retry-After. */
function throttled(res, body) {
  const secs = Number(res.headers.get('Retry-After'));
  const wait = secs > 90 ? `in ${Math.ceil(secs / 60)} minutes` : secs > 0 ? `in ${Math.ceil(secs)} seconds` : 'in a moment';
  const msg = sentence(body?.error?.message) || `Too many requests. Please try again ${wait}.`;
  return new ApiError('THROTTLED', msg, 429);
}

/**
 * Runs a GraphQL subscription over server-sent events: a POST to /graphql
 * accepting text/event-stream (EventSource cannot POST), read as a stream.
 * onNext({data, errors}) gets every "next" event; errors are ApiErrors as
 * from gql. An exception thrown by onNext ends the subscription with it.
 *
 * The promise resolves when the server completes the stream and rejects
 * with an ApiError when it fails: NETWORK when the connection breaks or is
 * silent for longer than idleMs (the server pings every 15s), ABORTED when
 * signal aborts it, else the API's code.
 */
export async function subscribe(query, variables, { onNext, signal, idleMs = 45_000 }) {
  const ctl = new AbortController();
  const abort = () => ctl.abort();
  if (signal?.aborted) throw new ApiError('ABORTED', 'Aborted.');
  signal?.addEventListener('abort', abort, { once: true });
  let idle = 0;
  let stalled = false;
  const arm = () => {
    clearTimeout(idle);
    idle = setTimeout(() => {
      stalled = true;
      ctl.abort();
    }, idleMs);
  };
  const fail = (e) => {
    if (signal?.aborted) return new ApiError('ABORTED', 'Aborted.');
    if (stalled) return new ApiError('NETWORK', 'The live connection went quiet.');
    return e instanceof ApiError ? e : new ApiError('NETWORK', NETWORK);
  };
  try {
    arm();
    let res;
    try {
      res = await fetch('/graphql', {
        method: 'POST',
        credentials: 'same-origin',
        cache: 'no-store',
        headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
        body: JSON.stringify({ query, variables }),
        signal: ctl.signal,
      });
    } catch (e) {
      throw fail(e);
    }
    if (!res.ok || !/^text\/event-stream/.test(res.headers.get('Content-Type') || '')) {
      const body = await readJSON(res);
      if (res.status === 429) throw throttled(res, body);
      const e = body?.errors?.[0];
      throw new ApiError(e?.extensions?.code || body?.error?.code || 'http_' + res.status,
        sentence(e?.message || body?.error?.message) || `Request failed (HTTP ${res.status}).`, res.status);
    }
    let completed = false;
    const parse = sseParser((ev) => {
      if (ev.event === 'complete') {
        completed = true;
        return;
      }
      if (ev.event !== 'next') return;
      let body;
      try {
        body = JSON.parse(ev.data);
      } catch {
        throw new ApiError('INTERNAL', 'The live update could not be read.');
      }
      const errors = (body?.errors || []).map(
        (e) => new ApiError(e.extensions?.code || 'INTERNAL', sentence(e.message) || 'Request failed.', res.status),
      );
      onNext({ data: body?.data ?? null, errors });
    });
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    try {
      while (!completed) {
        let chunk;
        try {
          chunk = await reader.read();
        } catch (e) {
          throw fail(e);
        }
        arm();
        if (chunk.done) {
          parse(decoder.decode(), true);
          break;
        }
        parse(decoder.decode(chunk.value, { stream: true }));
      }
    } finally {
      reader.cancel().catch(() => {});
    }
    if (!completed) throw fail(null);
  } finally {
    clearTimeout(idle);
    signal?.removeEventListener('abort', abort);
    ctl.abort();
  }
}

/**
 * Returns a function that parses a text/event-stream fed in chunks (parse(
 * text), then parse('', true) at the end) and calls onEvent({event, data})
 * for each event. Comments (the server's pings) are skipped.
 */
export function sseParser(onEvent) {
  let buf = '';
  let event = '';
  let data = [];
  return (chunk, end = false) => {
    buf += chunk;
    const eol = /\r\n|\r|\n/g;
    let start = 0;
    for (let m; (m = eol.exec(buf));) {
      // A lone CR at the end may be the first half of a CRLF.
      if (m[0] === '\r' && m.index === buf.length - 1 && !end) break;
      const line = buf.slice(start, m.index);
      start = m.index + m[0].length;
      if (line === '') {
        if (event || data.length) onEvent({ event: event || 'message', data: data.join('\n') });
        event = '';
        data = [];
        continue;
      }
      if (line[0] === ':') continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    buf = buf.slice(start);
  };
}

export const ACCOUNT_FIELDS = `id platform accountId handle status statusReason linkedAt lastFetchedAt nextFetchAt`;
export const LINKS_FIELDS = `links { platform status linkable historyDays accounts { ${ACCOUNT_FIELDS} } }`;
const metricsField = (directive = '') => `metrics(grain: $grain, from: $from, to: $to, platforms: $platforms) ${directive} {
  platform accountId handle points { at hours followers followersMin followersMax followersAvg likesGained commentsGained reach views profileViews } }`;
const feedField = (directive = '') => `feed(platforms: $platforms, before: $before, limit: $limit) ${directive} {
  id platform accountId createdAt text permalink likes comments shares views reach saves }`;

export const Q_ME = `query Me { me { id email } }`;
// $any is false when no platform is selected: an empty filter means "all"
// to the API, so metrics and feed are skipped instead.
export const Q_DASHBOARD = `query Dashboard($grain: Grain!, $from: Time!, $to: Time!, $platforms: [Platform!],
  $before: Time, $limit: Int, $any: Boolean!) {
  me { id email } ${LINKS_FIELDS} ${metricsField('@include(if: $any)')} ${feedField('@include(if: $any)')} }`;
export const Q_METRICS = `query Metrics($grain: Grain!, $from: Time!, $to: Time!, $platforms: [Platform!]) { ${metricsField()} }`;
export const Q_FEED = `query Feed($platforms: [Platform!], $before: Time, $limit: Int) { ${feedField()} }`;
export const Q_TRENDS = `query Trends($grain: Grain!, $from: Time!, $to: Time!, $platforms: [Platform!]) {
  trends(metric: FOLLOWERS, grain: $grain, from: $from, to: $to, platforms: $platforms) {
    platform value previousValue change changePercent slopePerDay intercept r2 best { at change } worst { at change }
    points { at value } previous { at value } } }`;
const JOB_FIELDS = `id linkId state reason runAt`;
export const M_START_REFRESH = `mutation StartRefresh($id: ID) { startRefresh(linkId: $id) { ${JOB_FIELDS} } }`;
export const Q_REFRESH_JOBS = `query RefreshJobs { refreshJobs { ${JOB_FIELDS} } }`;
export const Q_TOP_POSTS = `query TopPosts($by: PostRank!, $from: Time!, $to: Time!, $platforms: [Platform!], $first: Int) {
  topPosts(by: $by, from: $from, to: $to, platforms: $platforms, first: $first) {
    engagementRate post { id platform accountId createdAt text likes comments shares views } } }`;
export const M_UNLINK = `mutation Unlink($id: ID!) { unlink(linkId: $id) }`;
export const Q_PENDING_GRANT = `query PendingGrant($id: ID!) { pendingGrant(id: $id) { id platform accounts { accountId handle linked } } }`;
export const M_LINK_ACCOUNTS = `mutation LinkAccounts($grant: ID!, $ids: [String!]!) { linkAccounts(grantId: $grant, accountIds: $ids) { id accountId handle } }`;
export const M_DELETE_ACCOUNT = `mutation DeleteAccount($password: String!) { deleteAccount(password: $password) }`;

// The summary carries the refresh jobs: the subscription pushes their
// changes as the pipeline moves them.
const SUMMARY_FIELDS = `summary { updatedAt accounts { linkId platform accountId handle followers following postsCount
  delta24h delta7d delta30d engagementRate posts30d observedAt } refreshJobs { ${JOB_FIELDS} } }`;
// Every platform: the dashboard filters the accounts itself, so a filter
// change needs no new subscription.
export const Q_SUMMARY = `query Summary { ${SUMMARY_FIELDS} }`;
export const S_SUMMARY = `subscription LiveSummary { ${SUMMARY_FIELDS} }`;
