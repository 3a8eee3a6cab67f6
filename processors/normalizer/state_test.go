package normalizer_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/pulsehq/pulse/processors/normalizer"
	"github.com/pulsehq/pulse/topics"
)

func TestStateCodecRoundTripsAndReadsJSON(t *testing.T) {
	st := &normalizer.State{Platform: topics.X, AccountID: "42", Version: 1764000000123, Followers: -3, Payloads: 9,
		OutOfOrder: 1, DeadLetters: 2, UnknownFields: 4, LastUnknown: []string{"a", "é"},
		UpdatedAt: time.Date(2026, 11, 29, 1, 2, 3, 4, time.UTC), Recent: []int64{1764000000123, 1763990000000, 1764000000999},
		PostsVersion: 1764000000123, RecentPosts: 12, RecentEngagement: 3456,
		Posts: []normalizer.RecentPost{{ID: "9", Created: 1763990000, Engagement: 40}, {ID: "8", Created: 1763900000}}}
	for name, in := range map[string]*normalizer.State{"full": st, "empty": {}} {
		b, err := (normalizer.StateCodec{}).Encode(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := (normalizer.StateCodec{}).Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(out, in) {
			t.Fatalf("%s: round trip\n got %+v\nwant %+v", name, out, in)
		}
		// A table written by an older build holds JSON.
		old, _ := json.Marshal(in)
		out, err = (normalizer.StateCodec{}).Decode(old)
		if err != nil || !reflect.DeepEqual(out, in) {
			t.Fatalf("%s: JSON value decoded to %+v, %v", name, out, err)
		}
	}
	// A binary value of a build before PostsVersion: the three zero varints
	// and the empty posts it lacks decode as zeros.
	noPosts := *st
	noPosts.PostsVersion, noPosts.RecentPosts, noPosts.RecentEngagement, noPosts.Posts = 0, 0, 0, nil
	b, _ := (normalizer.StateCodec{}).Encode(&noPosts)
	if out, err := (normalizer.StateCodec{}).Decode(b[:len(b)-4]); err != nil || !reflect.DeepEqual(out, &noPosts) {
		t.Fatalf("an older binary state decoded to %+v, %v", out, err)
	}
	// One of a build before Posts.
	noList := *st
	noList.Posts = nil
	b, _ = (normalizer.StateCodec{}).Encode(&noList)
	if out, err := (normalizer.StateCodec{}).Decode(b[:len(b)-1]); err != nil || !reflect.DeepEqual(out, &noList) {
		t.Fatalf("a binary state without posts decoded to %+v, %v", out, err)
	}
	b, _ = (normalizer.StateCodec{}).Encode(st)
	if _, err := (normalizer.StateCodec{}).Decode(b[:len(b)-1]); err == nil {
		t.Fatal("truncated state decoded")
	}
	if _, err := (normalizer.StateCodec{}).Encode("x"); err == nil {
		t.Fatal("encoded a string")
	}
}

func FuzzStateCodecDecode(f *testing.F) {
	b, _ := (normalizer.StateCodec{}).Encode(&normalizer.State{AccountID: "1", Recent: []int64{5, 7}})
	f.Add(b)
	f.Add([]byte(`{"version":3}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := (normalizer.StateCodec{}).Decode(b)
		if err != nil || b[0] == '{' {
			return
		}
		again, err := (normalizer.StateCodec{}).Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		if w, err := (normalizer.StateCodec{}).Decode(again); err != nil || !reflect.DeepEqual(w, v) {
			t.Fatalf("re-encoded state decodes to %+v, %v; want %+v", w, err, v)
		}
	})
}
