// Package upkeep keeps the stores in order: it renews linked accounts'
// OAuth tokens, finishes account deletions and reclaims expired rows. It
// produces nothing to Kafka. `pulse refresher` runs it (alone, or inside
// `pulse dev`); its errors and log lines start with "refresher:", the
// command's name.
//
// Every Interval, a Worker:
//
//   - claims the active links whose access token expires within
//     RefreshBefore (postgres.DB.ClaimExpiringLinks: a lease, so replicas
//     never renew one token twice) and renews each with its connector's
//     Refresh, by that platform's rules (X rotates refresh tokens; others
//     re-exchange long-lived tokens). The new token is stored before
//     anything else happens, since the old one may already be dead. A
//     refresh the platform rejects (class Reauth or Permanent) marks the
//     link needs_reauth with the reason and time, unless its token changed
//     meanwhile; the scheduler only fetches active links, so fetching stops
//     until the user relinks. Other failures (throttling, outages) are
//     retried once the lease runs out, normally the next round.
//   - retries the analytics purges of deleted users that are still pending
//     (postgres.DB.ClaimPurges), when Purges and Purger are configured.
//   - deletes expired sessions, link requests and sign-in attempts, when a
//     Janitor is configured.
//
// Nothing it logs contains a token: connectors' errors are token-free by
// contract, and the Worker logs link ids, never tokens.
package upkeep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/topics"
)

// Links is the credential store. *postgres.DB implements it.
type Links interface {
	ClaimExpiringLinks(ctx context.Context, before, now time.Time, limit int, lease time.Duration) ([]pulse.Link, error)
	LinkToken(ctx context.Context, linkID string) (*oauth2.Token, pulse.Link, error)
	UpdateLinkToken(ctx context.Context, linkID string, tok *oauth2.Token) error
	MarkLinkStatusIfUnchanged(ctx context.Context, linkID string, updatedAt time.Time, status pulse.LinkStatus, reason string) (bool, error)
}

// Purges is the queue of pending analytics purges. *postgres.DB
// implements it.
type Purges interface {
	ClaimPurges(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]pulse.PurgeRequest, error)
	PurgeDone(ctx context.Context, userID string) error
	PurgeFailed(ctx context.Context, userID, reason string) error
}

// Janitor deletes expired rows. *postgres.DB implements it.
type Janitor interface {
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
}

// Defaults of Config.
const (
	DefaultInterval      = time.Minute
	DefaultRefreshBefore = 10 * time.Minute
	DefaultBatchSize     = 100
	DefaultConcurrency   = 4
	// storeTimeout bounds storing a renewed token, which is done even when
	// the round is being cancelled: the platform may have rotated the
	// refresh token, so the new one must not be lost.
	storeTimeout = 10 * time.Second
)

// Config configures a Worker.
type Config struct {
	// Links is the credential store. Required.
	Links Links
	// Connectors by platform. Required; links of other platforms are left
	// alone (and logged).
	Connectors map[topics.Platform]platforms.Connector
	// Purges and Purger, together, enable retrying analytics purges.
	Purges Purges
	Purger pulse.AnalyticsPurger
	// Janitor, if set, deletes expired rows every round.
	Janitor Janitor
	// Interval between rounds. Default DefaultInterval.
	Interval time.Duration
	// RefreshBefore renews a token this long before it expires. It must
	// exceed Interval, so a token is seen at least once before it expires.
	// Default DefaultRefreshBefore (X's tokens last two hours).
	RefreshBefore time.Duration
	// Lease is how long a claimed link or purge is held before another
	// round (of any replica) may retry it. Default max(Interval, 1 minute).
	Lease time.Duration
	// BatchSize is the links claimed at a time. Default DefaultBatchSize.
	BatchSize int
	// Concurrency is the refreshes in flight at once. Default
	// DefaultConcurrency.
	Concurrency int
	// Clock defaults to time.Now.
	Clock func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Worker renews tokens and retries purges. Create it with New.
type Worker struct {
	cfg Config
	log *slog.Logger
}

// Stats counts what one round did.
type Stats struct {
	Refreshed   int // tokens renewed and stored
	NeedsReauth int // links marked needs_reauth
	Failed      int // refreshes to retry (transient failures)
	Skipped     int // claimed links left alone (unlinked, renewed elsewhere, no connector)
	Purged      int // purges done
	PurgeFailed int // purges to retry
	Expired     int // expired rows deleted
}

// New validates cfg and builds a Worker.
func New(cfg Config) (*Worker, error) {
	switch {
	case cfg.Links == nil:
		return nil, errors.New("refresher: no link store")
	case cfg.Connectors == nil:
		return nil, errors.New("refresher: no connectors")
	case (cfg.Purges == nil) != (cfg.Purger == nil):
		return nil, errors.New("refresher: Purges and Purger go together")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.RefreshBefore <= 0 {
		cfg.RefreshBefore = DefaultRefreshBefore
	}
	if cfg.RefreshBefore <= cfg.Interval {
		return nil, fmt.Errorf("refresher: RefreshBefore (%v) must exceed Interval (%v), or tokens expire between rounds",
			cfg.RefreshBefore, cfg.Interval)
	}
	if cfg.Lease <= 0 {
		cfg.Lease = max(cfg.Interval, time.Minute)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Worker{cfg: cfg, log: cfg.Logger}, nil
}

// Run runs a round at once and then every Interval until ctx is done, and
// returns nil. A failing round (e.g. PostgreSQL unreachable) is logged and
// the next one tries again.
func (r *Worker) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		st, err := r.RunOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			r.log.Error("refresher: round failed", "err", err)
		} else if st != (Stats{}) {
			r.log.Info("refresher: round done", "refreshed", st.Refreshed, "needs_reauth", st.NeedsReauth,
				"failed", st.Failed, "skipped", st.Skipped, "purged", st.Purged, "purge_failed", st.PurgeFailed,
				"expired_rows", st.Expired)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RunOnce runs one round: every due refresh, pending purge and the
// housekeeping. Per-link and per-purge failures are counted in Stats and
// logged; the error reports a store failure that stopped part of the
// round (the rest still ran).
func (r *Worker) RunOnce(ctx context.Context) (Stats, error) {
	var st Stats
	errRefresh := r.refreshDue(ctx, &st)
	errPurge := r.retryPurges(ctx, &st)
	var errJanitor error
	if r.cfg.Janitor != nil {
		n, err := r.cfg.Janitor.DeleteExpired(ctx, r.cfg.Clock().UTC())
		st.Expired = n
		if err != nil {
			errJanitor = fmt.Errorf("refresher: delete expired rows: %w", err)
		}
	}
	return st, errors.Join(errRefresh, errPurge, errJanitor)
}

// outcome of one link's refresh.
type outcome int

const (
	refreshed outcome = iota
	needsReauth
	failed
	skipped
)

// refreshDue claims and refreshes batches of expiring links until none
// are left.
func (r *Worker) refreshDue(ctx context.Context, st *Stats) error {
	for ctx.Err() == nil {
		now := r.cfg.Clock().UTC()
		before := now.Add(r.cfg.RefreshBefore)
		links, err := r.cfg.Links.ClaimExpiringLinks(ctx, before, now, r.cfg.BatchSize, r.cfg.Lease)
		if err != nil {
			return fmt.Errorf("refresher: claim expiring links: %w", err)
		}
		outcomes := make([]outcome, len(links))
		sem := make(chan struct{}, r.cfg.Concurrency)
		var wg sync.WaitGroup
		for i, l := range links {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				outcomes[i] = r.refreshLink(ctx, l, before)
			})
		}
		wg.Wait()
		for _, o := range outcomes {
			switch o {
			case refreshed:
				st.Refreshed++
			case needsReauth:
				st.NeedsReauth++
			case failed:
				st.Failed++
			case skipped:
				st.Skipped++
			}
		}
		// Claimed links are not claimable again within the lease, so a
		// short batch means there are no more.
		if len(links) < r.cfg.BatchSize {
			return nil
		}
	}
	return nil
}

// refreshLink renews one claimed link's token.
func (r *Worker) refreshLink(ctx context.Context, l pulse.Link, before time.Time) outcome {
	log := r.log.With("link", l.ID, "platform", l.Platform, "user", l.UserID)
	conn, ok := r.cfg.Connectors[l.Platform]
	if !ok {
		log.Warn("refresher: no connector for the link's platform")
		return skipped
	}
	tok, cur, err := r.cfg.Links.LinkToken(ctx, l.ID)
	switch {
	case pulse.ErrorCode(err) == pulse.ENOTFOUND:
		return skipped // unlinked meanwhile
	case err != nil:
		log.Error("refresher: read token", "err", err)
		return failed
	case cur.Status != pulse.LinkActive:
		return skipped
	case !tok.Expiry.IsZero() && tok.Expiry.After(before):
		return skipped // renewed by someone else (the fetcher) since the claim
	}
	nt, err := conn.Refresh(ctx, tok)
	if err != nil {
		switch platforms.ClassOf(err) {
		case platforms.Reauth, platforms.Permanent:
			reason := "token refresh rejected: " + err.Error()
			changed, merr := r.cfg.Links.MarkLinkStatusIfUnchanged(ctx, l.ID, cur.UpdatedAt, pulse.LinkNeedsReauth, reason)
			switch {
			case merr != nil:
				log.Error("refresher: mark needs_reauth", "err", merr, "refresh_err", err)
				return failed
			case !changed:
				log.Info("refresher: refresh rejected but the link changed meanwhile; left alone", "err", err)
				return skipped
			}
			log.Warn("refresher: link needs re-authorization", "err", err)
			return needsReauth
		default:
			log.Warn("refresher: refresh failed; will retry", "class", platforms.ClassOf(err), "err", err)
			return failed
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := r.cfg.Links.UpdateLinkToken(sctx, l.ID, nt); err != nil {
		log.Error("refresher: store renewed token", "err", err)
		return failed
	}
	log.Info("refresher: token renewed", "expires_at", nt.Expiry.UTC())
	return refreshed
}

// retryPurges runs the pending analytics purges that are due.
func (r *Worker) retryPurges(ctx context.Context, st *Stats) error {
	if r.cfg.Purges == nil {
		return nil
	}
	for ctx.Err() == nil {
		reqs, err := r.cfg.Purges.ClaimPurges(ctx, r.cfg.Clock().UTC(), r.cfg.BatchSize, r.cfg.Lease)
		if err != nil {
			return fmt.Errorf("refresher: claim purges: %w", err)
		}
		for _, p := range reqs {
			if err := r.cfg.Purger.Purge(ctx, p); err != nil {
				st.PurgeFailed++
				r.log.Warn("refresher: purge analytics failed; will retry", "user", p.UserID, "attempts", p.Attempts, "err", err)
				if err := r.cfg.Purges.PurgeFailed(ctx, p.UserID, err.Error()); err != nil {
					r.log.Warn("refresher: record purge failure", "user", p.UserID, "err", err)
				}
				continue
			}
			st.Purged++
			r.log.Info("refresher: analytics purged", "user", p.UserID, "attempts", p.Attempts)
			if err := r.cfg.Purges.PurgeDone(ctx, p.UserID); err != nil {
				r.log.Warn("refresher: record purge", "user", p.UserID, "err", err)
			}
		}
		if len(reqs) < r.cfg.BatchSize {
			return nil
		}
	}
	return nil
}
