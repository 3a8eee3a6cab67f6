// Package aggregator is the goka processor that keeps each user's rolling
// numbers in a group table keyed by user ID: the latest values of every
// linked account, follower deltas over 24 hours, 7 and 30 days, and an
// engagement rate over the last 30 days of posts. Every change is published
// to topics.UserAggregates for internal teams, and a goka View of the table
// serves the API's "now" numbers.
//
// Snapshots arrive keyed by link ID; the processor re-keys them by user
// through goka's loopback, so one user's accounts meet in one table row.
// Each snapshot carries the engagement of the posts fetched with it, so the
// processor needs no per-post state and a user's row stays small (about a
// kilobyte per account). The state is a function of the events alone (no
// wall clock): a duplicate, or an observation no newer than the one already
// applied, leaves the table unchanged and emits nothing, so replaying the
// inputs changes nothing.
//
// A topics.UserDeletion makes the processor forget a deleted user: it
// tombstones the user's row (so the compacted table topic, and every view
// of it, drops the user) and publishes a topics.LinkDeletion for each of
// the user's links, which the normalizer tombstones in turn.
package aggregator

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/pulsehq/pulse/topics"
)

// Group is the aggregator's goka group.
const Group goka.Group = topics.GroupAggregator

// Table is the aggregator's group table, keyed by user ID.
var Table = goka.GroupTable(Group)

const (
	hourlyWindow = 25 * time.Hour      // hourly follower samples kept
	dailyWindow  = 31 * 24 * time.Hour // daily follower samples kept
)

// State is the table value for one user.
type State struct {
	// Accounts by link ID.
	Accounts  map[string]*Account `json:"accounts"`
	UpdatedAt time.Time           `json:"updated_at"`
}

// Account is one linked account's state.
type Account struct {
	LinkID           string          `json:"link_id"`
	Platform         topics.Platform `json:"platform"`
	AccountID        string          `json:"account_id"`
	Handle           string          `json:"handle,omitempty"`
	Followers        int64           `json:"followers"`
	Following        int64           `json:"following"`
	PostsCount       int64           `json:"posts_count"`
	RecentPosts      int             `json:"recent_posts"`
	RecentEngagement int64           `json:"recent_engagement"`
	ObservedAt       time.Time       `json:"observed_at"`
	// Version of the newest snapshot applied (observation time, Unix ms;
	// a history snapshot's ObservedAt).
	Version int64 `json:"version"`
	// Hourly holds the last observation of each hour over the last 25
	// hours, Daily the last observation of each UTC day over the last 31
	// days; both oldest first.
	Hourly []Sample `json:"hourly,omitempty"`
	Daily  []Sample `json:"daily,omitempty"`
}

// Sample is a follower count and the hour it was observed in.
type Sample struct {
	Hour      int64 `json:"h"` // Unix seconds
	Followers int64 `json:"f"`
}

// StateCodec encodes State as JSON; views of the table use it.
type StateCodec struct{}

func (StateCodec) Encode(v any) ([]byte, error) { return json.Marshal(v) }
func (StateCodec) Decode(b []byte) (any, error) {
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("aggregator: decode state: %w", err)
	}
	return &s, nil
}

// Definition returns the processor's group graph. log defaults to
// slog.Default().
func Definition(log *slog.Logger) *goka.GroupGraph {
	if log == nil {
		log = slog.Default()
	}
	a := &aggregator{log: log}
	return goka.DefineGroup(Group,
		goka.Input(goka.Stream(topics.AccountSnapshots), new(codec.Bytes), a.rekeySnapshot),
		goka.Loop(topics.AccountSnapshotCodec, a.apply),
		goka.Input(goka.Stream(topics.UserDeletions), new(codec.Bytes), a.forget),
		goka.Output(goka.Stream(topics.LinkDeletions), topics.LinkDeletionCodec),
		goka.Output(goka.Stream(topics.UserAggregates), topics.UserAggregateCodec),
		goka.Output(goka.Stream(topics.DeadLetters), topics.DeadLetterCodec),
		goka.Persist(StateCodec{}),
	)
}

// Config configures the processor.
type Config struct {
	// Brokers to connect to. Required.
	Brokers []string
	// Options are extra goka options (topic manager, storage, tester...).
	Options []goka.ProcessorOption
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// New builds the processor; run it with (*goka.Processor).Run.
func New(cfg Config) (*goka.Processor, error) {
	counters()
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("aggregator: no brokers")
	}
	p, err := goka.NewProcessor(cfg.Brokers, Definition(cfg.Logger), cfg.Options...)
	if err != nil {
		return nil, fmt.Errorf("aggregator: new processor: %w", err)
	}
	return p, nil
}

type aggregator struct {
	log *slog.Logger
}

func (a *aggregator) rekeySnapshot(ctx goka.Context, msg any) {
	counters().in.Inc()
	s, err := topics.AccountSnapshotCodec.Unmarshal(msg.([]byte))
	if err == nil && (s.UserID == "" || s.LinkID == "") {
		err = errors.New("snapshot without user_id or link_id")
	}
	if err != nil {
		a.deadLetter(ctx, msg.([]byte), err)
		return
	}
	ctx.Loopback(s.UserID, s)
}

func (a *aggregator) deadLetter(ctx goka.Context, raw []byte, reason error) {
	a.log.Warn("aggregator: dead-lettering record", "topic", ctx.Topic(), "partition", ctx.Partition(), "offset", ctx.Offset(), "reason", reason)
	counters().dead.Inc()
	counters().deadOut.Inc()
	ctx.Emit(topics.DeadLetters, ctx.Key(), &topics.DeadLetter{
		Reason: "aggregator: " + reason.Error(), SourceTopic: string(ctx.Topic()), Partition: ctx.Partition(),
		Offset: ctx.Offset(), Key: ctx.Key(), Value: raw, At: time.Now().UTC(),
	})
}

func (a *aggregator) apply(ctx goka.Context, msg any) {
	st, _ := ctx.Value().(*State)
	if st == nil {
		st = &State{}
	}
	if !st.ApplySnapshot(msg.(*topics.AccountSnapshot)) {
		return
	}
	ctx.SetValue(st)
	ctx.Emit(topics.UserAggregates, ctx.Key(), st.Aggregate(ctx.Key()))
	counters().out.Inc()
}

// forget handles a deleted user: it tombstones the user's row and asks the
// normalizer, through topics.LinkDeletions, to forget every link in the
// row or named by the deletion.
func (a *aggregator) forget(ctx goka.Context, msg any) {
	d, err := topics.UserDeletionCodec.Unmarshal(msg.([]byte))
	if err == nil && d.UserID != ctx.Key() {
		err = fmt.Errorf("deletion of user %q keyed %q", d.UserID, ctx.Key())
	}
	if err != nil {
		a.deadLetter(ctx, msg.([]byte), err)
		return
	}
	links := map[string]bool{}
	for _, id := range d.LinkIDs {
		links[id] = true
	}
	if st, _ := ctx.Value().(*State); st != nil {
		for id := range st.Accounts {
			links[id] = true
		}
		ctx.Delete()
	}
	for _, id := range slices.Sorted(maps.Keys(links)) {
		if id == "" {
			continue
		}
		ctx.Emit(topics.LinkDeletions, id, &topics.LinkDeletion{LinkID: id, UserID: d.UserID, DeletedAt: d.DeletedAt})
	}
	a.log.Info("aggregator: forgot a deleted user", "user", d.UserID, "links", len(links))
}

func (st *State) account(linkID string) *Account {
	if st.Accounts == nil {
		st.Accounts = map[string]*Account{}
	}
	acc := st.Accounts[linkID]
	if acc == nil {
		acc = &Account{LinkID: linkID}
		st.Accounts[linkID] = acc
	}
	return acc
}

// ApplySnapshot folds s into the state and reports whether anything
// changed: a snapshot no newer than the account's latest changes nothing.
// A history snapshot (a backfilled day's end) is as new as the moment it
// describes, its ObservedAt (its Version is when it was estimated), so
// the days a later fetch re-estimates are older than the account's latest
// observation and leave it alone.
func (st *State) ApplySnapshot(s *topics.AccountSnapshot) bool {
	acc := st.account(s.LinkID)
	v := s.Version
	if s.History {
		v = s.ObservedAt.UnixMilli()
	}
	if v <= acc.Version {
		return false
	}
	acc.Platform, acc.AccountID, acc.Version = s.Platform, s.AccountID, v
	if s.Handle != "" {
		acc.Handle = s.Handle
	}
	acc.Followers, acc.Following, acc.PostsCount = s.Followers, s.Following, s.PostsCount
	acc.RecentPosts, acc.RecentEngagement = s.RecentPosts, s.RecentEngagement
	acc.ObservedAt = s.ObservedAt.UTC()
	hour := s.Hour.UTC().Truncate(time.Hour)
	acc.Hourly = record(acc.Hourly, hour, hour.Unix(), s.Followers, hourlyWindow)
	day := hour.Truncate(24 * time.Hour)
	acc.Daily = recordDaily(acc.Daily, day, hour.Unix(), s.Followers)
	st.touch(acc.ObservedAt)
	return true
}

// record sets the sample of hour (replacing one of the same hour) and drops
// samples older than window before it.
func record(samples []Sample, hour time.Time, at, followers int64, window time.Duration) []Sample {
	if n := len(samples); n > 0 && samples[n-1].Hour == at {
		samples[n-1].Followers = followers
	} else {
		samples = append(samples, Sample{Hour: at, Followers: followers})
	}
	cutoff := hour.Add(-window).Unix()
	i := sort.Search(len(samples), func(i int) bool { return samples[i].Hour >= cutoff })
	return slices.Clone(samples[i:])
}

// recordDaily keeps the latest sample of each UTC day over dailyWindow.
func recordDaily(samples []Sample, day time.Time, at, followers int64) []Sample {
	if n := len(samples); n > 0 && time.Unix(samples[n-1].Hour, 0).UTC().Truncate(24*time.Hour).Equal(day) {
		samples[n-1] = Sample{Hour: at, Followers: followers}
	} else {
		samples = append(samples, Sample{Hour: at, Followers: followers})
	}
	cutoff := day.Add(-dailyWindow).Unix()
	i := sort.Search(len(samples), func(i int) bool { return samples[i].Hour >= cutoff })
	return slices.Clone(samples[i:])
}

func (st *State) touch(t time.Time) {
	if t.After(st.UpdatedAt) {
		st.UpdatedAt = t
	}
}

// Aggregate returns the published form of the state, accounts ordered by
// platform and account ID.
func (st *State) Aggregate(userID string) *topics.UserAggregate {
	out := &topics.UserAggregate{UserID: userID, UpdatedAt: st.UpdatedAt, Accounts: []topics.AccountAggregate{}}
	for _, acc := range st.Accounts {
		if acc.Version == 0 {
			continue // posts seen, no snapshot yet
		}
		aa := topics.AccountAggregate{
			LinkID: acc.LinkID, Platform: acc.Platform, AccountID: acc.AccountID, Handle: acc.Handle,
			Followers: acc.Followers, Following: acc.Following, PostsCount: acc.PostsCount, ObservedAt: acc.ObservedAt,
			Delta24h: acc.delta(24 * time.Hour), Delta7d: acc.delta(7 * 24 * time.Hour), Delta30d: acc.delta(30 * 24 * time.Hour),
		}
		aa.Posts30d = acc.RecentPosts
		if acc.RecentPosts > 0 && acc.Followers > 0 {
			aa.EngagementRate = float64(acc.RecentEngagement) / float64(acc.RecentPosts) / float64(acc.Followers)
		}
		out.Accounts = append(out.Accounts, aa)
	}
	sort.Slice(out.Accounts, func(i, j int) bool {
		a, b := out.Accounts[i], out.Accounts[j]
		if a.Platform != b.Platform {
			return a.Platform < b.Platform
		}
		return a.AccountID < b.AccountID
	})
	return out
}

// delta is the change in followers since d before the newest observation:
// against the newest sample at or before then (hourly samples within 25
// hours, daily ones beyond), or against the oldest sample when the history
// is shorter than d.
func (acc *Account) delta(d time.Duration) int64 {
	if len(acc.Hourly) == 0 {
		return 0
	}
	last := acc.Hourly[len(acc.Hourly)-1]
	then := last.Hour - int64(d/time.Second)
	base, found := Sample{}, false
	oldest := acc.Hourly[0]
	for _, samples := range [][]Sample{acc.Daily, acc.Hourly} {
		if len(samples) > 0 && samples[0].Hour < oldest.Hour {
			oldest = samples[0]
		}
		for _, s := range samples {
			if s.Hour <= then && (!found || s.Hour > base.Hour) {
				base, found = s, true
			}
		}
	}
	if !found {
		base = oldest
	}
	return last.Followers - base.Followers
}
