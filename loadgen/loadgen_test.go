package loadgen_test

import (
	"crypto/sha256"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/loadgen"
	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/processors/normalizer"
	"github.com/pulsehq/pulse/topics"

	_ "github.com/pulsehq/pulse/platforms/facebook"
	_ "github.com/pulsehq/pulse/platforms/instagram"
	_ "github.com/pulsehq/pulse/platforms/x"
)

func TestMain(m *testing.M) { testkit.WrapTestMain(m) }

func parsers(t *testing.T) map[topics.Platform]normalizer.Parser {
	t.Helper()
	out := map[topics.Platform]normalizer.Parser{}
	for _, p := range []topics.Platform{topics.X, topics.Facebook, topics.Instagram} {
		c, err := platforms.New(p, platforms.Config{})
		if err != nil {
			t.Fatal(err)
		}
		out[p] = c
	}
	return out
}

// TestPayloadsNormalizeToExpectedEvents: every generated payload, parsed by
// the real connectors and normalized, gives exactly the events the
// generator computes from its model, for new accounts and for accounts
// that published posts before the history starts.
func TestPayloadsNormalizeToExpectedEvents(t *testing.T) {
	for _, age := range []int{0, 24 * 400} {
		t.Run(fmt.Sprintf("age=%dh", age), func(t *testing.T) {
			g, err := loadgen.New(loadgen.Config{Seed: 7, Users: 3, Hours: 60, Age: age, PostEvery: 7, PostsPerPage: 4, PostsFetchEvery: 2})
			if err != nil {
				t.Fatal(err)
			}
			checkNormalizes(t, g)
		})
	}
}

func checkNormalizes(t *testing.T, g *loadgen.Gen) {
	t.Helper()
	ps := parsers(t)
	var posts, withPosts int
	for i := range g.Fetches() {
		a, h := g.Fetch(i)
		raw, err := g.Encoded(a, h)
		if err != nil {
			t.Fatal(err)
		}
		snap, _, got, err := normalizer.Normalize(ps, raw)
		if err != nil {
			t.Fatalf("fetch (%d, %d): %v", a, h, err)
		}
		want := g.Snapshot(a, h)
		snap.V = want.V
		if !reflect.DeepEqual(*snap, want) {
			t.Fatalf("fetch (%d, %d): snapshot\n got %+v\nwant %+v", a, h, *snap, want)
		}
		wantPosts := g.Posts(a, h)
		for j := range got {
			got[j].V = topics.PostVersion
		}
		if len(got) != len(wantPosts) || (len(got) > 0 && !reflect.DeepEqual(got, wantPosts)) {
			t.Fatalf("fetch (%d, %d): posts\n got %+v\nwant %+v", a, h, got, wantPosts)
		}
		posts += len(got)
		if len(got) > 0 {
			withPosts++
		}
		if h%2 == 1 && len(got) > 0 {
			t.Fatalf("fetch (%d, %d) read posts in an hour without a posts fetch", a, h)
		}
	}
	if posts == 0 || withPosts < g.Fetches()/3 {
		t.Fatalf("%d posts in %d fetches: the history has too few posts to test", posts, withPosts)
	}
}

// TestDeterministic: the same seed gives the same bytes, another seed
// different values.
func TestDeterministic(t *testing.T) {
	cfg := loadgen.Config{Seed: 1, Users: 2, Hours: 5}
	a, _ := loadgen.New(cfg)
	b, _ := loadgen.New(cfg)
	cfg.Seed = 2
	c, _ := loadgen.New(cfg)
	same, differ := true, false
	for i := range a.Fetches() {
		x, y := a.Fetch(i)
		ra, _ := a.Encoded(x, y)
		rb, _ := b.Encoded(x, y)
		same = same && string(ra) == string(rb)
		differ = differ || a.Followers(x, y) != c.Followers(x, y)
	}
	if !same || !differ {
		t.Fatalf("same seed same bytes: %v; other seed other values: %v", same, differ)
	}
	if at := a.ObservedAt(0, 3); at.Truncate(time.Hour) != time.Date(2025, 1, 1, 3, 0, 0, 0, time.UTC) {
		t.Fatalf("fetch of hour 3 observed at %v", at)
	}
}

// TestAge: accounts at least PostsPerPage × PostEvery hours old return a
// full page from the first fetch on, with posts published up to Start and
// numbered from the account's birth; a new account starts with none.
func TestAge(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		age  int
		full bool // every fetch a full page
	}{{0, false}, {36, false}, {60, true}, {24 * 365, true}} {
		t.Run(fmt.Sprintf("age=%dh", tc.age), func(t *testing.T) {
			g, err := loadgen.New(loadgen.Config{Seed: 3, Users: 2, Hours: 30, Age: tc.age, PostEvery: 12, PostsPerPage: 5})
			if err != nil {
				t.Fatal(err)
			}
			full := true
			for i := range g.Fetches() {
				a, h := g.Fetch(i)
				posts := g.Posts(a, h)
				full = full && len(posts) == 5
				for _, p := range posts {
					if p.CreatedAt.After(g.ObservedAt(a, h)) {
						t.Fatalf("fetch (%d, %d) returns post %s created %v, after it", a, h, p.PostID, p.CreatedAt)
					}
				}
			}
			if full != tc.full {
				t.Fatalf("every fetch a full page: %v, want %v", full, tc.full)
			}
			first := g.Posts(0, 0) // account 0 (X) publishes 2 hours after its birth (this seed)
			if tc.age == 0 {
				if len(first) != 0 {
					t.Fatalf("a new account's first fetch has %d posts", len(first))
				}
				return
			}
			if tc.age < 24*365 {
				return
			}
			if first[0].CreatedAt.After(start) || first[0].CreatedAt.Before(first[4].CreatedAt) {
				t.Fatalf("first fetch's posts created %v … %v", first[0].CreatedAt, first[4].CreatedAt)
			}
			// A year of a post every 12 hours: about 730 posts by Start.
			if n := g.Snapshot(0, 0).PostsCount; n < 729 || n > 731 {
				t.Fatalf("posts count at Start %d, want about 730", n)
			}
		})
	}
}

// TestAgeZeroUnchanged: a history without Age is byte for byte the one
// loadgen made before Age existed (the API benchmark keeps its seeded
// databases by the generator's configuration).
func TestAgeZeroUnchanged(t *testing.T) {
	g, err := loadgen.New(loadgen.Config{Seed: 5, Users: 2, Hours: 50, PostEvery: 7, PostsPerPage: 4})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for i := range g.Fetches() {
		a, hr := g.Fetch(i)
		b, err := g.Encoded(a, hr)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	// Computed at 3e79ab6, before Age.
	if got, want := fmt.Sprintf("%x", h.Sum(nil)), "0d6e26241900f078585e3e454fed1668a4fc90047e89101e1032fe4790c9d0da"; got != want {
		t.Fatalf("payloads' sha256 %s, want %s", got, want)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := loadgen.New(loadgen.Config{Platforms: []topics.Platform{"myspace"}}); err == nil {
		t.Fatal("unknown platform accepted")
	}
	if _, err := loadgen.New(loadgen.Config{Hours: -1}); err == nil {
		t.Fatal("negative hours accepted")
	}
	if _, err := loadgen.New(loadgen.Config{Age: -1}); err == nil {
		t.Fatal("negative age accepted")
	}
	if _, err := loadgen.New(loadgen.Config{Age: 1_000_000, PostEvery: 1}); err == nil {
		t.Fatal("a million posts per account accepted (their IDs would collide)")
	}
}
