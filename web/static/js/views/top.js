// The top posts panel: the posts created in the chart's range with the
// most likes, comments, shares, views or the highest engagement rate
// (topPosts), for the selected platforms.

import { gql, Q_TOP_POSTS } from '../api.js';
import { failed } from '../app.js';
import { h, replace } from '../dom.js';
import { fmtInt, fmtRate } from '../format.js';
import { TOP_RANKS } from '../model.js';
import { handleFor, platformVar, seq, shownRange, state, ui } from '../state.js';
import { badge, noDataState } from './common.js';

const TOP_N = 5;

export function renderTop() {
  if (!ui) return;
  const by = TOP_RANKS.find((r) => r.id === state.topBy) || TOP_RANKS[0];
  const select = h('select', {
    id: 'top-by', class: 'top-by', dataset: { focusKey: 'top-by' },
    onchange: (ev) => {
      state.topBy = ev.target.value;
      state.top = null;
      renderTop();
      loadTop();
    },
  }, TOP_RANKS.map((r) => h('option', { value: r.id, selected: r.id === by.id }, r.label)));
  const head = h('div', { class: 'top-head' }, h('label', { for: 'top-by' }, 'Top posts by '), select);
  const empty = noDataState('top posts');
  let body;
  if (empty) body = empty;
  else if (state.topError) body = h('p', { class: 'form-error' }, state.topError);
  else if (state.top === null) body = h('p', { class: 'muted small', 'aria-busy': 'true' }, 'Loading top posts…');
  else if (!state.top.length) body = h('p', { class: 'muted small top-empty' }, 'No posts in this range.');
  else {
    body = h('ol', { class: 'top-posts' }, state.top.map((t) => {
      const p = t.post;
      const value = by.id === 'ENGAGEMENT' ? fmtRate(t.engagementRate ?? 0) : fmtInt(p[by.field]);
      return h('li', { class: 'top-post', dataset: { postId: p.id, platform: p.platform } },
        badge(p.platform),
        h('span', { class: 'top-handle muted small' }, handleFor(p.platform, p.accountId)),
        h('span', { class: 'top-text' }, p.text || 'No text'),
        h('span', { class: 'top-value', title: by.label }, value));
    }));
  }
  replace(ui.top, head, body);
}

/** Loads the top posts of the chart's range. */
export async function loadTop() {
  const t = ++seq.top;
  if (state.platforms.size === 0) {
    state.top = [];
    renderTop();
    return;
  }
  const r = shownRange();
  try {
    const { data, errors } = await gql(Q_TOP_POSTS, {
      by: state.topBy, from: r.from.toISOString(), to: r.to.toISOString(), platforms: platformVar(), first: TOP_N,
    });
    if (errors.some(failed) || t !== seq.top) return;
    if (errors.length) throw errors[0];
    state.top = data.topPosts;
    state.topError = '';
  } catch (e) {
    if (failed(e) || t !== seq.top) return;
    state.topError = 'Top posts could not be loaded: ' + e.message;
  }
  renderTop();
}
