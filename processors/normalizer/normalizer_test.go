package normalizer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/platforms"
	_ "github.com/pulsehq/pulse/platforms/x"
	"github.com/pulsehq/pulse/processors/normalizer"
	"github.com/pulsehq/pulse/topics"
)

func TestMain(m *testing.M) {
	testkit.WrapTestMain(m)
}

func mustParsers(t testing.TB) map[topics.Platform]normalizer.Parser {
	t.Helper()
	c, err := platforms.New(topics.X, platforms.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return map[topics.Platform]normalizer.Parser{topics.X: c}
}

func xAccountBody(id string, followers int) []byte {
	return fmt.Appendf(nil, `{"data":{"id":%q,"name":"N","username":"u%s","public_metrics":{"followers_count":%d,"following_count":7,"tweet_count":42,"listed_count":1,"like_count":3}}}`, id, id, followers)
}

func raw(t testing.TB, link string, at time.Time, account []byte, pages ...[]byte) []byte {
	t.Helper()
	b, err := topics.RawPayloadCodec.Marshal(&topics.RawPayload{
		RequestID: "r-" + at.String(), LinkID: link, UserID: "user-1", Platform: topics.X,
		AccountID: "42", FetchedAt: at, Account: account, PostPages: pages,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startTester runs the normalizer against goka's in-memory tester.
func startTester(t *testing.T) (*tester.Tester, *tester.QueueTracker, *tester.QueueTracker, *tester.QueueTracker) {
	t.Helper()
	gt := tester.New(t)
	p, err := goka.NewProcessor(nil, normalizer.Definition("", mustParsers(t), nil), goka.WithTester(gt))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("processor: %v", err)
		}
	})
	return gt, gt.NewQueueTracker(topics.AccountSnapshots), gt.NewQueueTracker(topics.Posts), gt.NewQueueTracker(topics.DeadLetters)
}

func TestNormalizeAccountDuplicatesAndOutOfOrder(t *testing.T) {
	gt, snaps, _, dead := startTester(t)
	t0 := time.Date(2026, 11, 25, 10, 17, 0, 0, time.UTC)
	inputs := []struct {
		at        time.Time
		followers int
	}{
		{t0, 100},
		{t0.Add(time.Hour), 120},
		{t0.Add(time.Hour), 120},        // duplicate (redelivery)
		{t0.Add(-time.Hour), 90},        // older, arriving late
		{t0.Add(2 * time.Hour), 130},    // newest
		{t0.Add(30 * time.Minute), 110}, // older again
	}
	for _, in := range inputs {
		gt.Consume(topics.RawPayloads, "link-1", raw(t, "link-1", in.at, xAccountBody("42", in.followers)))
	}
	for i, in := range inputs {
		key, v, ok := snaps.Next()
		if !ok {
			t.Fatalf("snapshot %d missing", i)
		}
		s := v.(*topics.AccountSnapshot)
		if key != "link-1" || s.Followers != int64(in.followers) || !s.Hour.Equal(in.at.Truncate(time.Hour)) ||
			s.Version != in.at.UnixMilli() || s.AccountID != "42" || s.UserID != "user-1" || s.Following != 7 || s.PostsCount != 42 {
			t.Fatalf("snapshot %d = %+v, want followers %d at %v", i, s, in.followers, in.at)
		}
	}
	if _, _, ok := snaps.Next(); ok {
		t.Fatal("unexpected extra snapshot")
	}
	if _, _, ok := dead.Next(); ok {
		t.Fatal("unexpected dead letter")
	}
	st := gt.TableValue(goka.GroupTable(normalizer.Group), "link-1").(*normalizer.State)
	// The newest observation is in the table, the duplicate was not counted
	// and the two late arrivals were.
	if st.Followers != 130 || st.Version != t0.Add(2*time.Hour).UnixMilli() || st.Payloads != 5 || st.OutOfOrder != 2 {
		t.Fatalf("state = %+v", st)
	}
}

func xPostsPage(posts ...string) []byte {
	return []byte(`{"data":[` + strings.Join(posts, ",") + `],"meta":{"result_count":` + fmt.Sprint(len(posts)) + `}}`)
}

func xPost(id string, created time.Time, text string, likes, replies, retweets int) string {
	return fmt.Sprintf(`{"id":%q,"text":%q,"created_at":%q,"public_metrics":{"retweet_count":%d,"reply_count":%d,"like_count":%d,"quote_count":1,"impression_count":50}}`,
		id, text, created.Format("2006-01-02T15:04:05.000Z"), retweets, replies, likes)
}

func TestNormalizePostsAndRecentEngagement(t *testing.T) {
	gt, snaps, posts, _ := startTester(t)
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	long := strings.Repeat("é", 300)
	page1 := xPostsPage(xPost("9", at.Add(-time.Hour), long, 4, 3, 2), xPost("8", at.Add(-29*24*time.Hour), "b", 10, 0, 0))
	page2 := xPostsPage(xPost("8", at.Add(-29*24*time.Hour), "b", 10, 0, 0), // overlaps page 1
		xPost("7", at.Add(-31*24*time.Hour), "old", 100, 0, 0))
	gt.Consume(topics.RawPayloads, "link-1", raw(t, "link-1", at, xAccountBody("42", 500), page1, page2))

	_, v, ok := snaps.Next()
	if !ok {
		t.Fatal("no snapshot")
	}
	s := v.(*topics.AccountSnapshot)
	// Posts 9 and 8 are within 30 days: (4+3+2+1) + (10+0+0+1); 7 is older.
	if s.RecentPosts != 2 || s.RecentEngagement != 21 || s.Followers != 500 {
		t.Fatalf("snapshot = %+v, want 2 recent posts with engagement 21", s)
	}
	var got []*topics.Post
	for {
		_, v, ok := posts.Next()
		if !ok {
			break
		}
		got = append(got, v.(*topics.Post))
	}
	if len(got) != 3 {
		t.Fatalf("emitted %d posts, want 3 (the duplicate across pages once)", len(got))
	}
	p := got[0]
	if p.PostID != "9" || p.Likes != 4 || p.Comments != 3 || p.Shares != 3 || p.Views != 50 || p.AccountID != "42" ||
		len([]rune(p.Text)) != 280 || !p.CreatedAt.Equal(at.Add(-time.Hour)) || p.Version != at.UnixMilli() {
		t.Fatalf("post = %+v", p)
	}
}

func TestBadPayloadsGoToDeadLetters(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		value  []byte
		reason string
	}{
		{"not json", []byte("{nope"), "malformed"},
		{"future schema", []byte(`{"v":99,"link_id":"l"}`), "unknown schema version"},
		{"missing fields", []byte(`{"v":1,"platform":"x","kind":"account"}`), "missing"},
		{"unknown platform", mustRaw(topics.RawPayload{LinkID: "l", UserID: "u", Platform: "myspace", FetchedAt: at}), "unknown platform"},
		{"bad account body", mustRaw(topics.RawPayload{LinkID: "l", UserID: "u", Platform: topics.X, FetchedAt: at, Account: []byte(`{"data":`)}), "parse x account"},
		{"bad posts page", mustRaw(topics.RawPayload{LinkID: "l", UserID: "u", Platform: topics.X, FetchedAt: at, Account: xAccountBody("1", 5),
			PostPages: [][]byte{xPostsPage(), []byte(`{"data":[{"id":`)}}), "parse x posts page 2"},
		{"post without id", mustRaw(topics.RawPayload{LinkID: "l", UserID: "u", Platform: topics.X, FetchedAt: at, Account: xAccountBody("1", 5),
			PostPages: [][]byte{[]byte(`{"data":[{"text":"no id"}],"meta":{"result_count":1}}`)}}), "post"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gt, snaps, _, dead := startTester(t)
			gt.Consume(topics.RawPayloads, "l", tc.value)
			_, v, ok := dead.Next()
			if !ok {
				t.Fatal("no dead letter")
			}
			dl := v.(*topics.DeadLetter)
			if !strings.Contains(dl.Reason, tc.reason) || string(dl.Value) != string(tc.value) || dl.SourceTopic != topics.RawPayloads || dl.Key != "l" {
				t.Fatalf("dead letter = %+v, want reason containing %q and the original bytes", dl, tc.reason)
			}
			if _, _, ok := snaps.Next(); ok {
				t.Fatal("bad payload produced a snapshot")
			}
			if st := gt.TableValue(goka.GroupTable(normalizer.Group), "l").(*normalizer.State); st.DeadLetters != 1 {
				t.Fatalf("state = %+v", st)
			}
		})
	}
}

func mustRaw(p topics.RawPayload) []byte {
	b, err := topics.RawPayloadCodec.Marshal(&p)
	if err != nil {
		panic(err)
	}
	return b
}

func TestUnknownFieldsAreIgnoredAndCounted(t *testing.T) {
	gt, snaps, _, dead := startTester(t)
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	v := raw(t, "link-1", at, xAccountBody("42", 9))
	v = append(v[:len(v)-1], []byte(`,"trace_id":"abc"}`)...) // a field from a newer producer
	gt.Consume(topics.RawPayloads, "link-1", v)
	if _, s, ok := snaps.Next(); !ok || s.(*topics.AccountSnapshot).Followers != 9 {
		t.Fatalf("snapshot = %v, %v", s, ok)
	}
	if _, _, ok := dead.Next(); ok {
		t.Fatal("a payload with an added field was dead-lettered")
	}
	st := gt.TableValue(goka.GroupTable(normalizer.Group), "link-1").(*normalizer.State)
	if st.UnknownFields != 1 || len(st.LastUnknown) != 1 || st.LastUnknown[0] != "trace_id" {
		t.Fatalf("state = %+v", st)
	}
}

func TestUrgentHeaderIsCopiedToOutputs(t *testing.T) {
	gt, snaps, posts, _ := startTester(t)
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	page := xPostsPage(xPost("1", at.Add(-time.Hour), "p", 1, 1, 1))
	gt.Consume(topics.RawPayloads, "link-1", raw(t, "link-1", at, xAccountBody("42", 9), page),
		tester.WithHeaders(goka.Headers{topics.HeaderUrgent: []byte("1")}))
	gt.Consume(topics.RawPayloads, "link-2", raw(t, "link-2", at, xAccountBody("43", 9)))
	for i, want := range []bool{true, false} {
		h, _, _, ok := snaps.NextWithHeaders()
		if _, urgent := h[topics.HeaderUrgent]; !ok || urgent != want {
			t.Fatalf("snapshot %d: urgent %v, want %v", i, urgent, want)
		}
	}
	if h, _, _, ok := posts.NextWithHeaders(); !ok || string(h[topics.HeaderUrgent]) != "1" {
		t.Fatalf("post headers = %v", h)
	}
}

// TestSkippedPostsKeepTheRecentEngagement: a fetch that skipped its posts
// (X's monthly cap had no room) reports the recent posts' numbers of the
// newest fetch that read them, not zero.
func TestSkippedPostsKeepTheRecentEngagement(t *testing.T) {
	gt, snaps, _, _ := startTester(t)
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	gt.Consume(topics.RawPayloads, "link-1", raw(t, "link-1", at, xAccountBody("42", 500),
		xPostsPage(xPost("9", at.Add(-time.Hour), "a", 4, 3, 2))))
	skipped, err := topics.RawPayloadCodec.Marshal(&topics.RawPayload{RequestID: "r2", LinkID: "link-1", UserID: "user-1",
		Platform: topics.X, AccountID: "42", FetchedAt: at.Add(time.Hour), Account: xAccountBody("42", 510), PostsSkipped: true})
	if err != nil {
		t.Fatal(err)
	}
	gt.Consume(topics.RawPayloads, "link-1", skipped)
	var got []*topics.AccountSnapshot
	for {
		_, v, ok := snaps.Next()
		if !ok {
			break
		}
		got = append(got, v.(*topics.AccountSnapshot))
	}
	if len(got) != 2 || got[0].RecentPosts != 1 || got[0].RecentEngagement != 10 {
		t.Fatalf("snapshots %+v", got)
	}
	if s := got[1]; !s.PostsSkipped || s.RecentPosts != 1 || s.RecentEngagement != 10 || s.Followers != 510 {
		t.Fatalf("the skipped fetch's snapshot = %+v, want the last recent posts (1, engagement 10)", s)
	}
}
