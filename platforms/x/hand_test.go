package x

import (
	"reflect"
	"testing"

	"github.com/pulsehq/pulse/internal/jsonscan"
	"github.com/pulsehq/pulse/platforms/internal/httpx"
)

// FuzzHandParsersMatchReflection: the hand-written decoders of the
// account and posts bodies give DecodeObject's result, and fail where it
// fails, for any input.
func FuzzHandParsersMatchReflection(f *testing.F) {
	for _, seed := range []string{accountSample, postsSample,
		`{"data":[{"id":"1","text":"a\"\u00e9","created_at":"2026-11-30T01:00:00.000Z","public_metrics":{"like_count":3,"reply_count":1}}],"meta":{"result_count":1}}`,
		`{"data":[],"meta":null}`, `{"data":null}`, `{"Data":[]}`, `{"data":{"id":"1","public_metrics":{"followers_count":1.5}}}`,
		`{"data":{"id":"1"},"data":{"name":"n"}}`, `{"data":[{"id":"1"}],"data":[{"text":"t"}]}`, `{"meta":{"result_count":"1"}}`, `[]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var ha, ra accountBody
		herr, rerr := httpx.DecodeObjectByHand(b, &ha, decodeAccount), httpx.DecodeObject(b, &ra)
		if (herr != nil) != (rerr != nil) || (herr == nil && !reflect.DeepEqual(ha, ra)) {
			t.Fatalf("account %q:\nhand       %+v (%v)\nreflection %+v (%v)", b, ha, herr, ra, rerr)
		}
		var hp, rp postsBody
		herr, rerr = httpx.DecodeObjectByHand(b, &hp, decodePosts), httpx.DecodeObject(b, &rp)
		if (herr != nil) != (rerr != nil) || (herr == nil && !reflect.DeepEqual(hp, rp)) {
			t.Fatalf("posts %q:\nhand       %+v (%v)\nreflection %+v (%v)", b, hp, herr, rp, rerr)
		}
	})
}

// TestHandParsersReadTheSamples: the samples are read by hand, not
// handed over to DecodeObject.
func TestHandParsersReadTheSamples(t *testing.T) {
	var a accountBody
	s := jsonscan.New([]byte(accountSample))
	if err := decodeAccount(s, &a); err != nil || s.End() != nil {
		t.Errorf("account sample: fell back (%v)", err)
	}
	var p postsBody
	s = jsonscan.New([]byte(postsSample))
	if err := decodePosts(s, &p); err != nil || s.End() != nil {
		t.Errorf("posts sample: fell back (%v)", err)
	}
}
