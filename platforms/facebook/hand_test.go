package facebook

import (
	"reflect"
	"testing"

	"github.com/pulsehq/pulse/internal/jsonscan"
	"github.com/pulsehq/pulse/platforms/internal/httpx"
)

// FuzzHandParsersMatchReflection: the hand-written decoders of the Page
// and posts bodies give DecodeObject's result, and fail where it fails,
// for any input.
func FuzzHandParsersMatchReflection(f *testing.F) {
	for _, seed := range []string{pageSample, postsSample,
		`{"id":"1","fan_count":3}`, `{"id":"1","followers_count":null,"fan_count":3,"fan_count":null}`,
		`{"data":[{"id":"1","message":"a\n\u00e9","created_time":"2026-11-30T01:00:00+0000","permalink_url":"p","reactions":{"summary":{"total_count":3}},"comments":{"summary":{"total_count":1}},"shares":{"count":2}}],"paging":{}}`,
		`{"data":[{"id":"1","insights":{"data":[{"name":"post_impressions","values":[{"value":4}]}]}}]}`,
		`{"data":[{"id":"1","insights":{"data":[{"name":"post_impressions","period":"lifetime","values":[{"value":4},{"value":"5"},null,{"value":null}],"title":"T","id":"1/insights"},{"name":"x","values":[]}]}}],"paging":{}}`,
		`{"data":[],"paging":{"cursors":{"after":"x"},"next":"n"}}`, `{"data":null}`, `{"Data":[]}`, `{"data":[{"reactions":{"summary":null}}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var hp, rp pageBody
		herr, rerr := httpx.DecodeObjectByHand(b, &hp, decodePageBody), httpx.DecodeObject(b, &rp)
		if (herr != nil) != (rerr != nil) || (herr == nil && !reflect.DeepEqual(hp, rp)) {
			t.Fatalf("page %q:\nhand       %+v (%v)\nreflection %+v (%v)", b, hp, herr, rp, rerr)
		}
		var hb, rb postsBody
		herr, rerr = httpx.DecodeObjectByHand(b, &hb, decodePosts), httpx.DecodeObject(b, &rb)
		if (herr != nil) != (rerr != nil) || (herr == nil && !reflect.DeepEqual(hb, rb)) {
			t.Fatalf("posts %q:\nhand       %+v (%v)\nreflection %+v (%v)", b, hb, herr, rb, rerr)
		}
	})
}

// TestHandParsersReadTheSamples: the samples are read by hand, not
// handed over to DecodeObject.
func TestHandParsersReadTheSamples(t *testing.T) {
	var a pageBody
	s := jsonscan.New([]byte(pageSample))
	if err := decodePageBody(s, &a); err != nil || s.End() != nil {
		t.Errorf("account sample: fell back (%v)", err)
	}
	var p postsBody
	s = jsonscan.New([]byte(postsSample))
	if err := decodePosts(s, &p); err != nil || s.End() != nil {
		t.Errorf("posts sample: fell back (%v)", err)
	}
}

// TestHandParserReadsInsights: a page of posts with their insights, as a
// fetch asks for them, is read by hand, with DecodeObject's values.
func TestHandParserReadsInsights(t *testing.T) {
	body := []byte(`{"data":[{"id":"1_2","message":"m","created_time":"2026-11-30T01:00:00+0000","insights":{"data":[` +
		`{"name":"post_impressions_unique","period":"lifetime","values":[{"value":40}],"title":"Lifetime","id":"1_2/insights/post_impressions_unique/lifetime"},` +
		`{"name":"post_impressions","period":"lifetime","values":[{"value":55}],"id":"x"}]}}],"paging":{"cursors":{"before":"b","after":"a"}}}`)
	var hand, refl postsBody
	s := jsonscan.New(body)
	if err := decodePosts(s, &hand); err != nil || s.End() != nil {
		t.Fatalf("fell back (%v)", err)
	}
	if err := httpx.DecodeObject(body, &refl); err != nil || !reflect.DeepEqual(hand, refl) {
		t.Fatalf("hand %+v\nreflection %+v (%v)", hand, refl, err)
	}
}
