// Package fetcher consumes fetch requests, calls the platform APIs with the
// linked account's token and publishes the raw payloads. Offsets are
// committed only after the payloads and the outcome of every request in a
// poll are acknowledged by Kafka, so a crash re-fetches rather than loses.
package fetcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/topics"
)

// Links is the credential store the fetcher reads tokens from.
// *postgres.DB implements it.
type Links interface {
	LinkToken(ctx context.Context, linkID string) (*oauth2.Token, pulse.Link, error)
	UpdateLinkToken(ctx context.Context, linkID string, tok *oauth2.Token) error
	LinkByID(ctx context.Context, linkID string) (pulse.Link, error)
	// MarkLinkStatusIfUnchanged marks the link unless it was updated after
	// updatedAt (a relink or a refresh stored a newer token meanwhile).
	MarkLinkStatusIfUnchanged(ctx context.Context, linkID string, updatedAt time.Time, status pulse.LinkStatus, reason string) (bool, error)
	MarkFetched(ctx context.Context, linkID string, at time.Time) error
	// MarkPostsRead records what a fetch read of the link's posts: where
	// its next incremental read starts, and its decaying refresh.
	MarkPostsRead(ctx context.Context, linkID string, r pulse.PostsRead) error
}

// Config configures a Fetcher.
type Config struct {
	// Brokers to consume from and produce to. Required.
	Brokers []string
	// Links is the credential store. Required.
	Links Links
	// Connectors by platform. Required; requests for other platforms get a
	// permanent outcome.
	Connectors map[topics.Platform]platforms.Connector
	// Group is the consumer group. Default topics.GroupFetcher.
	Group string
	// Concurrency is how many requests are fetched at once. Default 4.
	Concurrency int
	// RefreshBefore refreshes a token this long before it expires. Default
	// 5 minutes.
	RefreshBefore time.Duration
	// Clock defaults to time.Now.
	Clock func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// ClientOptions are extra franz-go options.
	ClientOptions []kgo.Opt
}

// Fetcher turns fetch requests into raw payloads.
type Fetcher struct {
	cfg Config
	cl  *kgo.Client
	log *slog.Logger
}

// New validates cfg and builds a Fetcher.
func New(cfg Config) (*Fetcher, error) {
	switch {
	case len(cfg.Brokers) == 0:
		return nil, errors.New("fetcher: no brokers")
	case cfg.Links == nil:
		return nil, errors.New("fetcher: no link store")
	case len(cfg.Connectors) == 0:
		return nil, errors.New("fetcher: no connectors")
	}
	if cfg.Group == "" {
		cfg.Group = topics.GroupFetcher
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.RefreshBefore <= 0 {
		cfg.RefreshBefore = 5 * time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	opts := append([]kgo.Opt{
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(topics.FetchRequests),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
	}, cfg.ClientOptions...)
	cl, err := kafka.NewClient(cfg.Brokers, opts...)
	if err != nil {
		return nil, fmt.Errorf("fetcher: %w", err)
	}
	initOutcomes(cfg.Connectors)
	return &Fetcher{cfg: cfg, cl: cl, log: cfg.Logger}, nil
}

// Run consumes until ctx is cancelled.
func (f *Fetcher) Run(ctx context.Context) error {
	defer f.cl.Close()
	for {
		fetches := f.cl.PollRecords(ctx, f.cfg.Concurrency*4)
		if ctx.Err() != nil {
			f.cl.AllowRebalance()
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			f.log.Warn("fetcher: fetch error", "topic", t, "partition", p, "err", err)
		})
		recs := fetches.Records()
		err := f.handleBatch(ctx, recs)
		if err == nil && len(recs) > 0 {
			err = f.cl.CommitRecords(ctx, recs...)
		}
		f.cl.AllowRebalance()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("fetcher: %w", err)
		}
	}
}

func (f *Fetcher) handleBatch(ctx context.Context, recs []*kgo.Record) error {
	sem := make(chan struct{}, f.cfg.Concurrency)
	var wg sync.WaitGroup
	errs := make([]error, len(recs))
	for i, r := range recs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = f.handle(ctx, r)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// handle fetches one request. It returns an error only when Kafka could not
// take the results (the batch is then not committed and is retried).
func (f *Fetcher) handle(ctx context.Context, r *kgo.Record) error {
	req, err := topics.FetchRequestCodec.Unmarshal(r.Value)
	if err != nil {
		deadLetters().Inc()
		return f.produce(ctx, deadLetter(r, err))
	}
	out, recs := f.fetch(ctx, req)
	f.countOutcome(req.Platform, out.Outcome)
	if out.Outcome != topics.OutcomeOK {
		f.log.Info("fetcher: fetch did not succeed", "link", req.LinkID, "platform", req.Platform, "outcome", out.Outcome, "err", out.Error)
	}
	ob, err := topics.FetchOutcomeCodec.Marshal(out)
	if err != nil {
		return err
	}
	recs = append(recs, &kgo.Record{Topic: topics.FetchOutcomes, Key: []byte(req.LinkID), Value: ob})
	return f.produce(ctx, recs...)
}

func (f *Fetcher) produce(ctx context.Context, recs ...*kgo.Record) error {
	if err := f.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	return nil
}

func deadLetter(r *kgo.Record, reason error) *kgo.Record {
	b, _ := topics.DeadLetterCodec.Marshal(&topics.DeadLetter{
		Reason: "fetcher: " + reason.Error(), SourceTopic: r.Topic, Partition: r.Partition,
		Offset: r.Offset, Key: string(r.Key), Value: r.Value, At: time.Now().UTC(),
	})
	return &kgo.Record{Topic: topics.DeadLetters, Key: r.Key, Value: b}
}

// fetch performs one request and returns its outcome and the raw payload
// records to publish.
func (f *Fetcher) fetch(ctx context.Context, req *topics.FetchRequest) (*topics.FetchOutcome, []*kgo.Record) {
	now := f.cfg.Clock().UTC()
	out := &topics.FetchOutcome{RequestID: req.ID, LinkID: req.LinkID, UserID: req.UserID,
		Platform: req.Platform, Outcome: topics.OutcomeOK, Remaining: -1, At: now, AccountID: req.AccountID}
	conn, ok := f.cfg.Connectors[req.Platform]
	if !ok {
		out.Outcome, out.Error = topics.OutcomePermanent, fmt.Sprintf("no connector for platform %q", req.Platform)
		return out, nil
	}
	tok, link, err := f.cfg.Links.LinkToken(ctx, req.LinkID)
	if err != nil {
		out.Outcome, out.Error = topics.OutcomeLinkMissing, err.Error()
		return out, nil
	}
	if out.AccountID == "" {
		out.AccountID = link.AccountID
	}
	if link.Status != pulse.LinkActive {
		out.Outcome, out.Error = topics.OutcomeLinkMissing, "link is "+string(link.Status)
		return out, nil
	}
	if !tok.Expiry.IsZero() && tok.Expiry.Sub(now) < f.cfg.RefreshBefore {
		if tok, err = f.refresh(ctx, conn, req.LinkID, tok); err != nil {
			f.classify(ctx, out, link, err)
			return out, nil
		}
		if l, err := f.cfg.Links.LinkByID(ctx, req.LinkID); err == nil {
			link = l // its UpdatedAt now covers the token just stored
		}
	}
	// The link's account, exactly: an answer about another account is an
	// error, never a payload. The first fetch of a link also reads its
	// history (a backfill), from the same budget as any fetch.
	// An incremental read: the posts newer than the cursor and, on the
	// decaying refresh, every post of the last RefreshDays days.
	preq := platforms.Request{
		AccountID: link.AccountID,
		Cursor:    req.PostsSince,
		Backfill:  req.Backfill || req.Reason == topics.ReasonInitial,
		SkipPosts: req.SkipPosts,
	}
	if req.PostsSince != "" && req.RefreshDays > 0 {
		preq.Since = now.Add(-time.Duration(req.RefreshDays) * 24 * time.Hour)
	}
	read := pulse.PostsRead{Days: req.RefreshDays, At: now}
	if req.PostsSince == "" {
		read.Days = topics.RecentDays // a full read
	}
	res, err := conn.Fetch(ctx, tok, preq)
	if res != nil {
		out.Calls = res.Calls
		countCalls(req, res.Calls)
		if !req.SkipPosts {
			out.Incremental = req.PostsSince != ""
			out.RefreshDays = read.Days
		}
		out.Remaining = res.Limit.Remaining
		out.SkippedMetrics = res.Skipped
		if len(res.Skipped) > 0 {
			f.log.Warn("fetcher: the platform no longer serves metrics; skipped", "link", req.LinkID, "platform", req.Platform, "metrics", res.Skipped)
		}
		out.PostPages = len(res.PostBodies)
		out.PostsRead = res.PostsRead
		for _, u := range res.Usage {
			out.Usage = append(out.Usage, topics.LimitUsage{Scope: u.Scope, Name: u.Name, UsedPct: u.UsedPct,
				Remaining: u.Remaining, Limit: u.Limit, Reset: u.Reset.UTC()})
		}
	}
	if err != nil {
		f.classify(ctx, out, link, err)
		return out, nil
	}
	if err := f.cfg.Links.MarkFetched(ctx, req.LinkID, now); err != nil {
		f.log.Warn("fetcher: mark fetched", "link", req.LinkID, "err", err)
	}
	if !req.SkipPosts {
		// Recorded before the payloads are produced: if producing fails, the
		// request is fetched again with its own cursor, reading the same
		// posts again (the sink is idempotent on them).
		out.NextCursor, read.Cursor = res.NextCursor, res.NextCursor
	}
	fetchedAt := f.cfg.Clock().UTC()
	accountID := res.AccountID
	if accountID == "" {
		accountID = link.AccountID
	}
	out.AccountID = accountID
	// One fetch per platform account: the result goes to every link to it
	// (other users who linked the same account), each keyed by its link.
	var recs []*kgo.Record
	for _, to := range append([]topics.LinkRef{{LinkID: req.LinkID, UserID: req.UserID}}, req.AlsoFor...) {
		if to.LinkID != req.LinkID {
			if err := f.cfg.Links.MarkFetched(ctx, to.LinkID, now); err != nil {
				f.log.Warn("fetcher: mark fetched", "link", to.LinkID, "err", err)
			}
		}
		if !req.SkipPosts {
			if err := f.cfg.Links.MarkPostsRead(ctx, to.LinkID, read); err != nil {
				// The link keeps its cursor: its next read repeats this one's.
				f.log.Warn("fetcher: mark posts read", "link", to.LinkID, "err", err)
			}
		}
		b, err := topics.RawPayloadCodec.Marshal(&topics.RawPayload{
			RequestID: req.ID, LinkID: to.LinkID, UserID: to.UserID, Platform: req.Platform,
			AccountID: accountID, FetchedAt: fetchedAt, Account: res.AccountBody, PostPages: res.PostBodies,
			Insights: res.InsightBodies, PostsSkipped: req.SkipPosts,
			PostsIncremental: !req.SkipPosts && req.PostsSince != "" && req.RefreshDays < topics.RecentDays,
		})
		if err != nil {
			out.Outcome, out.Error = topics.OutcomePermanent, err.Error()
			return out, nil
		}
		rec := &kgo.Record{Topic: topics.RawPayloads, Key: []byte(to.LinkID), Value: b}
		if req.Reason == topics.ReasonOnDemand || req.Reason == topics.ReasonInitial {
			rec.Headers = []kgo.RecordHeader{{Key: topics.HeaderUrgent, Value: []byte("1")}}
		}
		recs = append(recs, rec)
	}
	return out, recs
}

func (f *Fetcher) refresh(ctx context.Context, conn platforms.Connector, linkID string, tok *oauth2.Token) (*oauth2.Token, error) {
	nt, err := conn.Refresh(ctx, tok)
	if err != nil {
		return nil, err
	}
	if err := f.cfg.Links.UpdateLinkToken(ctx, linkID, nt); err != nil {
		return nil, fmt.Errorf("store refreshed token: %w", err)
	}
	return nt, nil
}

// classify fills out from a connector error and marks the link when the
// user must act.
func (f *Fetcher) classify(ctx context.Context, out *topics.FetchOutcome, link pulse.Link, err error) {
	out.Error = err.Error()
	var pe *platforms.Error
	if errors.As(err, &pe) {
		out.RetryAfter = pe.RetryAfter
		out.LimitScope = pe.Scope
		if pe.Limit.Remaining >= 0 {
			out.Remaining = pe.Limit.Remaining
		}
	}
	switch platforms.ClassOf(err) {
	case platforms.Throttled:
		out.Outcome = topics.OutcomeThrottled
	case platforms.Reauth:
		out.Outcome = topics.OutcomeReauth
		// Only the token this fetch used is condemned: a relink or refresh
		// that stored a newer one meanwhile keeps the link active.
		if _, err := f.cfg.Links.MarkLinkStatusIfUnchanged(ctx, link.ID, link.UpdatedAt, pulse.LinkNeedsReauth, out.Error); err != nil {
			f.log.Warn("fetcher: mark needs_reauth", "link", link.ID, "err", err)
		}
	case platforms.Permission:
		out.Outcome = topics.OutcomePermission
	case platforms.Permanent:
		out.Outcome = topics.OutcomePermanent
	default:
		out.Outcome = topics.OutcomeTransient
	}
}
