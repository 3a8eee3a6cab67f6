// Package aggregator is the goka processor that keeps each user's rolling
// numbers in a group table keyed by user ID: the latest values of every
// linked account, follower deltas over 24 hours, 7 and 30 days, and an
// engagement rate over the last 30 days of posts. Every change is published
// to topics.UserAggregates for internal teams, and a goka View of the table
// serves the API's "now" numbers.
//
// Snapshots and posts arrive keyed by link ID; the processor re-keys them
// by user through goka's loopback, so one user's accounts meet in one table
// row. The state is a function of the events alone (no wall clock): a
// duplicate, or an observation no newer than the one already applied,
// leaves the table unchanged and emits nothing, so replaying the inputs
// changes nothing.
package aggregator

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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
	historyWindow = 31 * 24 * time.Hour // follower samples kept per account
	postWindow    = 30 * 24 * time.Hour // posts counted for engagement
)

// State is the table value for one user.
type State struct {
	// Accounts by link ID.
	Accounts  map[string]*Account `json:"accounts"`
	UpdatedAt time.Time           `json:"updated_at"`
}

// Account is one linked account's state.
type Account struct {
	LinkID     string          `json:"link_id"`
	Platform   topics.Platform `json:"platform"`
	AccountID  string          `json:"account_id"`
	Handle     string          `json:"handle,omitempty"`
	Followers  int64           `json:"followers"`
	Following  int64           `json:"following"`
	PostsCount int64           `json:"posts_count"`
	ObservedAt time.Time       `json:"observed_at"`
	// Version of the newest snapshot applied (observation time, Unix ms).
	Version int64 `json:"version"`
	// History holds the last observation of each hour, oldest first,
	// covering the last 31 days.
	History []Sample `json:"history,omitempty"`
	// Posts of the last 30 days by post ID.
	Posts map[string]PostStat `json:"posts,omitempty"`
}

// Sample is an hour's follower count.
type Sample struct {
	Hour      int64 `json:"h"` // Unix seconds
	Followers int64 `json:"f"`
}

// PostStat is the engagement of one post at its newest observation.
type PostStat struct {
	CreatedAt  time.Time `json:"c"`
	Engagement int64     `json:"e"` // likes + comments + shares
	Version    int64     `json:"v"`
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

// loopMsg is what travels through the loopback, keyed by user ID.
type loopMsg struct {
	Snapshot *topics.AccountSnapshot `json:"snapshot,omitempty"`
	Post     *topics.Post            `json:"post,omitempty"`
}

type loopCodec struct{}

func (loopCodec) Encode(v any) ([]byte, error) { return json.Marshal(v) }
func (loopCodec) Decode(b []byte) (any, error) {
	var m loopMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("aggregator: decode loopback: %w", err)
	}
	return &m, nil
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
		goka.Input(goka.Stream(topics.Posts), new(codec.Bytes), a.rekeyPost),
		goka.Loop(loopCodec{}, a.apply),
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
	s, err := topics.AccountSnapshotCodec.Unmarshal(msg.([]byte))
	if err == nil && (s.UserID == "" || s.LinkID == "") {
		err = errors.New("snapshot without user_id or link_id")
	}
	if err != nil {
		a.deadLetter(ctx, msg.([]byte), err)
		return
	}
	ctx.Loopback(s.UserID, &loopMsg{Snapshot: s})
}

func (a *aggregator) rekeyPost(ctx goka.Context, msg any) {
	p, err := topics.PostCodec.Unmarshal(msg.([]byte))
	if err == nil && (p.UserID == "" || p.LinkID == "" || p.PostID == "") {
		err = errors.New("post without user_id, link_id or post_id")
	}
	if err != nil {
		a.deadLetter(ctx, msg.([]byte), err)
		return
	}
	ctx.Loopback(p.UserID, &loopMsg{Post: p})
}

func (a *aggregator) deadLetter(ctx goka.Context, raw []byte, reason error) {
	a.log.Warn("aggregator: dead-lettering record", "topic", ctx.Topic(), "partition", ctx.Partition(), "offset", ctx.Offset(), "reason", reason)
	ctx.Emit(topics.DeadLetters, ctx.Key(), &topics.DeadLetter{
		Reason: "aggregator: " + reason.Error(), SourceTopic: string(ctx.Topic()), Partition: ctx.Partition(),
		Offset: ctx.Offset(), Key: ctx.Key(), Value: raw, At: time.Now().UTC(),
	})
}

func (a *aggregator) apply(ctx goka.Context, msg any) {
	m := msg.(*loopMsg)
	st, _ := ctx.Value().(*State)
	if st == nil {
		st = &State{}
	}
	var changed bool
	switch {
	case m.Snapshot != nil:
		changed = st.ApplySnapshot(m.Snapshot)
	case m.Post != nil:
		changed = st.ApplyPost(m.Post)
	}
	if !changed {
		return
	}
	ctx.SetValue(st)
	ctx.Emit(topics.UserAggregates, ctx.Key(), st.Aggregate(ctx.Key()))
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
func (st *State) ApplySnapshot(s *topics.AccountSnapshot) bool {
	acc := st.account(s.LinkID)
	if s.Version <= acc.Version {
		return false
	}
	acc.Platform, acc.AccountID, acc.Version = s.Platform, s.AccountID, s.Version
	if s.Handle != "" {
		acc.Handle = s.Handle
	}
	acc.Followers, acc.Following, acc.PostsCount = s.Followers, s.Following, s.PostsCount
	acc.ObservedAt = s.ObservedAt.UTC()
	hour := s.Hour.UTC().Truncate(time.Hour).Unix()
	if n := len(acc.History); n > 0 && acc.History[n-1].Hour == hour {
		acc.History[n-1].Followers = s.Followers
	} else {
		acc.History = append(acc.History, Sample{Hour: hour, Followers: s.Followers})
	}
	cutoff := hour - int64(historyWindow/time.Second)
	i := sort.Search(len(acc.History), func(i int) bool { return acc.History[i].Hour >= cutoff })
	acc.History = slices.Clone(acc.History[i:])
	st.touch(acc.ObservedAt)
	return true
}

// ApplyPost folds one post observation into the state and reports whether
// anything changed.
func (st *State) ApplyPost(p *topics.Post) bool {
	acc := st.account(p.LinkID)
	if acc.Platform == "" {
		acc.Platform, acc.AccountID = p.Platform, p.AccountID
	}
	if old, ok := acc.Posts[p.PostID]; ok && p.Version <= old.Version {
		return false
	}
	obs := p.ObservedAt.UTC()
	if p.CreatedAt.Before(obs.Add(-postWindow)) {
		return false // too old to count
	}
	if acc.Posts == nil {
		acc.Posts = map[string]PostStat{}
	}
	acc.Posts[p.PostID] = PostStat{CreatedAt: p.CreatedAt.UTC(), Engagement: p.Likes + p.Comments + p.Shares, Version: p.Version}
	for id, ps := range acc.Posts {
		if ps.CreatedAt.Before(obs.Add(-postWindow)) {
			delete(acc.Posts, id)
		}
	}
	st.touch(obs)
	return true
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
		var total int64
		for _, ps := range acc.Posts {
			if !ps.CreatedAt.Before(acc.ObservedAt.Add(-postWindow)) {
				total += ps.Engagement
				aa.Posts30d++
			}
		}
		if aa.Posts30d > 0 && acc.Followers > 0 {
			aa.EngagementRate = float64(total) / float64(aa.Posts30d) / float64(acc.Followers)
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

// delta is the change in followers since d before the newest sample,
// against the newest sample at or before then, or the oldest sample when
// the history is shorter.
func (acc *Account) delta(d time.Duration) int64 {
	if len(acc.History) == 0 {
		return 0
	}
	last := acc.History[len(acc.History)-1]
	then := last.Hour - int64(d/time.Second)
	base := acc.History[0]
	for _, s := range acc.History {
		if s.Hour > then {
			break
		}
		base = s
	}
	return last.Followers - base.Followers
}
