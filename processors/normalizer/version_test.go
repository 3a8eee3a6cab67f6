package normalizer_test

import (
	stdjson "encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/lovoo/goka"

	"github.com/pulsehq/pulse/loadgen"
	"github.com/pulsehq/pulse/platforms"
	_ "github.com/pulsehq/pulse/platforms/facebook"
	_ "github.com/pulsehq/pulse/platforms/instagram"
	"github.com/pulsehq/pulse/processors/normalizer"
	"github.com/pulsehq/pulse/topics"
)

// TestVersion1PayloadsNormalizeAlike replays raw payloads as builds before
// RawPayload version 2 wrote them (bodies as base64 strings): they
// normalize to the same events as their version 2 encoding, and to what
// the generator says they hold.
func TestVersion1PayloadsNormalizeAlike(t *testing.T) {
	parsers := map[topics.Platform]normalizer.Parser{}
	for _, p := range []topics.Platform{topics.X, topics.Facebook, topics.Instagram} {
		c, err := platforms.New(p, platforms.Config{})
		if err != nil {
			t.Fatal(err)
		}
		parsers[p] = c
	}
	g, err := loadgen.New(loadgen.Config{Seed: 3, Users: 2, Hours: 30, PostEvery: 6})
	if err != nil {
		t.Fatal(err)
	}
	for i := range g.Fetches() {
		a, h := g.Fetch(i)
		p := g.RawPayload(a, h)
		v2, err := topics.RawPayloadCodec.Marshal(&p)
		if err != nil {
			t.Fatal(err)
		}
		p.V = 1
		v1, err := stdjson.Marshal(&p) // the version 1 encoding: reflection, base64 bodies
		if err != nil {
			t.Fatal(err)
		}
		snap1, hist1, posts1, err1 := normalizer.Normalize(parsers, v1)
		snap2, hist2, posts2, err2 := normalizer.Normalize(parsers, v2)
		if err1 != nil || err2 != nil {
			t.Fatalf("fetch %d: version 1: %v, version 2: %v", i, err1, err2)
		}
		if !reflect.DeepEqual(snap1, snap2) || !reflect.DeepEqual(hist1, hist2) || !reflect.DeepEqual(posts1, posts2) {
			t.Fatalf("fetch %d: version 1 gave %+v %+v, version 2 %+v %+v", i, snap1, posts1, snap2, posts2)
		}
		want := g.Snapshot(a, h)
		want.V = 0
		if !reflect.DeepEqual(*snap2, want) {
			t.Fatalf("fetch %d: snapshot %+v, want %+v", i, *snap2, want)
		}
		wantPosts := g.Posts(a, h)
		if len(posts2) != len(wantPosts) {
			t.Fatalf("fetch %d: %d posts, want %d", i, len(posts2), len(wantPosts))
		}
		for j := range wantPosts {
			wantPosts[j].V = 0
			if posts2[j] != wantPosts[j] {
				t.Fatalf("fetch %d post %d: %+v, want %+v", i, j, posts2[j], wantPosts[j])
			}
		}
	}
}

// TestVersion1PayloadThroughTheProcessor: a version 1 record on the topic
// is normalized, not dead-lettered.
func TestVersion1PayloadThroughTheProcessor(t *testing.T) {
	gt, snaps, _, dead := startTester(t)
	p := topics.RawPayload{V: 1, RequestID: "r", LinkID: "link-1", UserID: "user-1", Platform: topics.X,
		FetchedAt: mustTime("2026-11-25T10:00:00Z"), Account: xAccountBody("42", 77)}
	v1, err := stdjson.Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	gt.Consume(topics.RawPayloads, "link-1", v1)
	if _, s, ok := snaps.Next(); !ok || s.(*topics.AccountSnapshot).Followers != 77 {
		t.Fatalf("snapshot = %v, %v", s, ok)
	}
	if _, d, ok := dead.Next(); ok {
		t.Fatalf("dead letter %+v", d)
	}
	if st := gt.TableValue(goka.GroupTable(normalizer.Group), "link-1").(*normalizer.State); st.Payloads != 1 || st.UnknownFields != 0 {
		t.Fatalf("state = %+v", st)
	}
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
