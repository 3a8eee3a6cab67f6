// Package loadgen generates hourly history for many users: the raw payloads
// a fetcher would have published (in each platform's own JSON), and the
// snapshots and posts the normalizer must make of them. Every value is a
// pure function of (Config.Seed, user, platform, hour), so a history can be
// regenerated, or any one value recomputed, without storing it: benchmarks
// produce payloads into the real topics, or write the expected events
// through the ClickHouse store, and check answers against the generator.
//
// The model is simple on purpose (it is for volume, not realism; the
// simulator is the realistic one): followers grow linearly with hourly
// noise, an account publishes a post every PostEvery hours (from its
// birth, Age hours before the history starts), and each fetch
// returns the account and its PostsPerPage most recent posts, whose likes
// and comments grow for a day after publication and then stay.
package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/pulsehq/pulse/topics"
)

// Config describes a history. Zero values take the stated defaults.
type Config struct {
	// Seed makes different histories from the same shape. Default 0.
	Seed uint64
	// Users is how many users. Default 1.
	Users int
	// Platforms every user has one account on. Default X, Facebook,
	// Instagram.
	Platforms []topics.Platform
	// Start is the first hour of the history (truncated to the hour).
	// Default 2025-01-01T00:00:00Z.
	Start time.Time
	// Hours is how many hourly fetches each account has. Default 24.
	Hours int
	// Age is how many hours every account existed before Start: it
	// published its posts from then on, every PostEvery hours, so a fetch
	// early in the history already returns a full page once Age is at
	// least PostsPerPage × PostEvery (a window of an established
	// account's life rather than its first hours). Default 0: accounts
	// are new at Start.
	Age int
	// PostEvery is the hours between two posts of one account. Default 24.
	PostEvery int
	// PostsPerPage is how many of the most recent posts a fetch returns.
	// Default 5.
	PostsPerPage int
	// PostsFetchEvery fetches posts only every this many hours (account
	// counters are fetched every hour). Default 1.
	PostsFetchEvery int
	// UserID names user u (0-based). Default "lg-user-<u>".
	UserID func(u int) string
}

// Gen generates one history. It is safe for concurrent use.
type Gen struct {
	cfg Config
}

// New validates cfg and returns its generator.
func New(cfg Config) (*Gen, error) {
	if cfg.Users == 0 {
		cfg.Users = 1
	}
	if len(cfg.Platforms) == 0 {
		cfg.Platforms = []topics.Platform{topics.X, topics.Facebook, topics.Instagram}
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	cfg.Start = cfg.Start.UTC().Truncate(time.Hour)
	if cfg.Hours == 0 {
		cfg.Hours = 24
	}
	if cfg.PostEvery == 0 {
		cfg.PostEvery = 24
	}
	if cfg.PostsPerPage == 0 {
		cfg.PostsPerPage = 5
	}
	if cfg.PostsFetchEvery == 0 {
		cfg.PostsFetchEvery = 1
	}
	if cfg.UserID == nil {
		cfg.UserID = func(u int) string { return "lg-user-" + strconv.Itoa(u) }
	}
	if cfg.Users < 0 || cfg.Hours < 0 || cfg.Age < 0 || cfg.PostEvery < 0 || cfg.PostsPerPage < 0 || cfg.PostsFetchEvery < 0 {
		return nil, errors.New("loadgen: negative count in config")
	}
	// Post k of account a has ID a*1,000,000 + k + 1: an account may
	// publish fewer than a million posts over Age + Hours.
	if (cfg.Age+cfg.Hours)/cfg.PostEvery >= 1_000_000 {
		return nil, fmt.Errorf("loadgen: %d hours with a post every %d is a million posts or more per account", cfg.Age+cfg.Hours, cfg.PostEvery)
	}
	for _, p := range cfg.Platforms {
		switch p {
		case topics.X, topics.Facebook, topics.Instagram:
		default:
			return nil, fmt.Errorf("loadgen: platform %q not supported (x, facebook, instagram)", p)
		}
	}
	return &Gen{cfg: cfg}, nil
}

// Config returns the configuration with defaults filled in.
func (g *Gen) Config() Config { return g.cfg }

// Accounts is how many accounts the history has: users × platforms.
func (g *Gen) Accounts() int { return g.cfg.Users * len(g.cfg.Platforms) }

// Fetches is how many raw payloads the history has: accounts × hours.
func (g *Gen) Fetches() int { return g.Accounts() * g.cfg.Hours }

// Account identifies account a (0 ≤ a < Accounts()): user a / platforms,
// platform a % platforms.
type Account struct {
	User      int
	UserID    string
	Platform  topics.Platform
	AccountID string
	LinkID    string
	Handle    string
}

// Account returns account a.
func (g *Gen) Account(a int) Account {
	u, p := a/len(g.cfg.Platforms), g.cfg.Platforms[a%len(g.cfg.Platforms)]
	id := strconv.FormatUint(1_000_000+uint64(a), 10)
	return Account{
		User: u, UserID: g.cfg.UserID(u), Platform: p, AccountID: id,
		LinkID: fmt.Sprintf("lg-link-%d-%d", g.cfg.Seed, a), Handle: "lg" + id,
	}
}

// Fetch i (0 ≤ i < Fetches()) is account i % Accounts() at hour
// i / Accounts(): the history in time order, as a replay reads it.
func (g *Gen) Fetch(i int) (account, hour int) { return i % g.Accounts(), i / g.Accounts() }

// hash mixes the seed and the inputs into 64 pseudo-random bits.
func (g *Gen) hash(vals ...uint64) uint64 {
	h := fnv.New64a()
	var b [8]byte
	for _, v := range append([]uint64{g.cfg.Seed}, vals...) {
		for i := range b {
			b[i] = byte(v >> (8 * i))
		}
		h.Write(b[:])
	}
	x := h.Sum64()
	// splitmix64 finaliser: fnv alone correlates neighbouring inputs.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

const (
	tagBase uint64 = iota + 1
	tagGrowth
	tagNoise
	tagMinute
	tagPhase
	tagLikes
	tagComments
)

// ObservedAt is when account a was fetched in hour h: within the hour.
func (g *Gen) ObservedAt(a, h int) time.Time {
	min := g.hash(tagMinute, uint64(a), uint64(h)) % 3600
	return g.cfg.Start.Add(time.Duration(h)*time.Hour + time.Duration(min)*time.Second)
}

// Followers is account a's follower count in hour h.
func (g *Gen) Followers(a, h int) int64 {
	base := int64(100 + g.hash(tagBase, uint64(a))%100_000)
	growth := int64(g.hash(tagGrowth, uint64(a)) % 20) // per hour
	noise := int64(g.hash(tagNoise, uint64(a), uint64(h))%21) - 10
	return max(1, base+growth*int64(h)+noise)
}

// following and postsCount are account a's other counters in hour h.
func (g *Gen) following(a, h int) int64 {
	return int64(g.hash(tagBase, uint64(a), 1)%2000) + int64(h/500)
}

// phase is the hour of account a's first post, counted from its birth
// (Age hours before Start): posts are numbered from there.
func (g *Gen) phase(a int) int { return int(g.hash(tagPhase, uint64(a)) % uint64(g.cfg.PostEvery)) }

// born is when every account was created: Age hours before Start.
func (g *Gen) born() time.Time { return g.cfg.Start.Add(-time.Duration(g.cfg.Age) * time.Hour) }

// postsUpTo is how many posts account a has published by hour h's fetch:
// post k (k ≥ 0) is created at born + phase + k*PostEvery hours, at
// minute 0.
func (g *Gen) postsUpTo(a int, at time.Time) int {
	d := int(at.Sub(g.born()) / time.Hour)
	if at.Before(g.born()) || d < g.phase(a) {
		return 0
	}
	return (d-g.phase(a))/g.cfg.PostEvery + 1
}

func (g *Gen) postCreated(a, k int) time.Time {
	return g.born().Add(time.Duration(g.phase(a)+k*g.cfg.PostEvery) * time.Hour)
}

func (g *Gen) postID(a, k int) string {
	return strconv.FormatUint(uint64(a)*1_000_000+uint64(k)+1, 10)
}

// postCounters are post k of account a's likes and comments at t: they grow
// linearly for 24 hours after creation, then stay.
func (g *Gen) postCounters(a, k int, t time.Time) (likes, comments int64) {
	maxLikes := int64(g.hash(tagLikes, uint64(a), uint64(k)) % 500)
	maxComments := int64(g.hash(tagComments, uint64(a), uint64(k)) % 40)
	age := t.Sub(g.postCreated(a, k))
	if age < 0 {
		return 0, 0
	}
	if age >= 24*time.Hour {
		return maxLikes, maxComments
	}
	f := float64(age) / float64(24*time.Hour)
	return int64(float64(maxLikes) * f), int64(float64(maxComments) * f)
}

// Snapshot is the account snapshot the normalizer makes of fetch (a, h).
func (g *Gen) Snapshot(a, h int) topics.AccountSnapshot {
	acc := g.Account(a)
	obs := g.ObservedAt(a, h)
	s := topics.AccountSnapshot{
		V: topics.AccountSnapshotVersion, LinkID: acc.LinkID, UserID: acc.UserID, Platform: acc.Platform,
		AccountID: acc.AccountID, Handle: acc.Handle, Hour: obs.Truncate(time.Hour), ObservedAt: obs,
		Followers: g.Followers(a, h), Version: obs.UnixMilli(),
	}
	if acc.Platform != topics.Facebook { // Pages report neither
		s.Following = g.following(a, h)
		s.PostsCount = int64(g.postsUpTo(a, obs))
	}
	for _, p := range g.Posts(a, h) {
		if !p.CreatedAt.Before(obs.Add(-topics.RecentWindow)) {
			s.RecentPosts++
			s.RecentEngagement += p.Likes + p.Comments + p.Shares
		}
	}
	return s
}

// Posts are the post observations the normalizer makes of fetch (a, h):
// the account's PostsPerPage most recent posts, newest first, or none in
// an hour whose fetch reads no posts.
func (g *Gen) Posts(a, h int) []topics.Post {
	if h%g.cfg.PostsFetchEvery != 0 {
		return nil
	}
	acc := g.Account(a)
	obs := g.ObservedAt(a, h)
	n := g.postsUpTo(a, obs)
	var out []topics.Post
	for k := n - 1; k >= 0 && k >= n-g.cfg.PostsPerPage; k-- {
		likes, comments := g.postCounters(a, k, obs)
		id := g.postID(a, k)
		p := topics.Post{
			V: topics.PostVersion, LinkID: acc.LinkID, UserID: acc.UserID, Platform: acc.Platform,
			AccountID: acc.AccountID, PostID: id, CreatedAt: g.postCreated(a, k), ObservedAt: obs,
			Text: "post " + id, Likes: likes, Comments: comments, Version: obs.UnixMilli(),
		}
		switch acc.Platform {
		case topics.X:
			p.Permalink = "https://x.com/i/web/status/" + id
			p.Views = likes * 20
		case topics.Facebook:
			p.Permalink = "https://www.facebook.com/" + id
		case topics.Instagram:
			p.Permalink = "https://www.instagram.com/p/" + id + "/"
		}
		out = append(out, p)
	}
	return out
}

// RawPayload is fetch (a, h) as the fetcher publishes it: the platform's
// account body and one posts page, in that platform's JSON.
func (g *Gen) RawPayload(a, h int) topics.RawPayload {
	acc := g.Account(a)
	snap := g.Snapshot(a, h)
	p := topics.RawPayload{
		V: topics.RawPayloadVersion, RequestID: fmt.Sprintf("lg-%d-%d-%d", g.cfg.Seed, a, h),
		LinkID: acc.LinkID, UserID: acc.UserID, Platform: acc.Platform, AccountID: acc.AccountID,
		FetchedAt: snap.ObservedAt, Account: accountBody(acc, snap),
	}
	if h%g.cfg.PostsFetchEvery == 0 {
		p.PostPages = [][]byte{postsBody(acc.Platform, g.Posts(a, h))}
	}
	return p
}

// Encoded is RawPayload(a, h) encoded with topics.RawPayloadCodec.
func (g *Gen) Encoded(a, h int) ([]byte, error) {
	p := g.RawPayload(a, h)
	return topics.RawPayloadCodec.Marshal(&p)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps and slices of plain values are marshalled
	}
	return b
}

type obj = map[string]any

func accountBody(acc Account, s topics.AccountSnapshot) []byte {
	switch acc.Platform {
	case topics.X:
		return mustJSON(obj{"data": obj{"id": acc.AccountID, "name": acc.Handle, "username": acc.Handle,
			"public_metrics": obj{"followers_count": s.Followers, "following_count": s.Following,
				"tweet_count": s.PostsCount, "listed_count": 0, "like_count": 0}}})
	case topics.Facebook:
		return mustJSON(obj{"id": acc.AccountID, "name": acc.Handle, "username": acc.Handle,
			"followers_count": s.Followers, "fan_count": s.Followers - s.Followers/12})
	default: // Instagram
		return mustJSON(obj{"id": acc.AccountID, "username": acc.Handle, "followers_count": s.Followers,
			"follows_count": s.Following, "media_count": s.PostsCount})
	}
}

func postsBody(p topics.Platform, posts []topics.Post) []byte {
	data := make([]obj, 0, len(posts))
	for _, po := range posts {
		switch p {
		case topics.X:
			data = append(data, obj{"id": po.PostID, "text": po.Text, "created_at": po.CreatedAt.Format("2006-01-02T15:04:05.000Z"),
				"public_metrics": obj{"retweet_count": 0, "reply_count": po.Comments, "like_count": po.Likes,
					"quote_count": 0, "impression_count": po.Views, "bookmark_count": 0}})
		case topics.Facebook:
			data = append(data, obj{"id": po.PostID, "message": po.Text, "created_time": po.CreatedAt.Format("2006-01-02T15:04:05-0700"),
				"permalink_url": po.Permalink, "reactions": obj{"summary": obj{"total_count": po.Likes}},
				"comments": obj{"summary": obj{"total_count": po.Comments}}})
		default:
			data = append(data, obj{"id": po.PostID, "caption": po.Text, "like_count": po.Likes, "comments_count": po.Comments,
				"timestamp": po.CreatedAt.Format("2006-01-02T15:04:05-0700"), "permalink": po.Permalink, "media_type": "IMAGE"})
		}
	}
	if p == topics.X {
		return mustJSON(obj{"data": data, "meta": obj{"result_count": len(data)}})
	}
	return mustJSON(obj{"data": data, "paging": obj{}})
}
