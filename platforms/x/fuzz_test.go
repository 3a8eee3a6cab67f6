package x

import (
	"testing"
)

// The parsers decode bodies from the network: they must never panic, and
// whatever they accept must satisfy their contract.

func FuzzParseAccount(f *testing.F) {
	f.Add([]byte(accountSample))
	f.Add([]byte(`{"data":{"id":"1"}}`))
	c := &Connector{}
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := c.ParseAccount(body)
		if err == nil && a.ID == "" {
			t.Errorf("accepted %q without an id", body)
		}
	})
}

func FuzzParsePosts(f *testing.F) {
	f.Add([]byte(postsSample))
	f.Add([]byte(`{"meta":{"result_count":0}}`))
	c := &Connector{}
	f.Fuzz(func(t *testing.T, body []byte) {
		posts, err := c.ParsePosts(body)
		if err != nil {
			return
		}
		for _, p := range posts {
			if p.ID == "" || p.Permalink == "" {
				t.Errorf("accepted %q with post %+v", body, p)
			}
		}
	})
}
