// Pieces several views share: badges, pills, times, empty states, the brand.

import { h } from '../dom.js';
import { fmtDateTime, fmtRelative } from '../format.js';
import { STATUS_LABEL, platformName, platformSlug } from '../model.js';
import { allAccounts, state } from '../state.js';

export function brand() {
  return h('div', { class: 'brand' },
    h('svg:svg', { viewBox: '0 0 32 32', width: 28, height: 28, 'aria-hidden': 'true', class: 'brand-mark' },
      h('svg:rect', { width: 32, height: 32, rx: 8 }),
      h('svg:path', { d: 'M5 17h5l3-7 5 13 3-6h6' })),
    h('span', null, 'Pulse'));
}


export function statusPill(status) {
  return h('span', { class: ['pill', `pill-${status.toLowerCase().replace('_', '-')}`] }, STATUS_LABEL[status] || status);
}

export function badge(platform) {
  return h('span', { class: ['badge', `badge-${platformSlug(platform)}`] }, platformName(platform));
}

export function timeEl(iso, text) {
  return h('time', { datetime: iso, title: fmtDateTime(iso) }, text ?? fmtRelative(iso));
}

export function emptyState(title, body, action) {
  return h('div', { class: 'empty' },
    h('div', { class: 'empty-icon', 'aria-hidden': 'true' },
      h('svg:svg', { viewBox: '0 0 24 24', width: 28, height: 28 },
        h('svg:path', { d: 'M3 17l5-6 4 4 7-9', fill: 'none', 'stroke-width': 2, 'stroke-linecap': 'round', 'stroke-linejoin': 'round' }))),
    h('h3', null, title),
    body ? h('p', { class: 'muted' }, body) : null,
    action);
}

export function linkCta() {
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
export function noDataState(what) {
  if (state.updatedAt && !allAccounts().length) {
    return emptyState('Link an account to start', `Connect Facebook, Instagram, X or LinkedIn to see your ${what} here.`, linkCta());
  }
  if (state.platforms.size === 0) return emptyState('No platforms selected', 'Choose at least one platform above.');
  return null;
}

