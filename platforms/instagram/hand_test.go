package instagram

import (
	"reflect"
	"testing"

	"github.com/pulsehq/pulse/internal/jsonscan"
	"github.com/pulsehq/pulse/platforms/internal/httpx"
)

// FuzzHandParsersMatchReflection: the hand-written decoders of the
// account and media bodies give DecodeObject's result, and fail where it
// fails, for any input.
func FuzzHandParsersMatchReflection(f *testing.F) {
	for _, seed := range []string{userSample, mediaSample,
		`{"user_id":17841400000000001,"id":"9"}`, `{"user_id":"178","id":"9","followers_count":5,"follows_count":null}`,
		`{"data":[{"id":"1","caption":"a\n\u00e9","like_count":3,"comments_count":1,"timestamp":"2026-11-30T01:00:00+0000","permalink":"p","media_type":"IMAGE","insights":null}],"paging":{}}`,
		`{"data":[{"id":"1","insights":{"data":[{"name":"reach","values":[{"value":4}]}]}}]}`,
		`{"data":[{"id":"1","insights":{"data":[{"name":"reach","period":"lifetime","values":[{"value":4},{"value":"5"},null,{"value":null}],"title":"Reach","id":"1/insights/reach/lifetime"},{"name":"saved","values":[{"value":-1.5e3}]}],"paging":{}},"insights":null}]}`,
		`{"data":[],"paging":{"cursors":{"after":"x"},"next":"n"}}`, `{"data":null}`, `{"DATA":[]}`, `{"paging":{"cursors":null}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var hu, ru userBody
		herr, rerr := httpx.DecodeObjectByHand(b, &hu, decodeUser), httpx.DecodeObject(b, &ru)
		if (herr != nil) != (rerr != nil) || (herr == nil && !reflect.DeepEqual(hu, ru)) {
			t.Fatalf("user %q:\nhand       %+v (%v)\nreflection %+v (%v)", b, hu, herr, ru, rerr)
		}
		var hm, rm mediaBody
		herr, rerr = httpx.DecodeObjectByHand(b, &hm, decodeMedia), httpx.DecodeObject(b, &rm)
		if (herr != nil) != (rerr != nil) || (herr == nil && !reflect.DeepEqual(hm, rm)) {
			t.Fatalf("media %q:\nhand       %+v (%v)\nreflection %+v (%v)", b, hm, herr, rm, rerr)
		}
	})
}

// TestHandParsersReadTheSamples: the samples are read by hand, not
// handed over to DecodeObject.
func TestHandParsersReadTheSamples(t *testing.T) {
	var a userBody
	s := jsonscan.New([]byte(userSample))
	if err := decodeUser(s, &a); err != nil || s.End() != nil {
		t.Errorf("account sample: fell back (%v)", err)
	}
	var p mediaBody
	s = jsonscan.New([]byte(mediaSample))
	if err := decodeMedia(s, &p); err != nil || s.End() != nil {
		t.Errorf("posts sample: fell back (%v)", err)
	}
}
