// The live summary: a GraphQL subscription over server-sent events that
// reconnects with backoff. The API refuses it (UNAVAILABLE) while its
// aggregates are loading or when the server has none; the dashboard then
// falls back to polling until a retry succeeds.

import { ApiError, S_SUMMARY, subscribe } from './api.js';

const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 60_000;

/**
 * new LiveSummary({onData, onDown}).start()
 *   onData(summary): every summary the server pushes (the first on connecting)
 *   onDown(error, retryInMs): the subscription failed or ended; it is retried
 *     after retryInMs unless stop() is called
 */
export class LiveSummary {
  constructor({ onData, onDown }) {
    this.onData = onData;
    this.onDown = onDown;
    this.ctl = null;
    this.timer = 0;
    this.failures = 0; // consecutive failures without data, for the backoff
    this.running = false;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.connect();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = 0;
    this.ctl?.abort();
    this.ctl = null;
  }

  /** Reconnects now rather than at the next scheduled retry. */
  retryNow() {
    if (!this.running || this.ctl) return;
    clearTimeout(this.timer);
    this.connect();
  }

  async connect() {
    this.timer = 0;
    const ctl = new AbortController();
    this.ctl = ctl;
    let err;
    try {
      await subscribe(S_SUMMARY, {}, {
        signal: ctl.signal,
        onNext: ({ data, errors }) => {
          if (!data?.summary) throw errors[0] || new ApiError('INTERNAL', 'Empty live update.');
          this.failures = 0;
          this.onData(data.summary);
        },
      });
      err = new ApiError('CLOSED', 'The live connection was closed.');
    } catch (e) {
      err = e;
    }
    if (this.ctl !== ctl || !this.running) return; // stopped meanwhile
    this.ctl = null;
    const delay = backoff(this.failures++);
    this.onDown(err, delay);
    if (this.running && !this.ctl && !this.timer) this.timer = setTimeout(() => this.connect(), delay);
  }
}

/** Exponential backoff with ±25% jitter: about 1s, 2s, 4s, … up to a minute. */
function backoff(failures) {
  const base = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(failures, 10));
  return Math.round(base * (0.75 + Math.random() * 0.5));
}
