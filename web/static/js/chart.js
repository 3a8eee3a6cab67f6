// A responsive D3 multi-line chart of followers per account, with a hover
// and keyboard-driven tooltip. D3 is the vendored UMD build (global d3).

import { h } from './dom.js';
import { fmtAxis, fmtBucket, fmtInt } from './format.js';

const MARGIN = { top: 14, right: 28, bottom: 30, left: 52 };

/**
 * new FollowersChart(container).update({series, grain, from, last, label})
 *   series: [{key, handle, platformName, color, points: [{at: Date, followers}]}],
 *     optionally lineClass (the path's class, default series-line), dash
 *     (a stroke-dasharray; no end dot) and straight (no curve)
 *   from, last: the first and last bucket starts of the range (Dates)
 *   label: an accessible description of the chart
 */
export class FollowersChart {
  constructor(container) {
    this.el = container;
    this.el.classList.add('chart');
    this.svg = d3.select(container).append('svg')
      .attr('class', 'chart-svg')
      .attr('role', 'img')
      .attr('tabindex', 0);
    this.tip = h('div', { class: 'chart-tooltip', 'aria-hidden': 'true', hidden: true });
    container.append(this.tip);
    this.active = -1;
    this.svg.on('keydown', (ev) => this.onKey(ev));
    this.svg.on('blur', () => this.setActive(-1));
    this.ro = new ResizeObserver(() => this.schedule());
    this.ro.observe(container);
  }

  update(data) {
    this.data = data;
    this.rendered = null;
    this.render();
  }

  destroy() {
    this.ro.disconnect();
    cancelAnimationFrame(this.raf);
  }

  schedule() {
    if (this.raf) return;
    this.raf = requestAnimationFrame(() => {
      this.raf = 0;
      this.render();
    });
  }

  render() {
    const width = Math.floor(this.el.clientWidth);
    if (!this.data || width <= 0) return;
    const key = width;
    if (this.rendered === key) return; // ResizeObserver fires for our own changes too
    this.rendered = key;

    const { series, grain, from, last, label } = this.data;
    const height = width < 560 ? 240 : 320;
    const iw = Math.max(10, width - MARGIN.left - MARGIN.right);
    const ih = height - MARGIN.top - MARGIN.bottom;
    const svg = this.svg.attr('width', width).attr('height', height)
      .attr('viewBox', `0 0 ${width} ${height}`)
      .attr('aria-label', label);
    svg.selectAll('*').remove();
    svg.append('title').text(label);

    const x = (grain === 'HOUR' ? d3.scaleTime() : d3.scaleUtc()).domain([from, last]).range([0, iw]);
    const values = series.flatMap((s) => s.points.map((p) => p.followers));
    let [lo, hi] = d3.extent(values);
    if (lo === undefined) [lo, hi] = [0, 1];
    const pad = Math.max((hi - lo) * 0.08, Math.abs(hi) * 0.002, 1);
    const y = d3.scaleLinear().domain([Math.max(0, lo - pad), hi + pad]).nice().range([ih, 0]);

    const g = svg.append('g').attr('transform', `translate(${MARGIN.left},${MARGIN.top})`);

    g.append('g').attr('class', 'grid')
      .call(d3.axisLeft(y).ticks(Math.max(2, Math.round(ih / 56))).tickSize(-iw).tickFormat(''))
      .call((sel) => sel.select('.domain').remove());

    g.append('g').attr('class', 'axis axis-y')
      .call(d3.axisLeft(y).ticks(Math.max(2, Math.round(ih / 56))).tickFormat(fmtAxis).tickSizeOuter(0))
      .call((sel) => sel.select('.domain').remove());

    g.append('g').attr('class', 'axis axis-x').attr('transform', `translate(0,${ih})`)
            .call((sel) => {
        const axis = d3.axisBottom(x).tickFormat(xFormat(grain)).tickSizeOuter(0);
        const ticks = xTicks(grain, iw, last, from);
        sel.call(Array.isArray(ticks) ? axis.tickValues(ticks) : axis.ticks(ticks));
      });

    const line = d3.line()
      .x((p) => x(p.at))
      .y((p) => y(p.followers))
      .curve(d3.curveMonotoneX);
    const straight = d3.line().x((p) => x(p.at)).y((p) => y(p.followers));

    const lines = g.append('g').attr('class', 'lines');
    for (const s of series) {
      lines.append('path')
        .attr('class', s.lineClass || 'series-line')
        .attr('data-account', s.key)
        .attr('stroke', s.color)
        .attr('stroke-dasharray', s.dash || null)
        .attr('d', (s.straight ? straight : line)(s.points));
      const lp = s.points.at(-1);
      if (lp && !s.dash) {
        lines.append('circle').attr('class', 'series-end')
          .attr('cx', x(lp.at)).attr('cy', y(lp.followers)).attr('r', 3.5).attr('fill', s.color);
      }
    }

    // Hover layer: a rule and a dot per series at the nearest bucket.
    const times = Array.from(new Set(series.flatMap((s) => s.points.map((p) => +p.at)))).sort((a, b) => a - b);
    const focus = g.append('g').attr('class', 'focus').attr('display', 'none');
    focus.append('line').attr('class', 'focus-rule').attr('y1', 0).attr('y2', ih);
    const dots = focus.selectAll('circle').data(series).join('circle')
      .attr('class', 'focus-dot').attr('r', 4.5).attr('stroke', (s) => s.color);

    this.ctx = { x, y, times, series, grain, focus, dots, iw, width };
    if (this.active >= times.length) this.active = times.length - 1;

    g.append('rect').attr('class', 'overlay').attr('width', iw).attr('height', ih)
      .on('pointermove pointerdown', (ev) => {
        const [mx] = d3.pointer(ev);
        const t = +x.invert(mx);
        const i = d3.bisectCenter(times, t);
        this.setActive(i);
      })
      .on('pointerleave', () => this.setActive(-1));

    this.setActive(this.active);
  }

  onKey(ev) {
    const n = this.ctx?.times.length || 0;
    if (!n) return;
    let i = this.active;
    switch (ev.key) {
      case 'ArrowLeft': i = i < 0 ? n - 1 : Math.max(0, i - 1); break;
      case 'ArrowRight': i = i < 0 ? n - 1 : Math.min(n - 1, i + 1); break;
      case 'Home': i = 0; break;
      case 'End': i = n - 1; break;
      case 'Escape': i = -1; break;
      default: return;
    }
    ev.preventDefault();
    this.setActive(i);
  }

  setActive(i) {
    this.active = i;
    const c = this.ctx;
    if (!c || i < 0 || i >= c.times.length) {
      c?.focus.attr('display', 'none');
      this.tip.hidden = true;
      return;
    }
    const t = c.times[i];
    const px = c.x(t);
    const at = (s) => s.points.find((p) => +p.at === t);
    c.focus.attr('display', null);
    c.focus.select('.focus-rule').attr('x1', px).attr('x2', px);
    c.dots
      .attr('display', (s) => (at(s) ? null : 'none'))
      .attr('cx', px)
      .attr('cy', (s) => (at(s) ? c.y(at(s).followers) : 0));

    const rows = c.series
      .map((s) => ({ s, p: at(s) }))
      .filter((r) => r.p)
      .sort((a, b) => b.p.followers - a.p.followers);
    this.tip.replaceChildren(
      h('div', { class: 'tip-time' }, fmtBucket(t, c.grain)),
      h('ul', null, rows.map(({ s, p }) =>
        h('li', null,
          h('span', { class: 'swatch', style: { '--c': s.color } }),
          h('span', { class: 'tip-name' }, s.handle),
          h('span', { class: 'tip-value' }, fmtInt(p.followers))))),
    );
    this.tip.hidden = false;
    const tw = this.tip.offsetWidth;
    const left = MARGIN.left + px + 14 + tw > c.width ? MARGIN.left + px - 14 - tw : MARGIN.left + px + 14;
    this.tip.style.setProperty('--x', `${Math.max(0, left)}px`);
    this.tip.style.setProperty('--y', `${MARGIN.top}px`);
  }
}

// Tick values counted back from the last bucket in whole steps, so they are
// evenly spaced and never crowd at month or year boundaries.
function xTicks(grain, iw, last, from) {
  if (grain === 'HOUR') return Math.max(2, Math.floor(iw / 90));
  const interval = { DAY: d3.utcDay, MONTH: d3.utcMonth, YEAR: d3.utcYear }[grain];
  const buckets = interval.count(from, last) + 1;
  const step = Math.max(1, Math.ceil(buckets / Math.max(2, Math.floor(iw / 70))));
  const ticks = [];
  for (let t = last; t >= from; t = interval.offset(t, -step)) ticks.unshift(t);
  return ticks;
}

function xFormat(grain) {
  switch (grain) {
    case 'YEAR': return d3.utcFormat('%Y');
    case 'MONTH': return (d) => d3.utcFormat(d.getUTCMonth() === 0 ? '%Y' : '%b')(d);
    case 'DAY': return d3.utcFormat('%b %-d');
    default: return null; // d3's multi-scale local format: "03 PM", "Tue 24"
  }
}
