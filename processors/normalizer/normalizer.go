// Package normalizer is the goka processor that turns raw platform payloads
// into Pulse's one schema: account snapshots and posts. Its group table,
// keyed by link ID, holds each link's latest observation and counters; it
// lets operators see what every link last produced and lets the processor
// recognise duplicate and out-of-order payloads.
//
// Normalization is a pure function of the payload, so replaying the input
// re-emits identical events; downstream stores are idempotent on the events'
// identities. A topics.LinkDeletion (a deleted user's link, from the
// aggregator) tombstones the link's row. Payloads that cannot be normalized (malformed JSON, missing
// required fields, unknown platform or schema version) go to the dead-letter
// topic with the reason, the original bytes and their topic/partition/offset.
package normalizer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/topics"
)

// Group is the normalizer's goka group; its table topic is Group+"-table".
const Group goka.Group = topics.GroupNormalizer

// Parser decodes one platform's payload bodies. platforms.Connector
// implements it.
type Parser interface {
	ParseAccount(body []byte) (platforms.Account, error)
	ParsePosts(body []byte) ([]platforms.PostData, error)
}

// State is the table value for one link.
type State struct {
	Platform  topics.Platform `json:"platform"`
	AccountID string          `json:"account_id"`
	// Version is the observation time (Unix ms) of the newest account
	// payload seen.
	Version   int64 `json:"version"`
	Followers int64 `json:"followers"`
	// Payloads counts distinct payloads normalized; a duplicate or replayed
	// payload does not count again.
	Payloads int64 `json:"payloads"`
	// OutOfOrder counts payloads older than Version that arrived after it.
	OutOfOrder int64 `json:"out_of_order"`
	// DeadLetters counts payloads sent to the dead-letter topic.
	DeadLetters int64 `json:"dead_letters"`
	// UnknownFields counts payloads carrying fields this build does not
	// know (a newer schema version added them; they are ignored), and
	// LastUnknown names the latest such fields.
	UnknownFields int64     `json:"unknown_fields,omitempty"`
	LastUnknown   []string  `json:"last_unknown,omitempty"`
	UpdatedAt     time.Time `json:"updated_at"`
	// PostsVersion is the version of the newest snapshot that read posts,
	// and RecentPosts and RecentEngagement its recent posts' numbers: a
	// fetch that skipped its posts (X's monthly cap) reports them.
	PostsVersion     int64 `json:"posts_version,omitempty"`
	RecentPosts      int   `json:"recent_posts,omitempty"`
	RecentEngagement int64 `json:"recent_engagement,omitempty"`
	// Recent holds the versions of the last RecentVersions account payloads,
	// so a redelivered payload is recognised even when it is not the newest.
	Recent []int64 `json:"recent,omitempty"`
	// Posts are the link's posts of the RecentWindow before PostsVersion,
	// as last read (at most MaxRecentPosts, the newest): a fetch that read
	// only new posts (RawPayload.PostsIncremental) is merged into them,
	// a full read replaces them, and RecentPosts and RecentEngagement
	// count them.
	Posts []RecentPost `json:"posts,omitempty"`
}

// RecentPost is one recent post of a link as last read.
type RecentPost struct {
	ID string `json:"id"`
	// Created is its creation time, in Unix seconds.
	Created int64 `json:"created"`
	// Engagement is its likes + comments + shares.
	Engagement int64 `json:"engagement"`
}

// MaxRecentPosts bounds State.Posts: a full read of 5 pages of X's 100
// posts reads 500.
const MaxRecentPosts = 1000

// readPosts folds the posts of the snapshot snap's fetch into the state's
// recent posts (replacing them unless the fetch was incremental), drops
// those older than RecentWindow before snap, and sets the recent numbers
// of snap and the state from them.
func (s *State) readPosts(snap *topics.AccountSnapshot, posts []topics.Post) {
	from := snap.ObservedAt.Add(-topics.RecentWindow).Unix()
	to := snap.ObservedAt.Unix()
	// A full read replaces the posts (its own are distinct); an
	// incremental one updates those it read again, found by id.
	var at map[string]int
	if snap.PostsIncremental {
		at = make(map[string]int, len(s.Posts))
		for i, p := range s.Posts {
			at[p.ID] = i
		}
	} else {
		s.Posts = s.Posts[:0]
	}
	for i := range posts {
		p := &posts[i]
		c := p.CreatedAt.Unix()
		if c < from || c > to {
			continue
		}
		rp := RecentPost{ID: p.PostID, Created: c, Engagement: p.Likes + p.Comments + p.Shares}
		if j, ok := at[p.PostID]; ok {
			s.Posts[j] = rp
			continue
		}
		if at != nil {
			at[p.PostID] = len(s.Posts)
		}
		s.Posts = append(s.Posts, rp)
	}
	kept := s.Posts[:0]
	for _, p := range s.Posts {
		if p.Created >= from {
			kept = append(kept, p)
		}
	}
	slices.SortFunc(kept, func(a, b RecentPost) int {
		if a.Created != b.Created {
			return cmp.Compare(b.Created, a.Created)
		}
		return strings.Compare(a.ID, b.ID)
	})
	if len(kept) > MaxRecentPosts {
		kept = kept[:MaxRecentPosts]
	}
	s.Posts = kept
	s.RecentPosts, s.RecentEngagement = len(kept), 0
	for _, p := range kept {
		s.RecentEngagement += p.Engagement
	}
	s.PostsVersion = snap.Version
	snap.RecentPosts, snap.RecentEngagement = s.RecentPosts, s.RecentEngagement
}

// RecentVersions is how many account-payload versions State remembers for
// duplicate detection (two days of hourly fetches).
const RecentVersions = 48

// seen reports whether v was already counted, remembering it if not.
func (s *State) seen(v int64) bool {
	if slices.Contains(s.Recent, v) {
		return true
	}
	s.Recent = append(s.Recent, v)
	if len(s.Recent) > RecentVersions {
		s.Recent = s.Recent[len(s.Recent)-RecentVersions:]
	}
	return false
}

// Config configures the processor.
type Config struct {
	// Brokers to connect to. Required.
	Brokers []string
	// Parsers by platform. Required: payloads of other platforms are
	// dead-lettered.
	Parsers map[topics.Platform]Parser
	// Options are extra goka options (topic manager, storage, tester...).
	Options []goka.ProcessorOption
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Group defaults to Group; benchmarks and tools use their own.
	Group goka.Group
}

// Definition returns the processor's group graph in group (Group when
// empty). log defaults to slog.Default().
func Definition(group goka.Group, parsers map[topics.Platform]Parser, log *slog.Logger) *goka.GroupGraph {
	if log == nil {
		log = slog.Default()
	}
	if group == "" {
		group = Group
	}
	n := &normalizer{parsers: parsers, log: log}
	return goka.DefineGroup(group,
		goka.Input(goka.Stream(topics.RawPayloads), new(codec.Bytes), n.process),
		goka.Input(goka.Stream(topics.LinkDeletions), new(codec.Bytes), n.forget),
		goka.Output(goka.Stream(topics.AccountSnapshots), topics.AccountSnapshotCodec),
		goka.Output(goka.Stream(topics.Posts), topics.PostCodec),
		goka.Output(goka.Stream(topics.DeadLetters), topics.DeadLetterCodec),
		goka.Persist(StateCodec{}),
	)
}

// New builds the processor. Run it with (*goka.Processor).Run(ctx); it stops
// when ctx is cancelled.
func New(cfg Config) (*goka.Processor, error) {
	counters()
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("normalizer: no brokers")
	}
	if len(cfg.Parsers) == 0 {
		return nil, errors.New("normalizer: no parsers")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p, err := goka.NewProcessor(cfg.Brokers, Definition(cfg.Group, cfg.Parsers, cfg.Logger), cfg.Options...)
	if err != nil {
		return nil, fmt.Errorf("normalizer: new processor: %w", err)
	}
	return p, nil
}

type normalizer struct {
	parsers map[topics.Platform]Parser
	log     *slog.Logger
}

func (n *normalizer) process(ctx goka.Context, msg any) {
	counters().in.Inc()
	raw := msg.([]byte)
	st, _ := ctx.Value().(*State)
	if st == nil {
		st = &State{}
	}
	snap, history, posts, unknown, err := n.normalize(raw)
	if err != nil {
		n.deadLetter(ctx, raw, err)
		st.DeadLetters++
		st.UpdatedAt = time.Now().UTC()
		ctx.SetValue(st)
		return
	}
	if len(unknown) > 0 {
		if st.UnknownFields == 0 || !slices.Equal(unknown, st.LastUnknown) {
			n.log.Info("normalizer: raw payload has fields this build ignores", "fields", unknown)
		}
		st.UnknownFields++
		st.LastUnknown = unknown
	}
	key := ctx.Key()
	// A user is waiting for this fetch: outputs carry the urgent header so
	// the sink writes them without waiting for its batch.
	var emitOpts []goka.ContextOption
	if v, ok := ctx.Headers()[topics.HeaderUrgent]; ok {
		emitOpts = append(emitOpts, goka.WithCtxEmitHeaders(goka.Headers{topics.HeaderUrgent: v}))
	}
	// Backfilled days: snapshots with their own observation times, on the
	// same topic, so replays, rollups and idempotence cover them; they
	// leave the state's latest observation alone.
	for i := range history {
		ctx.Emit(topics.AccountSnapshots, key, &history[i], emitOpts...)
	}
	// (Emitted before the fetch's own snapshot, oldest first, so a consumer
	// that keeps the newest observation, like the aggregator, folds them
	// in as history.)
	if snap != nil {
		// The recent posts' numbers: a fetch that read no posts, or only
		// the new ones, reports those the link's posts as last read give.
		switch {
		case snap.PostsSkipped:
			snap.RecentPosts, snap.RecentEngagement = st.RecentPosts, st.RecentEngagement
		case snap.Version > st.PostsVersion:
			st.readPosts(snap, posts)
		case snap.PostsIncremental:
			// Redelivered or out of order: what is known now.
			snap.RecentPosts, snap.RecentEngagement = st.RecentPosts, st.RecentEngagement
		}
		switch {
		case st.seen(snap.Version):
			// A redelivery: counted already.
		case snap.Version > st.Version:
			st.Version = snap.Version
			st.Followers = snap.Followers
			st.Platform, st.AccountID = snap.Platform, snap.AccountID
			st.Payloads++
		default:
			st.OutOfOrder++
			st.Payloads++
		}
		// Emitted even when older or duplicate: an older snapshot is still
		// history for its own hour, and the sink is idempotent on identity.
		ctx.Emit(topics.AccountSnapshots, key, snap, emitOpts...)
		counters().snapshots.Inc()
	}

	for i := range posts {
		ctx.Emit(topics.Posts, key, &posts[i], emitOpts...)
	}
	counters().posts.Add(float64(len(posts)))
	st.UpdatedAt = time.Now().UTC()
	ctx.SetValue(st)
}

// forget handles a deleted user's link: it tombstones the link's row.
func (n *normalizer) forget(ctx goka.Context, msg any) {
	d, err := topics.LinkDeletionCodec.Unmarshal(msg.([]byte))
	if err == nil && d.LinkID != ctx.Key() {
		err = fmt.Errorf("deletion of link %q keyed %q", d.LinkID, ctx.Key())
	}
	if err != nil {
		n.deadLetter(ctx, msg.([]byte), err)
		return
	}
	if ctx.Value() != nil {
		ctx.Delete()
	}
}

func (n *normalizer) deadLetter(ctx goka.Context, raw []byte, reason error) {
	n.log.Warn("normalizer: dead-lettering payload", "key", ctx.Key(), "partition", ctx.Partition(), "offset", ctx.Offset(), "reason", reason)
	countDeadLetter(reason)
	ctx.Emit(topics.DeadLetters, ctx.Key(), &topics.DeadLetter{
		Reason:      reason.Error(),
		SourceTopic: string(ctx.Topic()),
		Partition:   ctx.Partition(),
		Offset:      ctx.Offset(),
		Key:         ctx.Key(),
		Value:       raw,
		At:          time.Now().UTC(),
	})
}

// Normalize turns one encoded RawPayload into normalized events: the
// snapshot of the fetch (with the insights it read), the snapshots of
// the past days its history describes (History set, oldest first) and the
// posts. It is the processor's pure core, exported for tests and tools.
func Normalize(parsers map[topics.Platform]Parser, raw []byte) (*topics.AccountSnapshot, []topics.AccountSnapshot, []topics.Post, error) {
	snap, history, posts, _, err := (&normalizer{parsers: parsers}).normalize(raw)
	return snap, history, posts, err
}

// normalize decodes raw once (the envelope and then each body, into the
// parsers' structs) and returns its events and the envelope's fields this
// build does not know.
func (n *normalizer) normalize(raw []byte) (*topics.AccountSnapshot, []topics.AccountSnapshot, []topics.Post, []string, error) {
	p, unknown, err := topics.DecodeRawPayload(raw)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	snap, posts, err := n.normalizeFetch(p)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if len(p.Insights) == 0 {
		return snap, nil, posts, unknown, nil
	}
	ip, ok := n.parsers[p.Platform].(platforms.InsightsParser)
	if !ok {
		return nil, nil, nil, nil, fmt.Errorf("raw payload: %s carries insights but its parser reads none", p.Platform)
	}
	var days []platforms.DayMetrics
	for i, b := range p.Insights {
		d, err := ip.ParseInsights(b)
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("parse %s insights %d: %w", p.Platform, i+1, err)
		}
		days = append(days, d...)
	}
	days = mergeDays(days)
	snap.Insights = dayInsights(days)
	return snap, history(snap, days), posts, unknown, nil
}

// mergeDays merges the days of several insights bodies, by day, later
// values winning, oldest first.
func mergeDays(in []platforms.DayMetrics) []platforms.DayMetrics {
	byDay := map[int64]*platforms.DayMetrics{}
	var order []int64
	for _, d := range in {
		k := d.Day.UTC().Unix()
		m, ok := byDay[k]
		if !ok {
			m = &platforms.DayMetrics{Day: d.Day.UTC()}
			byDay[k] = m
			order = append(order, k)
		}
		for _, f := range []struct{ dst, src **int64 }{
			{&m.Followers, &d.Followers}, {&m.FollowerGain, &d.FollowerGain},
			{&m.Reach, &d.Reach}, {&m.Views, &d.Views}, {&m.ProfileViews, &d.ProfileViews},
		} {
			if *f.src != nil {
				*f.dst = *f.src
			}
		}
	}
	slices.Sort(order)
	out := make([]platforms.DayMetrics, len(order))
	for i, k := range order {
		out[i] = *byDay[k]
	}
	return out
}

// dayInsights keeps the days that report an insight.
func dayInsights(days []platforms.DayMetrics) []topics.DayInsights {
	var out []topics.DayInsights
	for _, d := range days {
		if d.Reach == nil && d.Views == nil && d.ProfileViews == nil {
			continue
		}
		out = append(out, topics.DayInsights{Day: d.Day, Reach: d.Reach, Views: d.Views, ProfileViews: d.ProfileViews})
	}
	return out
}

// history returns a snapshot for each complete day before snap's
// observation whose followers at its end are known: the platform's total
// (Facebook page_follows) or, from daily changes (Instagram
// follower_count), snap's live count less every change after that day's
// end, the current day's so far included. A gap in the changes ends the
// count back. Each is observed at its day's end less a second, so it is
// that day's last hourly value; re-reading the same history yields the
// same snapshots.
//
// A point's Version is not its observation time but the time it was
// estimated: snap's Version less one millisecond per later point (oldest
// first). Every later fetch re-estimates the last days (yesterday's end
// at least), and an estimate counted back from a live count and a daily
// change read a moment apart can differ by a follower or two, and a
// platform may revise a day's total: with the day's end as the version,
// two values shared one version and ClickHouse kept either (the hourly
// row one, a rollup computed before the merge the other: make chaos saw
// it). Now the newest estimate supersedes the older ones, and a redelivery
// of the same raw payload repeats the same versions.
func history(snap *topics.AccountSnapshot, days []platforms.DayMetrics) []topics.AccountSnapshot {
	observed := snap.ObservedAt
	total := map[int64]int64{}
	for _, d := range days {
		if d.Followers != nil {
			total[d.Day.Unix()] = *d.Followers
		}
	}
	// Count back from the live count through consecutive daily changes.
	running, next := snap.Followers, time.Time{}
	for i := len(days) - 1; i >= 0; i-- {
		d := days[i]
		if d.FollowerGain == nil || (!next.IsZero() && !d.Day.Add(24*time.Hour).Equal(next)) {
			break
		}
		if next.IsZero() && d.Day.Add(24*time.Hour).Before(observed) {
			break // the current day's change is missing: the count is unknown
		}
		running -= *d.FollowerGain // now the count at d's start: the day before's end
		next = d.Day
		if prev := d.Day.Add(-24 * time.Hour).Unix(); !has(total, prev) {
			total[prev] = running
		}
	}
	var out []topics.AccountSnapshot
	for _, d := range days {
		f, ok := total[d.Day.Unix()]
		end := d.Day.Add(24 * time.Hour)
		if !ok || end.After(observed) {
			continue
		}
		at := end.Add(-time.Second)
		out = append(out, topics.AccountSnapshot{
			LinkID: snap.LinkID, UserID: snap.UserID, Platform: snap.Platform, AccountID: snap.AccountID,
			Handle: snap.Handle, Hour: at.Truncate(time.Hour), ObservedAt: at, Followers: f,
			History: true,
		})
	}
	// The day before the oldest change, counted back, has no entry in
	// days: add it when it is complete.
	if len(days) > 0 {
		first := days[0].Day.Add(-24 * time.Hour)
		if f, ok := total[first.Unix()]; ok && days[0].Followers == nil {
			at := first.Add(24*time.Hour - time.Second)
			out = append([]topics.AccountSnapshot{{
				LinkID: snap.LinkID, UserID: snap.UserID, Platform: snap.Platform, AccountID: snap.AccountID,
				Handle: snap.Handle, Hour: at.Truncate(time.Hour), ObservedAt: at, Followers: f,
				History: true,
			}}, out...)
		}
	}
	for i := range out {
		out[i].Version = snap.Version - int64(len(out)-i)
	}
	return out
}

func (n *normalizer) normalizeFetch(p *topics.RawPayload) (*topics.AccountSnapshot, []topics.Post, error) {
	if p.LinkID == "" || p.UserID == "" || p.FetchedAt.IsZero() {
		return nil, nil, fmt.Errorf("raw payload: missing link_id, user_id or fetched_at")
	}
	parser, ok := n.parsers[p.Platform]
	if !ok {
		return nil, nil, fmt.Errorf("raw payload: unknown platform %q", p.Platform)
	}
	observed := p.FetchedAt.UTC()
	version := observed.UnixMilli()
	acc, err := parser.ParseAccount(p.Account)
	if err != nil {
		return nil, nil, fmt.Errorf("parse %s account: %w", p.Platform, err)
	}
	snap := &topics.AccountSnapshot{
		LinkID:     p.LinkID,
		UserID:     p.UserID,
		Platform:   p.Platform,
		AccountID:  acc.ID,
		Handle:     acc.Handle,
		Hour:       observed.Truncate(time.Hour),
		ObservedAt: observed,
		Followers:  acc.Followers,
		Following:  acc.Following,
		PostsCount: acc.PostsCount,
		Version:    version,
		// process fills its recent posts in from the state.
		PostsSkipped:     p.PostsSkipped,
		PostsIncremental: p.PostsIncremental && !p.PostsSkipped,
	}
	var posts []topics.Post
	seen := map[string]bool{}
	for i, page := range p.PostPages {
		data, err := parser.ParsePosts(page)
		if err != nil {
			return nil, nil, fmt.Errorf("parse %s posts page %d: %w", p.Platform, i+1, err)
		}
		posts = slices.Grow(posts, len(data)) // one allocation for a one-page fetch
		for _, d := range data {
			if d.ID == "" {
				return nil, nil, fmt.Errorf("parse %s posts page %d: post without id", p.Platform, i+1)
			}
			if seen[d.ID] {
				continue // pages can overlap when posts arrive mid-fetch
			}
			seen[d.ID] = true
			created := d.CreatedAt.UTC()
			if !created.Before(observed.Add(-topics.RecentWindow)) && !created.After(observed) {
				snap.RecentPosts++
				snap.RecentEngagement += d.Likes + d.Comments + d.Shares
			}
			posts = append(posts, topics.Post{
				LinkID:     p.LinkID,
				UserID:     p.UserID,
				Platform:   p.Platform,
				AccountID:  acc.ID,
				PostID:     d.ID,
				CreatedAt:  created,
				ObservedAt: observed,
				Text:       excerpt(d.Text, 280),
				Permalink:  d.Permalink,
				Likes:      d.Likes,
				Comments:   d.Comments,
				Shares:     d.Shares,
				Views:      d.Views,
				Reach:      d.Reach,
				Saves:      d.Saves,
				Version:    version,
			})
		}
	}
	return snap, posts, nil
}

// excerpt returns at most n runes of s.
func excerpt(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// Run runs p until ctx is cancelled, treating a clean cancel as success.
func Run(ctx context.Context, p *goka.Processor) error {
	err := p.Run(ctx)
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("normalizer: %w", err)
	}
	return nil
}

func has(m map[int64]int64, k int64) bool { _, ok := m[k]; return ok }
