package normalizer_test

import (
	"testing"
	"time"

	"github.com/lovoo/goka"

	"github.com/pulsehq/pulse/processors/normalizer"
	"github.com/pulsehq/pulse/topics"
)

// rawIncremental is raw with RawPayload.PostsIncremental set.
func rawIncremental(t testing.TB, link string, at time.Time, account []byte, pages ...[]byte) []byte {
	t.Helper()
	b, err := topics.RawPayloadCodec.Marshal(&topics.RawPayload{
		RequestID: "r-" + at.String(), LinkID: link, UserID: "user-1", Platform: topics.X,
		AccountID: "42", FetchedAt: at, Account: account, PostPages: pages, PostsIncremental: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// An incremental fetch (only the posts newer than the cursor) keeps the
// older recent posts in the 30-day numbers, with their engagement as last
// read, counts a post read again once, and lets posts age out of the
// window; a full read replaces what was known (a deleted post drops out);
// a redelivered incremental payload reports the same numbers again.
func TestNormalizeIncrementalMergesRecentPosts(t *testing.T) {
	gt, snaps, posts, dead := startTester(t)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	acct := xAccountBody("42", 1000)
	next := func() *topics.AccountSnapshot {
		t.Helper()
		_, v, ok := snaps.Next()
		if !ok {
			t.Fatal("no snapshot")
		}
		return v.(*topics.AccountSnapshot)
	}
	drain := func() {
		for {
			if _, _, ok := posts.Next(); !ok {
				return
			}
		}
	}
	check := func(step string, s *topics.AccountSnapshot, n int, eng int64) {
		t.Helper()
		if s.RecentPosts != n || s.RecentEngagement != eng {
			t.Fatalf("%s: recent posts %d, engagement %d; want %d, %d", step, s.RecentPosts, s.RecentEngagement, n, eng)
		}
	}
	// xPost's engagement: likes + replies + retweets + its one quote.
	old := xPost("100", t0.Add(-20*24*time.Hour), "old", 10, 1, 1) // 13
	mid := xPost("200", t0.Add(-2*24*time.Hour), "mid", 20, 2, 2)  // 25
	gt.Consume(topics.RawPayloads, "link-1", raw(t, "link-1", t0, acct, xPostsPage(mid, old)))
	check("full read", next(), 2, 38)
	drain()

	// An hour later: one new post, and the newest again (the cursor's).
	t1 := t0.Add(time.Hour)
	fresh := xPost("300", t0.Add(30*time.Minute), "new", 5, 0, 0)  // 6
	mid2 := xPost("200", t0.Add(-2*24*time.Hour), "mid", 30, 2, 2) // 35 now
	gt.Consume(topics.RawPayloads, "link-1", rawIncremental(t, "link-1", t1, acct, xPostsPage(fresh, mid2)))
	s := next()
	if !s.PostsIncremental {
		t.Fatal("snapshot of an incremental read not marked so")
	}
	check("incremental read", s, 3, 13+35+6)
	for range 2 { // the posts the fetch read are emitted as observations
		if _, v, ok := posts.Next(); !ok || v.(*topics.Post).ObservedAt != t1 {
			t.Fatalf("posts of the incremental read: %v %v", v, ok)
		}
	}
	if _, _, ok := posts.Next(); ok {
		t.Fatal("an incremental read emitted a post it did not read")
	}

	// Redelivered: the same numbers.
	gt.Consume(topics.RawPayloads, "link-1", rawIncremental(t, "link-1", t1, acct, xPostsPage(fresh, mid2)))
	check("redelivery", next(), 3, 54)
	drain()

	// Eleven days on, nothing new: the old post has left the window.
	t2 := t0.Add(11 * 24 * time.Hour)
	gt.Consume(topics.RawPayloads, "link-1", rawIncremental(t, "link-1", t2, acct, xPostsPage()))
	check("ageing", next(), 2, 35+6)

	// A full read without the middle post (deleted): it drops out.
	t3 := t2.Add(time.Hour)
	gt.Consume(topics.RawPayloads, "link-1", raw(t, "link-1", t3, acct, xPostsPage(fresh)))
	check("full read after a deletion", next(), 1, 6)
	st := gt.TableValue(goka.GroupTable(normalizer.Group), "link-1").(*normalizer.State)
	if len(st.Posts) != 1 || st.Posts[0].ID != "300" || st.RecentPosts != 1 || st.RecentEngagement != 6 {
		t.Fatalf("state after the full read: %+v", st)
	}
	if _, _, ok := dead.Next(); ok {
		t.Fatal("unexpected dead letter")
	}
}
