package topics_test

import (
	"errors"
	"testing"
	"time"

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
