// The accounts panel: linked accounts per platform, refresh, unlink, and
// account deletion (the danger zone); choosing the accounts of a consent
// that covered several.

import {
  ApiError, auth, gql, M_DELETE_ACCOUNT, M_LINK_ACCOUNTS, M_START_REFRESH, M_UNLINK, Q_PENDING_GRANT, Q_REFRESH_JOBS,
} from '../api.js';
import { failed, refreshAll, render, renderFlash, resetData } from '../app.js';
import { h, replace } from '../dom.js';
import { FIRST_DATA, accountKey, deleteAccountError, jobFinished, jobNote, jobsSummary, platformName, platformSlug } from '../model.js';
import { allAccounts, colorFor, root, seq, state, ui } from '../state.js';
import { badge, statusPill, timeEl } from './common.js';
import { openDialog } from './dialog.js';
import { renderFeed } from './feed.js';
import { renderMetrics } from './metrics.js';

const REFRESH_NOTE_MS = 15_000; // how long a finished job's note stays
const JOB_POLL_MS = 1_000; // while a job is unfinished
const JOB_WATCH_MS = 10 * 60_000; // then the note is left as it is

export function renderAccounts() {
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

/**
 * Asks which accounts of a consent that covered several (a Facebook login
 * managing several Pages) to link; none is linked until the user chooses.
 */
export async function chooseAccounts(grantId) {
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
    note?.job || active ? h('p', {
      class: ['note', 'refresh-note', note?.kind && 'note-' + note.kind], role: 'status',
      dataset: { state: note?.jobState || '', job: note?.job || '' },
    }, note && !note.busy ? note.text : '') : null);
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

/** Presses refresh for one link (or all): shows each job's state as it moves. */
async function onRefresh(linkId) {
  const id = linkId ?? 'all';
  state.refreshNotes.set(id, { busy: true, text: 'Refreshing…' });
  renderAccounts();
  let jobs;
  try {
    const { data, errors } = await gql(M_START_REFRESH, { id: linkId });
    if (errors.length) throw errors[0];
    jobs = data.startRefresh;
  } catch (e) {
    if (failed(e)) return;
    state.refreshNotes.set(id, { kind: 'error', text: e.message });
    renderAccounts();
    return;
  }
  showJobs(jobs, linkId === null);
  watchJobs(new Set(jobs.map((j) => j.id)), linkId === null);
}

function fmtRunAt(iso) {
  return new Date(iso).toLocaleTimeString(undefined, { hour: 'numeric', minute: '2-digit' });
}

/**
 * Sets the notes of the jobs' links (and of "Refresh all" when all), and
 * redraws the panel when one changed.
 */
function showJobs(jobs, all) {
  let changed = false;
  const set = (key, note) => {
    const old = state.refreshNotes.get(key);
    if (old && !old.busy && old.text === note.text && old.job === note.job && old.jobState === note.jobState) return;
    state.refreshNotes.set(key, note);
    changed = true;
  };
  for (const j of jobs) {
    set(j.linkId, { ...jobNote(j, fmtRunAt), job: j.id, jobState: j.state, done: jobFinished(j), at: Date.now() });
  }
  if (all) set('all', { kind: 'info', text: jobsSummary(jobs), done: jobs.every(jobFinished), at: Date.now() });
  if (changed) renderAccounts();
}

let jobTimer = 0;
let watched = null; // {ids, all} while watchJobs runs

/**
 * Jobs pushed by the live summary: shown at once for the presses being
 * watched (the poll stays, for when the subscription is down).
 */
export function liveJobs(jobs) {
  if (!watched || !jobs) return;
  const mine = jobs.filter((j) => watched.ids.has(j.id));
  if (mine.length) showJobs(mine, watched.all);
}

/** Polls the jobs until every one is finished (or JOB_WATCH_MS passed). */
function watchJobs(ids, all) {
  clearTimeout(jobTimer);
  watched = { ids, all };
  const until = Date.now() + JOB_WATCH_MS;
  const tick = async () => {
    jobTimer = 0;
    if (!state.user || !ui) return;
    let jobs;
    try {
      const { data, errors } = await gql(Q_REFRESH_JOBS);
      if (errors.some(failed)) return;
      jobs = (data.refreshJobs || []).filter((j) => ids.has(j.id));
    } catch (e) {
      if (failed(e)) return;
      jobs = null; // offline: try again
    }
    if (jobs) showJobs(jobs, all);
    if (jobs && jobs.every(jobFinished)) {
      watched = null;
      setTimeout(() => { // finished notes fade after a while
        for (const [k, n] of state.refreshNotes) if (n.done && Date.now() - n.at >= REFRESH_NOTE_MS) state.refreshNotes.delete(k);
        renderAccounts();
      }, REFRESH_NOTE_MS);
      refreshAll(); // the fetched numbers
      return;
    }
    if (Date.now() < until) jobTimer = setTimeout(tick, JOB_POLL_MS);
  };
  jobTimer = setTimeout(tick, JOB_POLL_MS);
}

export function dangerZone() {
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

