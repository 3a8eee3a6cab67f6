package sim

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/pulsehq/pulse/topics"
)

func TestNewValidatesConfig(t *testing.T) {
	bad := []Config{
		{Accounts: -1},
		{Accounts: MaxAccounts + 1},
		{X: XConfig{UsersMe: Limit{Window: -time.Second}}},
		{X: XConfig{Faults: Faults{ServerError: Fault{Probability: 1.5}}}},
		{X: XConfig{Faults: Faults{Slow: Fault{Next: -1}}}},
		{X: XConfig{Faults: Faults{SlowDelay: time.Hour}}},
		{X: XConfig{Clients: map[string]string{"": "secret"}}},
	}
	for i, cfg := range bad {
		if _, err := New(cfg); err == nil {
			t.Errorf("config %d: New succeeded, want an error", i)
		}
	}
	s, err := New(Config{})
	if err != nil {
		t.Fatalf("New(zero): %v", err)
	}
	if n := len(s.Accounts(topics.X)); n != DefaultAccounts {
		t.Errorf("accounts = %d, want %d", n, DefaultAccounts)
	}
	if got := s.Platforms(); len(got) != 4 || got[0] != topics.Facebook || got[1] != topics.Instagram || got[2] != topics.LinkedIn || got[3] != topics.X {
		t.Errorf("Platforms() = %v, want [facebook instagram linkedin x]", got)
	}
	for _, p := range s.Platforms() {
		if n := len(s.Accounts(p)); n != DefaultAccounts {
			t.Errorf("%s accounts = %d, want %d", p, n, DefaultAccounts)
		}
	}
}

func TestAccountsAreDeterministic(t *testing.T) {
	a, _ := New(Config{Seed: 7, Accounts: 5})
	b, _ := New(Config{Seed: 7, Accounts: 5})
	c, _ := New(Config{Seed: 8, Accounts: 5})
	accA, accB, accC := a.Accounts(topics.X), b.Accounts(topics.X), c.Accounts(topics.X)
	for i := range accA {
		if accA[i] != accB[i] {
			t.Errorf("account %d differs between equal seeds: %+v vs %+v", i, accA[i], accB[i])
		}
		if want := strconv.Itoa(XFirstAccountID + i); accA[i].ID != want {
			t.Errorf("account %d id = %s, want %s", i, accA[i].ID, want)
		}
		if n := len(accA[i].Handle); n == 0 || n > 15 {
			t.Errorf("username %q is not 1..15 characters", accA[i].Handle)
		}
		ma, _ := a.Metrics(topics.X, accA[i].ID, start)
		mb, _ := b.Metrics(topics.X, accB[i].ID, start)
		if ma != mb {
			t.Errorf("metrics differ between equal seeds: %+v vs %+v", ma, mb)
		}
	}
	same := 0
	for i := range accA {
		fa, _ := a.Followers(topics.X, accA[i].ID, start)
		fc, _ := c.Followers(topics.X, accC[i].ID, start)
		if fa == fc {
			same++
		}
	}
	if same == len(accA) {
		t.Error("different seeds gave the same followers")
	}
	if _, err := a.Metrics(topics.X, "42", start); err == nil {
		t.Error("Metrics of an unknown account succeeded")
	}
	if _, err := a.Metrics(unsimulated, accA[0].ID, start); err == nil {
		t.Error("Metrics of an unsimulated platform succeeded")
	}
}

func TestFollowersCurve(t *testing.T) {
	s, _ := New(Config{Seed: 3, Accounts: 20})
	for _, acc := range s.Accounts(topics.X) {
		var prev int64
		for h := range 24 * 60 {
			at := start.Add(time.Duration(h) * time.Hour)
			f, err := s.Followers(topics.X, acc.ID, at)
			if err != nil {
				t.Fatal(err)
			}
			if f < 1 {
				t.Fatalf("%s at %v: followers %d < 1", acc.ID, at, f)
			}
			if prev != 0 {
				if change := math.Abs(float64(f-prev)) / float64(prev); change > 0.06 {
					t.Errorf("%s at %v: followers jumped %.1f%% in an hour", acc.ID, at, 100*change)
				}
			}
			prev = f
			// Pure: asking again, and in any order, gives the same value.
			if again, _ := s.Followers(topics.X, acc.ID, at); again != f {
				t.Fatalf("followers not deterministic: %d then %d", f, again)
			}
		}
		then, _ := s.Followers(topics.X, acc.ID, start)
		later, _ := s.Followers(topics.X, acc.ID, start.AddDate(1, 0, 0))
		if later <= then {
			t.Errorf("%s: followers did not grow over a year: %d -> %d", acc.ID, then, later)
		}
		m, _ := s.Metrics(topics.X, acc.ID, start)
		if m.Following < 0 || m.Posts <= 0 || m.Listed < 0 || m.Likes < 0 {
			t.Errorf("%s: bad metrics %+v", acc.ID, m)
		}
	}
}

func TestFollowersBeforeCreationStayPositive(t *testing.T) {
	s, _ := New(Config{Seed: 1})
	for _, acc := range s.Accounts(topics.X) {
		for _, at := range []time.Time{time.Unix(0, 0), acc.CreatedAt.Add(-time.Hour), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)} {
			m, _ := s.Metrics(topics.X, acc.ID, at)
			if m.Followers < 1 || m.Following < 0 || m.Posts < 0 || m.Listed < 0 || m.Likes < 0 {
				t.Errorf("%s at %v: %+v", acc.ID, at, m)
			}
		}
	}
}

func TestPostsGrowThenPlateau(t *testing.T) {
	s, _ := New(Config{Seed: 5})
	acc := s.Accounts(topics.X)[0]
	posts, err := s.Posts(topics.X, acc.ID, start, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(posts) != 50 {
		t.Fatalf("got %d posts, want 50", len(posts))
	}
	m, _ := s.Metrics(topics.X, acc.ID, start)
	for i, p := range posts {
		if p.CreatedAt.After(start) {
			t.Errorf("post %s is in the future", p.ID)
		}
		if i > 0 {
			prevID, _ := strconv.ParseUint(posts[i-1].ID, 10, 64)
			id, _ := strconv.ParseUint(p.ID, 10, 64)
			if id >= prevID || !p.CreatedAt.Before(posts[i-1].CreatedAt) {
				t.Errorf("posts not newest first at %d", i)
			}
		}
		if p.Text == "" || len([]rune(p.Text)) > 280 {
			t.Errorf("post %s text %q", p.ID, p.Text)
		}
	}
	// Engagement of one post over its life: non-decreasing, levelling off.
	p := posts[len(posts)-1]
	var prev Post
	for _, age := range []time.Duration{0, time.Minute, time.Hour, 6 * time.Hour, day, 3 * day, 7 * day, 30 * day} {
		at := p.CreatedAt.Add(age)
		cur := postAt(t, s, acc.ID, p.ID, at)
		for _, pair := range [][2]int64{{prev.Likes, cur.Likes}, {prev.Replies, cur.Replies}, {prev.Reposts, cur.Reposts}, {prev.Quotes, cur.Quotes}, {prev.Bookmarks, cur.Bookmarks}, {prev.Impressions, cur.Impressions}} {
			if pair[1] < pair[0] || pair[1] < 0 {
				t.Errorf("engagement decreased at age %v: %+v -> %+v", age, prev, cur)
			}
		}
		prev = cur
	}
	week := postAt(t, s, acc.ID, p.ID, p.CreatedAt.Add(7*day))
	month := postAt(t, s, acc.ID, p.ID, p.CreatedAt.Add(30*day))
	if month.Impressions == 0 || float64(month.Impressions-week.Impressions) > 0.01*float64(month.Impressions) {
		t.Errorf("impressions did not plateau: week %d, month %d", week.Impressions, month.Impressions)
	}
	if got := postAt(t, s, acc.ID, p.ID, p.CreatedAt); got.Likes != 0 || got.Impressions != 0 {
		t.Errorf("engagement at publication = %+v, want zero", got)
	}
	if m.Posts < int64(len(posts)) {
		t.Errorf("posts count %d < %d posts listed", m.Posts, len(posts))
	}
}

// postAt finds post id among the account's posts at time at.
func postAt(t *testing.T, s *Server, accountID, id string, at time.Time) Post {
	t.Helper()
	posts, err := s.Posts(topics.X, accountID, at, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range posts {
		if p.ID == id {
			return p
		}
	}
	t.Fatalf("post %s not served at %v", id, at)
	return Post{}
}

func TestPostsAppearOverTime(t *testing.T) {
	s, _ := New(Config{Seed: 9})
	acc := s.Accounts(topics.X)[2]
	before, _ := s.Metrics(topics.X, acc.ID, start)
	after, _ := s.Metrics(topics.X, acc.ID, start.Add(2*day))
	// One post every 2 to 8 hours.
	if n := after.Posts - before.Posts; n < 6 || n > 24 {
		t.Errorf("%d posts in two days, want 6..24", n)
	}
	all, _ := s.Posts(topics.X, acc.ID, start, 0)
	if want := min(before.Posts, maxTimeline); int64(len(all)) != want {
		t.Errorf("timeline has %d posts, want %d", len(all), want)
	}
	created, _ := s.Posts(topics.X, acc.ID, acc.CreatedAt.Add(-time.Second), 0)
	if len(created) != 0 {
		t.Errorf("%d posts before the account existed", len(created))
	}
}

// TestMaxAccountsFitXHandles: at the bound every platform has its accounts,
// with distinct ids, and X handles stay within X's 15 characters.
func TestMaxAccountsFitXHandles(t *testing.T) {
	s, err := New(Config{Accounts: MaxAccounts})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range s.Platforms() {
		accts := s.Accounts(p)
		ids := map[string]bool{}
		for _, a := range accts {
			ids[a.ID] = true
			if p == topics.X && len(a.Handle) > 15 {
				t.Fatalf("X handle %q is longer than 15 characters", a.Handle)
			}
		}
		if len(accts) != MaxAccounts || len(ids) != MaxAccounts {
			t.Fatalf("%s: %d accounts, %d distinct ids, want %d", p, len(accts), len(ids), MaxAccounts)
		}
	}
}
