package instagram

import (
	"testing"
)

// The parsers decode bodies from the network: they must never panic, and
// whatever they accept must satisfy their contract. Seeds: the samples of
// parse tests and testdata/fuzz.

func FuzzParseAccount(f *testing.F) {
	f.Add([]byte(userSample))
	f.Add([]byte(`{"user_id":17841400000000001,"id":"9"}`))
	c := &Connector{}
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := c.ParseAccount(body)
		if err == nil && a.ID == "" {
			t.Errorf("accepted %q without an id", body)
		}
	})
}

func FuzzParsePosts(f *testing.F) {
	f.Add([]byte(mediaSample))
	f.Add([]byte(`{"data":[]}`))
	c := &Connector{}
	f.Fuzz(func(t *testing.T, body []byte) {
		posts, err := c.ParsePosts(body)
		if err != nil {
			return
		}
		for _, p := range posts {
			if p.ID == "" || p.Shares != 0 || p.Views != 0 {
				t.Errorf("accepted %q with post %+v", body, p)
			}
		}
		if _, err := decodePage(body); err != nil {
			t.Errorf("decodePage rejects %q: %v", body, err)
		}
	})
}
