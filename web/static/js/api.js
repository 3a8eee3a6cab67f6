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
 * Calls POST /auth/{action} ("signup", "login" or "logout") and returns the
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
  const errors = (body?.errors || []).map(
    (e) => new ApiError(e.extensions?.code || 'INTERNAL', sentence(e.message) || 'Request failed.', res.status),
  );
  if (!body || (!res.ok && !body.data)) {
    throw errors[0] || new ApiError(body?.error?.code || 'http_' + res.status, sentence(body?.error?.message) || `Request failed (HTTP ${res.status}).`, res.status);
  }
  if (!body.data) throw errors[0] || new ApiError('INTERNAL', 'Empty response.', res.status);
  return { data: body.data, errors };
}

export const ACCOUNT_FIELDS = `id platform accountId handle status statusReason linkedAt lastFetchedAt nextFetchAt`;
export const LINKS_FIELDS = `links { platform status linkable accounts { ${ACCOUNT_FIELDS} } }`;
const metricsField = (directive = '') => `metrics(grain: $grain, from: $from, to: $to, platforms: $platforms) ${directive} {
  platform accountId handle points { at followers followersMin followersMax followersAvg } }`;
const feedField = (directive = '') => `feed(platforms: $platforms, before: $before, limit: $limit) ${directive} {
  id platform accountId createdAt text permalink likes comments shares views }`;

export const Q_ME = `query Me { me { id email } }`;
// $any is false when no platform is selected: an empty filter means "all"
// to the API, so metrics and feed are skipped instead.
export const Q_DASHBOARD = `query Dashboard($grain: Grain!, $from: Time!, $to: Time!, $platforms: [Platform!],
  $before: Time, $limit: Int, $any: Boolean!) {
  me { id email } ${LINKS_FIELDS} ${metricsField('@include(if: $any)')} ${feedField('@include(if: $any)')} }`;
export const Q_METRICS = `query Metrics($grain: Grain!, $from: Time!, $to: Time!, $platforms: [Platform!]) { ${metricsField()} }`;
export const Q_FEED = `query Feed($platforms: [Platform!], $before: Time, $limit: Int) { ${feedField()} }`;
export const M_REFRESH = `mutation Refresh($id: ID) { refresh(linkId: $id) }`;
