// Unit tests of the dashboard's pure logic: node --test web/test/
// (TestJavaScriptUnits in web/js_test.go runs them with go test).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  COLORS, appendPage, colorOf, deleteAccountError, insightSeries, linkResult, mergeFeed, observedKey, parsePrefs,
  pendingChoice, rangeFigures, rangeFor, routeOf, safeURL, verifyToken, withReadings,
} from '../static/js/model.js';

const iso = (s) => new Date(s).toISOString();

test('rangeFor: windows end after the current bucket, in UTC, across year ends', () => {
  const now = new Date('2026-01-01T00:30:00Z');
  let r = rangeFor('HOUR', now);
  assert.equal(r.to.toISOString(), iso('2026-01-01T01:00:00Z'));
  assert.equal(r.from.toISOString(), iso('2025-12-30T01:00:00Z')); // 48 hours
  assert.equal(r.last.toISOString(), iso('2026-01-01T00:00:00Z'));
  r = rangeFor('DAY', now);
  assert.equal(r.from.toISOString(), iso('2025-12-03T00:00:00Z')); // 30 days
  assert.equal(r.to.toISOString(), iso('2026-01-02T00:00:00Z'));
  r = rangeFor('MONTH', now);
  assert.equal(r.from.toISOString(), iso('2025-02-01T00:00:00Z')); // 12 months
  assert.equal(r.to.toISOString(), iso('2026-02-01T00:00:00Z'));
  r = rangeFor('YEAR', now);
  assert.equal(r.from.toISOString(), iso('2022-01-01T00:00:00Z'));
  assert.equal(r.to.toISOString(), iso('2027-01-01T00:00:00Z'));
  assert.deepEqual(rangeFor('nonsense', now), rangeFor('DAY', now));
});

test('parsePrefs keeps known values and falls back on anything else', () => {
  assert.deepEqual(parsePrefs('{"grain":"MONTH","platforms":["X","MYSPACE"]}'), { grain: 'MONTH', platforms: ['X'] });
  assert.equal(parsePrefs('{"grain":"WEEK"}').grain, 'DAY');
  assert.equal(parsePrefs('not json').platforms.length, 4);
  assert.equal(parsePrefs(null).grain, 'DAY');
});

test('routeOf and linkResult read the hash', () => {
  assert.equal(routeOf('#/signup'), '/signup');
  assert.equal(routeOf('#/accounts?linked=x'), '/accounts');
  assert.equal(routeOf('#/elsewhere'), '/');
  assert.equal(routeOf(''), '/');
  assert.match(linkResult('#/accounts?linked=instagram').text, /^Instagram account linked\./);
  assert.equal(linkResult('#/accounts?linked=instagram').kind, 'ok');
  assert.equal(linkResult('#/accounts?platform=x&link_error=access_denied').text, 'Linking X was cancelled.');
  assert.equal(linkResult('#/accounts?platform=x&link_error=weird').text, "Couldn't link X (weird).");
  assert.equal(linkResult('#/accounts'), null);
});

const post = (id, at) => ({ platform: 'X', id, createdAt: at });

test('mergeFeed keeps older pages under a full fresh page', () => {
  const loaded = [post('5', '2026-01-05'), post('4', '2026-01-04'), post('3', '2026-01-03'), post('2', '2026-01-02')];
  // A new post arrived: the fresh page (limit 2) is 6, 5; 4, 3, 2 stay.
  let r = mergeFeed(loaded, false, [post('6', '2026-01-06'), post('5', '2026-01-05')], 2);
  assert.deepEqual(r.posts.map((p) => p.id), ['6', '5', '4', '3', '2']);
  assert.equal(r.done, false);
  // A short fresh page replaces everything and ends the feed.
  r = mergeFeed(loaded, false, [post('6', '2026-01-06')], 2);
  assert.deepEqual(r.posts.map((p) => p.id), ['6']);
  assert.equal(r.done, true);
  // The first page: done when short.
  assert.equal(mergeFeed(null, false, [post('1', '2026-01-01')], 2).done, true);
  assert.equal(mergeFeed(null, false, [post('2', '2026-01-02'), post('1', '2026-01-01')], 2).done, false);
});

test('appendPage drops posts already shown', () => {
  const got = appendPage([post('3', 'c'), post('2', 'b')], [post('2', 'b'), post('1', 'a')]);
  assert.deepEqual(got.map((p) => p.id), ['3', '2', '1']);
});

test('observedKey changes when an account is observed again', () => {
  const a = { updatedAt: 't1', accounts: [{ linkId: 'l1', observedAt: 't1' }] };
  const b = { updatedAt: 't1', accounts: [{ linkId: 'l1', observedAt: 't2' }] };
  assert.notEqual(observedKey(a), observedKey(b));
  assert.equal(observedKey(a), observedKey(structuredClone(a)));
});

test('colorOf: position first, unknown keys after the known ones, wrapping', () => {
  assert.equal(colorOf(['a', 'b'], 'b'), COLORS[1]);
  assert.equal(colorOf(['a', 'b'], 'zz'), COLORS[2]);
  const many = Array.from({ length: COLORS.length + 1 }, (_, i) => 'k' + i);
  assert.equal(colorOf(many, 'k' + COLORS.length), COLORS[0]);
});

test('withReadings drops buckets without a follower reading and empty series', () => {
  const got = withReadings([
    { accountId: 'a', points: [{ hours: 0 }, { hours: 3, followers: 10 }] },
    { accountId: 'b', points: [{ hours: 0 }] },
  ]);
  assert.equal(got.length, 1);
  assert.deepEqual(got[0].points, [{ hours: 3, followers: 10 }]);
  assert.equal(got[0].all.length, 2);
  assert.deepEqual(withReadings(null), []);
});

test('insightSeries keeps the buckets with the field, readings or not', () => {
  const got = insightSeries(withReadings([
    { accountId: 'a', points: [{ at: '2026-01-01T00:00:00Z', hours: 0, reach: 5 }, { at: '2026-01-02T00:00:00Z', hours: 3, followers: 10, reach: null }, { at: '2026-01-03T00:00:00Z', hours: 2, followers: 11, reach: 0 }] },
    { accountId: 'b', points: [{ at: '2026-01-01T00:00:00Z', hours: 1, followers: 4 }] },
  ]), 'reach');
  assert.equal(got.length, 1);
  assert.deepEqual(got[0].points.map((p) => [p.at.toISOString(), p.followers]), [['2026-01-01T00:00:00.000Z', 5], ['2026-01-03T00:00:00.000Z', 0]]);
});

test('the verify route and its token', () => {
  assert.equal(routeOf('#/verify?token=abc_-1'), '/verify');
  assert.equal(verifyToken('#/verify?token=abc_-1'), 'abc_-1');
  assert.equal(verifyToken('#/verify'), '');
  assert.equal(routeOf('#/verify'), '/');
});

test('pendingChoice reads the grant to choose accounts from', () => {
  assert.equal(pendingChoice('#/accounts?choose=g-1'), 'g-1');
  assert.equal(pendingChoice('#/accounts?linked=x'), null);
  assert.equal(pendingChoice(''), null);
});

test('rangeFigures over a range', () => {
  const p = (followers, followersAvg, followersMin, followersMax) => ({ followers, followersAvg, followersMin, followersMax });
  const f = rangeFigures([p(100, 95, 90, 101), p(120, 110, 99, 125)]);
  assert.deepEqual(f, { cur: 120, change: 20, pct: 0.2, avg: 102.5, min: 90, max: 125 });
  assert.equal(rangeFigures([p(0, 0, 0, 0), p(5, 2, 0, 5)]).pct, null);
});

test('safeURL allows only http(s)', () => {
  assert.equal(safeURL('https://x.com/a/status/1', 'http://pulse'), 'https://x.com/a/status/1');
  assert.equal(safeURL('/p/1', 'http://pulse.local/'), 'http://pulse.local/p/1');
  assert.equal(safeURL('javascript:alert(1)', 'http://pulse'), null);
  assert.equal(safeURL('http://[bad', 'http://pulse'), null);
});

test('deleteAccountError by code', () => {
  assert.match(deleteAccountError({ code: 'FORBIDDEN', message: '' }), /^That password is not correct\. Your account/);
  assert.equal(deleteAccountError({ code: 'THROTTLED', message: 'too many attempts; try again in 12 minutes.' }),
    'Too many password attempts. Try again in 12 minutes.');
  assert.equal(deleteAccountError({ code: 'INTERNAL', message: 'boom' }), 'boom');
});

test('jobNote says where a refresh is', async () => {
  const { jobNote, jobFinished, jobsSummary } = await import('../static/js/model.js');
  assert.deepEqual(jobNote({ state: 'QUEUED' }), { kind: 'info', text: 'Queued' });
  assert.deepEqual(jobNote({ state: 'VISIBLE' }), { kind: 'ok', text: 'Up to date' });
  assert.equal(jobNote({ state: 'DEFERRED', reason: 'spacing: too soon', runAt: '2026-01-01T10:05:00Z' }, (d) => d.slice(11, 16)).text,
    'Deferred: spacing: too soon (runs at 10:05)');
  assert.equal(jobNote({ state: 'DEFERRED', reason: 'needs re-auth: reconnect the account', runAt: null }).text,
    'Deferred: needs re-auth: reconnect the account');
  assert.equal(jobNote({ state: 'FAILED', reason: 'boom' }).kind, 'error');
  assert.equal(jobFinished({ state: 'PROCESSED' }), false);
  assert.equal(jobFinished({ state: 'FAILED' }), true);
  assert.equal(jobsSummary([{ state: 'DEFERRED' }, { state: 'QUEUED' }, { state: 'QUEUED' }]), '2 queued, 1 deferred');
  assert.equal(jobsSummary([]), 'Nothing to refresh');
});

test('exportURL names the range, grain and platforms', async () => {
  const { exportURL } = await import('../static/js/model.js');
  const u = new URL(exportURL({ grain: 'DAY', from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-01-31T00:00:00Z'), platforms: ['X', 'INSTAGRAM'] }), 'http://pulse');
  assert.equal(u.pathname, '/api/v1/export');
  assert.deepEqual(Object.fromEntries(u.searchParams), {
    dataset: 'metrics', format: 'csv', grain: 'day', from: '2026-01-01T00:00:00.000Z', to: '2026-01-31T00:00:00.000Z', platforms: 'x,instagram',
  });
  assert.equal(new URL(exportURL({ grain: 'HOUR', from: new Date(0), to: new Date(1), platforms: null }), 'http://p').searchParams.has('platforms'), false);
});

test('customRange: validated, bounded, its grain by length, whole buckets', async () => {
  const { customRange, CUSTOM_MAX_DAYS } = await import('../static/js/model.js');
  const now = new Date('2026-03-10T15:00:00Z');
  assert.match(customRange('', '2026-03-01', now).error, /start and an end/);
  assert.match(customRange('2026-02-30', '2026-03-01', now).error, /start and an end/); // no such day
  assert.match(customRange('2026-03-05', '2026-03-01', now).error, /after the end/);
  assert.match(customRange('2026-03-01', '2026-03-11', now).error, /future/);
  assert.match(customRange('2023-03-10', '2026-03-10', now).error, new RegExp(`at most ${CUSTOM_MAX_DAYS} days`));
  let r = customRange('2026-03-09', '2026-03-10', now); // 2 days: hourly
  assert.deepEqual([r.grain, r.from.toISOString(), r.to.toISOString(), r.last.toISOString()],
    ['HOUR', iso('2026-03-09T00:00:00Z'), iso('2026-03-11T00:00:00Z'), iso('2026-03-10T23:00:00Z')]);
  r = customRange('2025-12-20', '2026-01-05', now); // across a year end: daily, both days included
  assert.deepEqual([r.grain, r.from.toISOString(), r.to.toISOString(), r.last.toISOString()],
    ['DAY', iso('2025-12-20T00:00:00Z'), iso('2026-01-06T00:00:00Z'), iso('2026-01-05T00:00:00Z')]);
  r = customRange('2024-02-15', '2026-03-10', now); // long: whole months
  assert.deepEqual([r.grain, r.from.toISOString(), r.to.toISOString(), r.last.toISOString()],
    ['MONTH', iso('2024-02-01T00:00:00Z'), iso('2026-04-01T00:00:00Z'), iso('2026-03-01T00:00:00Z')]);
  assert.equal(customRange('2023-03-12', '2026-03-10', now).grain, 'MONTH'); // 1095 days: allowed
});

test('slopeLine: the least-squares line at the first and last bucket', async () => {
  const { slopeLine } = await import('../static/js/model.js');
  const from = new Date('2026-01-01T00:00:00Z'), last = new Date('2026-01-31T00:00:00Z');
  const pts = slopeLine({ slopePerDay: 2.5, intercept: 100 }, from, last);
  assert.deepEqual(pts.map((p) => [p.at.toISOString(), p.followers]), [[iso(from), 100], [iso(last), 175]]);
  // Hourly: a fraction of a day per bucket.
  const h = slopeLine({ slopePerDay: -24, intercept: 50 }, new Date('2026-01-01T00:00:00Z'), new Date('2026-01-01T12:00:00Z'));
  assert.equal(h[1].followers, 38);
});

test('previousOverlay: the previous period moved bucket for bucket onto this one', async () => {
  const { previousOverlay, bucketCount } = await import('../static/js/model.js');
  // 12 months from Feb 2025: the previous period starts Feb 2024 (a leap year).
  const from = new Date('2025-02-01T00:00:00Z'), to = new Date('2026-02-01T00:00:00Z');
  assert.equal(bucketCount(from, to, 'MONTH'), 12);
  const prev = [{ at: '2024-02-01T00:00:00Z', value: 10 }, { at: '2024-03-01T00:00:00Z', value: 12 }, { at: '2025-01-01T00:00:00Z', value: 20 }];
  assert.deepEqual(previousOverlay(prev, 'MONTH', from, to).map((p) => [p.at.toISOString(), p.followers]),
    [[iso('2025-02-01T00:00:00Z'), 10], [iso('2025-03-01T00:00:00Z'), 12], [iso('2026-01-01T00:00:00Z'), 20]]);
  // 30 days.
  const d = previousOverlay([{ at: '2025-12-02T00:00:00Z', value: 5 }], 'DAY', new Date('2026-01-01T00:00:00Z'), new Date('2026-01-31T00:00:00Z'));
  assert.equal(d[0].at.toISOString(), iso('2026-01-01T00:00:00Z'));
  assert.deepEqual(previousOverlay(null, 'DAY', from, to), []);
});
