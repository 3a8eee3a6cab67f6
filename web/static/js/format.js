// Number and time formatting, in the user's locale.

const intFmt = new Intl.NumberFormat();
const compactFmt = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
const pctFmt = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1, signDisplay: 'exceptZero' });
const signedFmt = new Intl.NumberFormat(undefined, { signDisplay: 'exceptZero' });
const relFmt = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

export const fmtInt = (n) => intFmt.format(Math.round(n));
export const fmtCompact = (n) => (Math.abs(n) < 100000 ? intFmt.format(Math.round(n)) : compactFmt.format(n));
export const fmtAxis = (n) => (Math.abs(n) < 1000 ? intFmt.format(n) : compactFmt.format(n));
export const fmtSigned = (n) => signedFmt.format(Math.round(n));
export const fmtPct = (x) => pctFmt.format(x);
const rateFmt = new Intl.NumberFormat(undefined, { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 2 });
/** A ratio as a percentage: 0.0345 is "3.45%". */
export const fmtRate = (x) => rateFmt.format(x);

const dateTimeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
export const fmtDateTime = (d) => dateTimeFmt.format(new Date(d));

/** "3 minutes ago", "in 2 minutes", "yesterday". */
export function fmtRelative(d, now = Date.now()) {
  const s = (new Date(d).getTime() - now) / 1000;
  const abs = Math.abs(s);
  if (abs < 45) return s <= 0 ? 'just now' : 'in a moment';
  const units = [
    ['year', 31536000], ['month', 2592000], ['week', 604800], ['day', 86400], ['hour', 3600], ['minute', 60],
  ];
  for (const [unit, secs] of units) {
    if (abs >= secs || unit === 'minute') return relFmt.format(Math.round(s / secs), unit);
  }
  return '';
}

/** How long ago, tersely: "just now", "12s ago", "5m ago", "3h ago", "2d ago". */
export function fmtAgo(d, now = Date.now()) {
  const s = Math.max(0, Math.floor((now - new Date(d).getTime()) / 1000));
  if (s < 2) return 'just now';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 172800) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

// Buckets of DAY and coarser grains start at UTC midnight, so they are
// shown in UTC to avoid landing on the previous local day.
const bucketFmts = {
  HOUR: new Intl.DateTimeFormat(undefined, { weekday: 'short', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' }),
  DAY: new Intl.DateTimeFormat(undefined, { weekday: 'short', month: 'short', day: 'numeric', year: 'numeric', timeZone: 'UTC' }),
  MONTH: new Intl.DateTimeFormat(undefined, { month: 'long', year: 'numeric', timeZone: 'UTC' }),
  YEAR: new Intl.DateTimeFormat(undefined, { year: 'numeric', timeZone: 'UTC' }),
};
export const fmtBucket = (d, grain) => bucketFmts[grain].format(new Date(d));
