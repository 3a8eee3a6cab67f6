package chsink

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsehq/pulse/topics"
)

// TestDecodeAllReusesNothingStale: decodeAll decodes into a reused slice,
// so a slot that held a post or a snapshot in one poll must hold exactly
// the next poll's record (or its error) in the next, whatever the order
// and the number of records, on one goroutine and on several.
func TestDecodeAllReusesNothingStale(t *testing.T) {
	at := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	post := func(i int) *kgo.Record {
		v, err := topics.PostCodec.Marshal(&topics.Post{LinkID: "l", UserID: "u", Platform: topics.X, AccountID: "a",
			PostID: fmt.Sprint("p", i), CreatedAt: at, ObservedAt: at, Likes: int64(i), Reach: int64(i % 2), Version: 1})
		if err != nil {
			t.Fatal(err)
		}
		return &kgo.Record{Topic: topics.Posts, Value: v}
	}
	snap := func(i int) *kgo.Record {
		v, err := topics.AccountSnapshotCodec.Marshal(&topics.AccountSnapshot{LinkID: "l", UserID: "u", Platform: topics.X,
			AccountID: fmt.Sprint("a", i), Hour: at, ObservedAt: at, Followers: int64(i), PostsSkipped: i%2 == 0, Version: 1})
		if err != nil {
			t.Fatal(err)
		}
		return &kgo.Record{Topic: topics.AccountSnapshots, Value: v}
	}
	bad := func(int) *kgo.Record { return &kgo.Record{Topic: topics.Posts, Value: []byte(`{"v":1,"likes":"x"}`)} }
	other := func(int) *kgo.Record { return &kgo.Record{Topic: "elsewhere", Value: []byte(`{}`)} }
	kinds := []func(int) *kgo.Record{post, snap, bad, other}
	var scratch []decoded
	for round, n := range []int{3 * decodeMinChunk, 7, 4*decodeMinChunk + 5, 2} {
		recs := make([]*kgo.Record, n)
		for i := range recs {
			recs[i] = kinds[(i+round)%len(kinds)](i)
		}
		scratch = decodeAll(recs, scratch)
		if len(scratch) != n {
			t.Fatalf("round %d: %d decoded, want %d", round, len(scratch), n)
		}
		for i, r := range recs {
			d := &scratch[i]
			switch (i + round) % len(kinds) {
			case 0:
				want, _ := topics.PostCodec.Unmarshal(r.Value)
				if d.err != nil || d.topic != 'p' || d.post != *want {
					t.Fatalf("round %d record %d: %+v, want post %+v", round, i, d, want)
				}
			case 1:
				want, _ := topics.AccountSnapshotCodec.Unmarshal(r.Value)
				if d.err != nil || d.topic != 's' || fmt.Sprint(d.snap) != fmt.Sprint(*want) {
					t.Fatalf("round %d record %d: %+v, want snapshot %+v", round, i, d, want)
				}
			default:
				if d.err == nil || d.topic != 0 {
					t.Fatalf("round %d record %d: %+v, want an error", round, i, d)
				}
			}
		}
	}
}
