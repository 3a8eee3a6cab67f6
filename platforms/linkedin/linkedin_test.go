package linkedin

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/topics"
)

func TestRegistered(t *testing.T) {
	c, err := platforms.New(topics.LinkedIn, platforms.Config{})
	if err != nil {
		t.Fatalf("platforms.New(linkedin): %v", err)
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
		conn.client == nil || conn.client.Timeout != DefaultHTTPTimeout || conn.backoff != defaultBackoff || conn.now == nil {
		t.Errorf("defaults: %+v", conn)
	}
	cfg := conn.OAuth2()
	if cfg.Endpoint.AuthURL != "https://www.linkedin.com/oauth/v2/authorization" ||
		cfg.Endpoint.TokenURL != "https://www.linkedin.com/oauth/v2/accessToken" ||
		strings.Join(cfg.Scopes, " ") != Scope || conn.UsesPKCE() {
		t.Errorf("OAuth2 = %+v", cfg)
	}
	cfg.Scopes[0] = "changed"
	if conn.OAuth2().Scopes[0] == "changed" {
		t.Error("OAuth2 returned shared state")
	}

	hc := &http.Client{}
	c, _ = New(platforms.Config{HTTPClient: hc, MaxPostPages: 2, BaseURL: "http://localhost:8080/linkedin/"})
	if conn := c.(*Connector); conn.client != hc || conn.maxPages != 2 || conn.baseURL != "http://localhost:8080/linkedin" {
		t.Errorf("explicit config: %+v", conn)
	}
	for _, bad := range []platforms.Config{
		{MaxPostPages: -1},
		{BaseURL: "api.linkedin.com"},
		{BaseURL: "ftp://api.linkedin.com"},
		{BaseURL: "https://api.linkedin.com?q=1"},
		{AuthBaseURL: "://"},
		{RedirectURL: "/callback"},
	} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%+v) succeeded", bad)
		}
	}
}
