package facebook

import (
	"testing"
)

// The parsers decode bodies from the network: they must never panic, and
// whatever they accept must satisfy their contract. Seeds: the samples of
// parse tests and testdata/fuzz.

func FuzzParseAccount(f *testing.F) {
	f.Add([]byte(pageSample))
	f.Add([]byte(`{"id":"1","fan_count":3}`))
	c := &Connector{}
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := c.ParseAccount(body)
		if err == nil && a.ID == "" {
			t.Errorf("accepted %q without an id", body)
		}
		if err == nil && (a.Following != 0 || a.PostsCount != 0) {
			t.Errorf("accepted %q with counters a Page does not report: %+v", body, a)
		}
	})
}

func FuzzParsePosts(f *testing.F) {
	f.Add([]byte(postsSample))
	f.Add([]byte(`{"data":[]}`))
	c := &Connector{}
	f.Fuzz(func(t *testing.T, body []byte) {
		posts, err := c.ParsePosts(body)
		if err != nil {
			return
		}
		for _, p := range posts {
			if p.ID == "" || p.Permalink == "" || p.Views != 0 {
				t.Errorf("accepted %q with post %+v", body, p)
			}
		}
		// Fetch's decoder never rejects what ParsePosts accepts.
		if _, err := decodePage(body); err != nil {
			t.Errorf("decodePage rejects %q: %v", body, err)
		}
	})
}
