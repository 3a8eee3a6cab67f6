package api_test

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/pulsehq/pulse/api"
	"github.com/pulsehq/pulse/clickhouse/chtest"
	"github.com/pulsehq/pulse/topics"
)

// modelPost is a post's latest observation, computed by the test from the
// rows it wrote.
type modelPost struct {
	platform                       topics.Platform
	account                        string
	id                             string
	created                        time.Time // to the second, as ClickHouse keeps it
	version                        int64
	likes, comments, shares, views int64
}

type postsData struct {
	snaps  []topics.AccountSnapshot
	posts  []topics.Post
	latest map[string]*modelPost // platform/id → latest
	// hourly: platform/id → hour → the latest observation of that hour
	hourly map[string]map[time.Time]topics.Post
	// followers: platform/account → followers at the latest observation
	followers map[string]int64
}

var postsBase = time.Date(2025, 12, 30, 0, 0, 0, 0, time.UTC)

// genPosts writes posts of three accounts, created over five days across
// the year boundary (some in the same second), each observed several
// times out of order with duplicates, and follower readings per account.
func genPosts(rng *rand.Rand, userID string) *postsData {
	d := &postsData{latest: map[string]*modelPost{}, hourly: map[string]map[time.Time]topics.Post{}, followers: map[string]int64{}}
	accts := []struct {
		p  topics.Platform
		id string
	}{{topics.X, "x1"}, {topics.Instagram, "ig1"}, {topics.Facebook, "fb1"}}
	for ai, a := range accts {
		var lastV int64
		for h := range 6 {
			obs := postsBase.Add(time.Duration(h*17+ai) * time.Hour).Add(time.Duration(rng.IntN(3000)) * time.Second)
			f := 500 + rng.Int64N(5000)
			v := obs.UnixMilli()
			d.snaps = append(d.snaps, topics.AccountSnapshot{V: topics.AccountSnapshotVersion, LinkID: "l-" + a.id, UserID: userID,
				Platform: a.p, AccountID: a.id, Handle: "h" + a.id, Hour: obs.Truncate(time.Hour), ObservedAt: obs,
				Followers: f, Following: 10, PostsCount: 5, Version: v})
			if v > lastV {
				lastV, d.followers[string(a.p)+"/"+a.id] = v, f
			}
		}
		for i := range 12 {
			created := postsBase.Add(time.Duration(rng.IntN(5*24*3600)) * time.Second)
			if i%4 == 1 { // a second shared with the previous post
				created = d.posts[len(d.posts)-1].CreatedAt
			}
			id := fmt.Sprintf("%s-p%02d", a.id, i)
			key := string(a.p) + "/" + id
			d.hourly[key] = map[time.Time]topics.Post{}
			obsN := 1 + rng.IntN(4)
			for o := range obsN {
				obs := created.Add(time.Duration(o*5+rng.IntN(4)) * time.Hour).Add(time.Duration(rng.IntN(3600)) * time.Second)
				p := topics.Post{V: topics.PostVersion, LinkID: "l-" + a.id, UserID: userID, Platform: a.p, AccountID: a.id,
					PostID: id, CreatedAt: created, ObservedAt: obs, Text: "post " + id, Permalink: "https://example.com/" + id,
					Likes: rng.Int64N(40), Comments: rng.Int64N(10), Shares: rng.Int64N(5), Views: rng.Int64N(300),
					Version: obs.UnixMilli()}
				d.posts = append(d.posts, p)
				if rng.IntN(4) == 0 { // a duplicate delivery
					d.posts = append(d.posts, p)
				}
				hour := obs.Truncate(time.Hour)
				if prev, ok := d.hourly[key][hour]; !ok || prev.Version < p.Version {
					d.hourly[key][hour] = p
				}
				if m := d.latest[key]; m == nil || m.version < p.Version {
					d.latest[key] = &modelPost{platform: a.p, account: a.id, id: id, created: created.Truncate(time.Second),
						version: p.Version, likes: p.Likes, comments: p.Comments, shares: p.Shares, views: p.Views}
				}
			}
		}
	}
	return d
}

// newestFirst is the feed's order.
func newestFirst(a, b *modelPost) int {
	return cmp.Or(b.created.Compare(a.created), cmp.Compare(a.platform, b.platform), cmp.Compare(a.id, b.id))
}

func (d *postsData) sorted(keep func(*modelPost) bool, by func(*modelPost) float64) []*modelPost {
	var out []*modelPost
	for _, m := range d.latest {
		if keep(m) {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b *modelPost) int {
		if by != nil {
			if c := cmp.Compare(by(b), by(a)); c != 0 {
				return c
			}
		}
		return newestFirst(a, b)
	})
	return out
}

type gqlPost struct {
	ID, Platform, AccountID string
	CreatedAt               time.Time
	Likes, Comments         int64
	Shares, Views           int64
}

const postsPageQuery = `query($first: Int, $after: String, $platforms: [Platform!]) {
  posts(first: $first, after: $after, platforms: $platforms) { endCursor hasNextPage posts { id platform accountId createdAt likes comments shares views } } }`

const topPostsQuery = `query($by: PostRank!, $from: Time!, $to: Time!, $platforms: [Platform!], $first: Int) {
  topPosts(by: $by, from: $from, to: $to, platforms: $platforms, first: $first) { engagementRate post { id platform accountId createdAt likes comments shares views } } }`

const postHistoryQuery = `query($platform: Platform!, $id: ID!, $from: Time!, $to: Time!) {
  postHistory(platform: $platform, postId: $id, from: $from, to: $to) { at likes comments shares views } }`

func checkPost(t *testing.T, name string, got gqlPost, want *modelPost) {
	t.Helper()
	if got.ID != want.id || got.Platform != toGQLPlatform(want.platform) || got.AccountID != want.account || !got.CreatedAt.Equal(want.created) ||
		got.Likes != want.likes || got.Comments != want.comments || got.Shares != want.shares || got.Views != want.views {
		t.Errorf("%s: got %+v, want %+v", name, got, *want)
	}
}

func toGQLPlatform(p topics.Platform) string {
	switch p {
	case topics.X:
		return "X"
	case topics.Instagram:
		return "INSTAGRAM"
	case topics.Facebook:
		return "FACEBOOK"
	}
	return "LINKEDIN"
}

// TestPostsMatchAModelOfTheRows checks the cursor-paged feed, top posts
// by every rank (per platform and combined) and per-post history against
// values the test computes from the rows it wrote: random posts observed
// several times out of order, duplicates, posts sharing a second, across
// a year boundary, and another user's posts that must not show.
func TestPostsMatchAModelOfTheRows(t *testing.T) {
	ch := chtest.MustOpen(t)
	e := newEnv(t, func(c *api.Config) { c.Metrics = ch })
	b := e.browser(t)
	userID, _ := b.signUp("posts@example.com")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 17))
	d := genPosts(rng, userID)
	other := genPosts(rng, "someone-else")
	rng.Shuffle(len(d.posts), func(i, j int) { d.posts[i], d.posts[j] = d.posts[j], d.posts[i] })
	for i := range 2 {
		if err := ch.Write(t.Context(), d.snaps[i*len(d.snaps)/2:(i+1)*len(d.snaps)/2], d.posts[i*len(d.posts)/2:(i+1)*len(d.posts)/2]); err != nil {
			t.Fatal(err)
		}
	}
	if err := ch.Write(t.Context(), other.snaps, other.posts); err != nil {
		t.Fatal(err)
	}

	// The feed, page by page: every post once, in the feed's order.
	for _, platforms := range [][]string{nil, {"X", "FACEBOOK"}} {
		keep := func(m *modelPost) bool {
			return platforms == nil || slices.Contains(platforms, toGQLPlatform(m.platform))
		}
		want := d.sorted(keep, nil)
		var got []gqlPost
		var after any
		for page := 0; ; page++ {
			if page > len(want) {
				t.Fatalf("%v: paging does not end", platforms)
			}
			var out struct {
				Posts struct {
					EndCursor   *string
					HasNextPage bool
					Posts       []gqlPost
				}
			}
			vars := map[string]any{"first": 7, "after": after}
			if platforms != nil {
				vars["platforms"] = platforms
			}
			b.mustGraphQL(postsPageQuery, vars, &out)
			got = append(got, out.Posts.Posts...)
			if !out.Posts.HasNextPage {
				break
			}
			if out.Posts.EndCursor == nil || len(out.Posts.Posts) != 7 {
				t.Fatalf("%v page %d: %d posts, cursor %v, and more to come", platforms, page, len(out.Posts.Posts), out.Posts.EndCursor)
			}
			after = *out.Posts.EndCursor
		}
		if len(got) != len(want) {
			t.Fatalf("%v: paging read %d posts, want %d", platforms, len(got), len(want))
		}
		for i := range want {
			checkPost(t, fmt.Sprintf("feed %v [%d]", platforms, i), got[i], want[i])
		}
	}

	// Top posts over a range, by every rank, per platform and combined.
	from, to := postsBase.Add(30*time.Hour), postsBase.Add(100*time.Hour)
	ranks := map[string]func(*modelPost) float64{
		"LIKES":    func(m *modelPost) float64 { return float64(m.likes) },
		"COMMENTS": func(m *modelPost) float64 { return float64(m.comments) },
		"SHARES":   func(m *modelPost) float64 { return float64(m.shares) },
		"VIEWS":    func(m *modelPost) float64 { return float64(m.views) },
		"ENGAGEMENT": func(m *modelPost) float64 {
			f := d.followers[string(m.platform)+"/"+m.account]
			if f <= 0 {
				return 0
			}
			return float64(m.likes+m.comments+m.shares) / float64(f)
		},
	}
	for by, metric := range ranks {
		for _, platforms := range [][]string{nil, {"INSTAGRAM"}} {
			keep := func(m *modelPost) bool {
				return !m.created.Before(from) && m.created.Before(to) &&
					(platforms == nil || slices.Contains(platforms, toGQLPlatform(m.platform)))
			}
			want := d.sorted(keep, metric)
			want = want[:min(len(want), 5)]
			var out struct {
				TopPosts []struct {
					EngagementRate *float64
					Post           gqlPost
				}
			}
			vars := map[string]any{"by": by, "from": from, "to": to, "first": 5}
			if platforms != nil {
				vars["platforms"] = platforms
			}
			b.mustGraphQL(topPostsQuery, vars, &out)
			name := fmt.Sprintf("top by %s %v", by, platforms)
			if len(out.TopPosts) != len(want) || len(want) == 0 {
				t.Fatalf("%s: %d posts, want %d (and some)", name, len(out.TopPosts), len(want))
			}
			for i, w := range want {
				g := out.TopPosts[i]
				checkPost(t, fmt.Sprintf("%s [%d]", name, i), g.Post, w)
				if by == "ENGAGEMENT" {
					if g.EngagementRate == nil || math.Abs(*g.EngagementRate-metric(w)) > 1e-12 {
						t.Errorf("%s [%d]: rate %v, want %v", name, i, g.EngagementRate, metric(w))
					}
				} else if g.EngagementRate != nil {
					t.Errorf("%s [%d]: rate %v, want none", name, i, *g.EngagementRate)
				}
			}
		}
	}

	// Per-post history: every observed hour's latest counters, oldest
	// first (the other user's posts have the same ids: scoping shows).
	checked := 0
	for key, hours := range d.hourly {
		if len(hours) < 2 {
			continue
		}
		m := d.latest[key]
		var out struct {
			PostHistory []struct {
				At                             time.Time
				Likes, Comments, Shares, Views int64
			}
		}
		hfrom, hto := postsBase.Add(-24*time.Hour), postsBase.Add(10*24*time.Hour)
		b.mustGraphQL(postHistoryQuery, map[string]any{"platform": toGQLPlatform(m.platform), "id": m.id, "from": hfrom, "to": hto}, &out)
		var want []time.Time
		for h := range hours {
			want = append(want, h)
		}
		slices.SortFunc(want, time.Time.Compare)
		if len(out.PostHistory) != len(want) {
			t.Fatalf("history of %s: %d hours, want %d", key, len(out.PostHistory), len(want))
		}
		for i, h := range want {
			g, w := out.PostHistory[i], hours[h]
			if !g.At.Equal(h) || g.Likes != w.Likes || g.Comments != w.Comments || g.Shares != w.Shares || g.Views != w.Views {
				t.Errorf("history of %s [%d]: got %+v, want %v %d/%d/%d/%d", key, i, g, h, w.Likes, w.Comments, w.Shares, w.Views)
			}
		}
		if checked++; checked == 5 {
			break
		}
	}
	if checked == 0 {
		t.Fatal("no post was observed in two hours; the history check checked nothing")
	}
	// Bad input: a cursor Pulse did not make, a page too large.
	b.wantGraphQLError(postsPageQuery, map[string]any{"after": "bm90IGEgY3Vyc29y"}, "BAD_USER_INPUT")
	b.wantGraphQLError(postsPageQuery, map[string]any{"first": 101}, "BAD_USER_INPUT")
	b.wantGraphQLError(topPostsQuery, map[string]any{"by": "LIKES", "from": to, "to": from}, "BAD_USER_INPUT")
}
