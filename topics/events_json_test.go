package topics_test

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	json "github.com/go-json-experiment/json/v1"

	"github.com/pulsehq/pulse/topics"
)

// FuzzHandEncodingMatchesReflection: the hand-written encodings of
// AccountSnapshot and Post are byte for byte what json.Marshal writes.
func FuzzHandEncodingMatchesReflection(f *testing.F) {
	f.Add("link-1", "x", "h", "text <b>&é\u2028", int64(5), int64(-3), int64(1_700_000_000_123), int32(7), true)
	f.Add("", "", "", "", int64(0), int64(0), int64(-62135596800000), int32(0), false)
	f.Add("\xff\"\\\n", "\t", "\x00", "a\xffb", int64(1<<62), int64(-1<<62), int64(253402300799999), int32(-1), true)
	f.Fuzz(func(t *testing.T, id, plat, handle, text string, n, m, ms int64, zone int32, flag bool) {
		at := time.UnixMilli(ms).In(time.FixedZone("z", int(zone%86400)))
		s := topics.AccountSnapshot{V: topics.AccountSnapshotVersion, LinkID: id, UserID: text, Platform: topics.Platform(plat),
			AccountID: handle, Handle: handle, Hour: at.Truncate(time.Hour), ObservedAt: at, Followers: n, Following: m,
			PostsCount: n ^ m, RecentPosts: int(m), RecentEngagement: n, Version: ms, PostsSkipped: flag, History: !flag}
		p := topics.Post{V: topics.PostVersion, LinkID: id, UserID: handle, Platform: topics.Platform(plat), AccountID: id,
			PostID: handle, CreatedAt: at.Add(-time.Duration(n % 1e12)), ObservedAt: at, Text: text, Permalink: plat,
			Likes: n, Comments: m, Shares: -n, Views: m * 2, Version: ms}
		if flag {
			p.Reach, p.Saves = n, m
		}
		for _, c := range []struct {
			name       string
			hand, refl func() ([]byte, error)
		}{
			{"snapshot", func() ([]byte, error) { return topics.AccountSnapshotCodec.Marshal(&s) }, func() ([]byte, error) { return json.Marshal(&s) }},
			{"post", func() ([]byte, error) { return topics.PostCodec.Marshal(&p) }, func() ([]byte, error) { return json.Marshal(&p) }},
		} {
			got, err := c.hand()
			want, werr := c.refl()
			if (err != nil) != (werr != nil) || !bytes.Equal(got, want) {
				t.Fatalf("%s:\nhand       %s (%v)\nreflection %s (%v)", c.name, got, err, want, werr)
			}
		}
	})
}

func TestSnapshotWithInsightsEncodes(t *testing.T) {
	reach := int64(9)
	s := topics.AccountSnapshot{LinkID: "l", Insights: []topics.DayInsights{{Day: time.Unix(0, 0).UTC(), Reach: &reach}}}
	b, err := topics.AccountSnapshotCodec.Marshal(&s)
	if err != nil {
		t.Fatal(err)
	}
	out, err := topics.AccountSnapshotCodec.Unmarshal(b)
	if err != nil || len(out.Insights) != 1 || *out.Insights[0].Reach != 9 || out.V != topics.AccountSnapshotVersion {
		t.Fatalf("%s → %+v, %v", b, out, err)
	}
}

// fillEveryField sets every field of the struct v points to a non-zero
// value (slices get one element), so a field the hand-written code does
// not know shows as a difference.
func fillEveryField(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillEveryField(v.Elem())
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 11, 30, 1, 2, 3, 4, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillEveryField(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte(`{"body":1}`))
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fillEveryField(v.Index(0))
	case reflect.String:
		v.SetString("s")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	default:
		panic("fillEveryField: " + v.Kind().String())
	}
}

// TestHandEncodingsKnowEveryField fails when a field is added to a type
// whose JSON is written by hand and the hand-written code misses it.
func TestHandEncodingsKnowEveryField(t *testing.T) {
	var s topics.AccountSnapshot
	fillEveryField(reflect.ValueOf(&s).Elem())
	s.Insights = nil // encoded by reflection when set
	var p topics.Post
	fillEveryField(reflect.ValueOf(&p).Elem())
	s.V, p.V = topics.AccountSnapshotVersion, topics.PostVersion // Marshal stamps them
	for _, c := range []struct {
		name       string
		hand, refl func() ([]byte, error)
	}{
		{"AccountSnapshot", func() ([]byte, error) { return topics.AccountSnapshotCodec.Marshal(&s) }, func() ([]byte, error) { return json.Marshal(&s) }},
		{"Post", func() ([]byte, error) { return topics.PostCodec.Marshal(&p) }, func() ([]byte, error) { return json.Marshal(&p) }},
	} {
		got, err := c.hand()
		want, werr := c.refl()
		if err != nil || werr != nil || !bytes.Equal(got, want) {
			t.Errorf("%s:\nhand       %s (%v)\nreflection %s (%v)", c.name, got, err, want, werr)
		}
	}
	var r topics.RawPayload
	fillEveryField(reflect.ValueOf(&r).Elem())
	r.V = topics.RawPayloadVersion
	b, err := topics.RawPayloadCodec.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	got, unknown, err := topics.DecodeRawPayload(b)
	if err != nil || unknown != nil || !reflect.DeepEqual(got, &r) {
		t.Errorf("RawPayload round trip:\n got %+v (unknown %v, %v)\nwant %+v\nfrom %s", got, unknown, err, &r, b)
	}
}

// FuzzHandDecodingMatchesReflection: the hand-written decoders of
// AccountSnapshot and Post give json.Unmarshal's result (and fail where it
// fails) for any input.
func FuzzHandDecodingMatchesReflection(f *testing.F) {
	s := topics.AccountSnapshot{LinkID: "l", UserID: "u", Platform: topics.X, AccountID: "a", Handle: "h",
		Hour: time.Unix(3600, 0).UTC(), ObservedAt: time.Unix(3700, 0).UTC(), Followers: 5, Version: 9, History: true}
	p := topics.Post{LinkID: "l", PostID: "p", CreatedAt: time.Unix(3600, 0).UTC(), Text: "t <&>", Likes: 3, Reach: 2}
	sb, _ := topics.AccountSnapshotCodec.Marshal(&s)
	pb, _ := topics.PostCodec.Marshal(&p)
	for _, seed := range [][]byte{sb, pb, []byte(`{"v":1,"LINK_ID":"x"}`), []byte(`{"v":1,"followers":1.5}`),
		[]byte(`{"v":1,"link_id":"a","link_id":null,"zz":[1,{"a":2}]}`), []byte(`{"v":1,"hour":"2026-11-30T01:02:03+01:00"}`),
		[]byte(`{"v":1,"text":"\xff"}`), []byte(`{"v":1,"insights":[{"day":"2026-11-30T00:00:00Z","reach":3}]}`), []byte(`null`), []byte(`{"v":1}{}`)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var hs, rs topics.AccountSnapshot
		herr, rerr := topics.DecodeForTest(&hs, b), json.Unmarshal(b, &rs)
		if (herr != nil) != (rerr != nil) || (herr == nil && !reflect.DeepEqual(hs, rs)) {
			t.Fatalf("snapshot %s:\nhand       %+v (%v)\nreflection %+v (%v)", b, hs, herr, rs, rerr)
		}
		var hp, rp topics.Post
		herr, rerr = topics.DecodeForTest(&hp, b), json.Unmarshal(b, &rp)
		if (herr != nil) != (rerr != nil) || (herr == nil && !reflect.DeepEqual(hp, rp)) {
			t.Fatalf("post %s:\nhand       %+v (%v)\nreflection %+v (%v)", b, hp, herr, rp, rerr)
		}
	})
}
