package topics_test

import (
	stdjson "encoding/json"
	"errors"
	"slices"
	"sort"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pulsehq/pulse/topics"
)

func TestCodecRoundTripStampsVersion(t *testing.T) {
	in := &topics.AccountSnapshot{LinkID: "l", UserID: "u", Platform: topics.X, Followers: 5, Hour: time.Unix(3600, 0).UTC()}
	b, err := topics.AccountSnapshotCodec.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := topics.AccountSnapshotCodec.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.V != topics.AccountSnapshotVersion || out.Followers != 5 || !out.Hour.Equal(in.Hour) || in.V != 0 {
		t.Fatalf("round trip: %+v (input mutated: v=%d)", out, in.V)
	}
}

func TestCodecCompatibility(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		wantErr error
	}{
		{"a field added by a newer minor version is ignored", `{"v":1,"link_id":"l","followers":3,"reach_28d":99}`, nil},
		{"missing version", `{"link_id":"l"}`, topics.ErrUnknownVersion},
		{"newer major version", `{"v":2,"link_id":"l"}`, topics.ErrUnknownVersion},
		{"not JSON", `{"v":1,`, topics.ErrMalformed},
		{"wrong type", `{"v":1,"followers":"many"}`, topics.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := topics.AccountSnapshotCodec.Unmarshal([]byte(tc.in))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && (v.LinkID != "l" || v.Followers != 3) {
				t.Fatalf("decoded %+v", v)
			}
		})
	}
}

func TestGokaCodecInterface(t *testing.T) {
	c := topics.PostCodec
	b, err := c.Encode(topics.Post{PostID: "p"}) // by value
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Decode(b)
	if err != nil || v.(*topics.Post).PostID != "p" {
		t.Fatalf("decode: %v %v", v, err)
	}
	if _, err := c.Encode("not a post"); err == nil {
		t.Fatal("encoding a string as a Post succeeded")
	}
}

func TestUnknownFields(t *testing.T) {
	got := topics.RawPayloadCodec.UnknownFields([]byte(`{"v":1,"link_id":"l","zeta":1,"alpha":{"x":2}}`))
	if len(got) != 2 || got[0] != "alpha" || got[1] != "zeta" {
		t.Fatalf("unknown fields = %v", got)
	}
	if got := topics.RawPayloadCodec.UnknownFields([]byte(`[1]`)); got != nil {
		t.Fatalf("non-object: %v", got)
	}
}

// FuzzUnknownFields checks the scanning UnknownFields against decoding the
// object into a map: the same names for every JSON object.
func FuzzUnknownFields(f *testing.F) {
	for _, s := range []string{`{"v":1,"link_id":"l","zeta":1,"alpha":{"x":[2,"}"]}}`, `{"a":1,"a":2}`, `[]`, `{"\u00e9":"x"}`, `{}`, `{"v":1}x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return // encoding/json would replace invalid bytes in names
		}
		got := topics.RawPayloadCodec.UnknownFields(b)
		var m map[string]stdjson.RawMessage
		if stdjson.Unmarshal(b, &m) != nil || m == nil {
			return // not an object: the scan may stop anywhere
		}
		known := map[string]bool{"v": true, "request_id": true, "link_id": true, "user_id": true, "platform": true,
			"account_id": true, "fetched_at": true, "account": true, "post_pages": true}
		var want []string
		for k := range m {
			if !known[k] {
				want = append(want, k)
			}
		}
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Fatalf("UnknownFields(%q) = %q, want %q", b, got, want)
		}
	})
}
