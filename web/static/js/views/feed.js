// The posts panel: the combined feed, newest first, with "Load more".

import { gql, Q_FEED } from '../api.js';
import { failed } from '../app.js';
import { h, replace } from '../dom.js';
import { fmtCompact, fmtInt } from '../format.js';
import { FIRST_DATA, appendPage, platformName, safeURL } from '../model.js';
import { handleFor, platformVar, seq, state, ui } from '../state.js';
import { badge, emptyState, noDataState, timeEl } from './common.js';

export const FEED_PAGE = 20;

export function renderFeed() {
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

function postItem(p) {
  const handle = handleFor(p.platform, p.accountId);
  const link = safeURL(p.permalink, location.href);
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


/** Loads the next older page of the feed. */
export async function loadMore() {
  if (!state.posts?.length || state.feedLoadingMore) return;
  const t = seq.feed;
  state.feedLoadingMore = true;
  renderFeed();
  try {
    const before = state.posts.at(-1).createdAt;
    const { data, errors } = await gql(Q_FEED, { platforms: platformVar(), before, limit: FEED_PAGE });
    if (errors.some(failed)) return;
    if (t === seq.feed) {
      state.posts = appendPage(state.posts, data.feed);
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
