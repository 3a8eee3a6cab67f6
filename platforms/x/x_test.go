package x

import (
	"net/http"
	"testing"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/topics"
)

func TestRegistered(t *testing.T) {
	c, err := platforms.New(topics.X, platforms.Config{})
	if err != nil {
		t.Fatalf("platforms.New(x): %v", err)
	}
	if _, ok := c.(*Connector); !ok {
		t.Errorf("registered factory made a %T", c)
	}
}

func TestNewDefaultsAndValidation(t *testing.T) {
	c, err := New(platforms.Config{})
	if err != nil {
		t.Fatal(err)
	}
	conn := c.(*Connector)
	if conn.baseURL != DefaultBaseURL || conn.authBaseURL != DefaultAuthBaseURL || conn.maxPages != DefaultMaxPostPages ||
		conn.client == nil || conn.client.Timeout != DefaultHTTPTimeout || conn.backoff != defaultBackoff {
		t.Errorf("defaults: %+v", conn)
	}
	hc := &http.Client{}
	c, _ = New(platforms.Config{HTTPClient: hc, MaxPostPages: 2, BaseURL: "http://localhost:8080/x/"})
	if conn := c.(*Connector); conn.client != hc || conn.maxPages != 2 || conn.baseURL != "http://localhost:8080/x" {
		t.Errorf("explicit config: %+v", conn)
	}
	for _, bad := range []platforms.Config{
		{MaxPostPages: -1},
		{BaseURL: "api.x.com"},
		{BaseURL: "ftp://api.x.com"},
		{BaseURL: "https://api.x.com?q=1"},
		{AuthBaseURL: "://"},
		{RedirectURL: "/callback"},
	} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%+v) succeeded", bad)
		}
	}
}
