// Package instagram is Pulse's connector for Instagram professional
// (business and creator) accounts.
//
// It registers itself with the platforms registry for [topics.Instagram];
// import it for its side effect, or call [New] directly:
//
//	import _ "github.com/pulsehq/pulse/platforms/instagram"
//
// By default it speaks the Instagram Graph API through Facebook Login
// (https://graph.facebook.com, version pinned to v24.0), the API for
// accounts connected to a Facebook Page: Facebook Login's code flow with
// the permissions instagram_basic, instagram_manage_insights and
// pages_show_list, without PKCE ([Connector.UsesPKCE] is false; the state
// parameter protects the flow), the code exchanged for a long-lived user
// token (about 60 days) that [Connector.Refresh] renews by exchanging it
// again while it is valid. A fetch finds the Instagram account with
// GET /v24.0/me/accounts?fields=instagram_business_account (the first
// Page that has one), then reads the account (GET /v24.0/{ig-user-id})
// and its media (GET /v24.0/{ig-user-id}/media).
//
// With platforms.Config.BaseURL at https://graph.instagram.com it speaks
// the newer Instagram API with Instagram Login instead: the authorize page
// is https://www.instagram.com/oauth/authorize (scopes
// instagram_business_basic and instagram_business_manage_insights), the
// code is exchanged at https://api.instagram.com/oauth/access_token and
// upgraded with grant_type=ig_exchange_token, Refresh uses
// GET /refresh_access_token?grant_type=ig_refresh_token, and a fetch
// reads GET /v24.0/me and /v24.0/me/media, with the token in the
// access_token parameter as that API expects.
//
// Instagram allows about 200 calls per account per hour; Meta reports the
// usage in X-Business-Use-Case-Usage (type "instagram") and answers error
// code 80002 beyond it.
package instagram

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/internal/httpx"
	"github.com/pulsehq/pulse/platforms/internal/meta"
	"github.com/pulsehq/pulse/topics"
)

func init() { platforms.Register(topics.Instagram, New) }

// Defaults for the fields of platforms.Config left empty, and the APIs'
// fixed values.
const (
	// DefaultBaseURL is the Graph API root (Facebook Login).
	DefaultBaseURL = meta.DefaultBaseURL
	// DefaultAuthBaseURL is the root of Facebook Login's dialog.
	DefaultAuthBaseURL = meta.DefaultAuthBaseURL
	// GraphVersion is the pinned Graph API version.
	GraphVersion = meta.Version
	// DefaultMaxPostPages is the number of pages of media (25 each) read
	// per fetch when platforms.Config.MaxPostPages is zero.
	DefaultMaxPostPages = meta.DefaultMaxPostPages
	// DefaultHTTPTimeout is the timeout of the HTTP client used when
	// platforms.Config.HTTPClient is nil.
	DefaultHTTPTimeout = meta.DefaultHTTPTimeout

	// Scope is the comma-separated list of permissions Pulse asks for
	// through Facebook Login.
	Scope = "instagram_basic,instagram_manage_insights,pages_show_list"
	// UserFields are the account fields a fetch reads.
	UserFields = "id,username,followers_count,follows_count,media_count"
	// MediaFields are the media fields a fetch reads.
	MediaFields = "id,caption,like_count,comments_count,timestamp,permalink,media_type"

	// InstagramLoginBaseURL is the API root of the Instagram API with
	// Instagram Login; a BaseURL on its host selects that API.
	InstagramLoginBaseURL = "https://graph.instagram.com"
	// InstagramLoginAuthBaseURL is the root of Instagram Login's authorize
	// page, the default AuthBaseURL of that API.
	InstagramLoginAuthBaseURL = "https://www.instagram.com"
	// InstagramLoginTokenURL is Instagram Login's code exchange endpoint.
	InstagramLoginTokenURL = "https://api.instagram.com/oauth/access_token"
	// InstagramLoginScope is the comma-separated list of permissions Pulse
	// asks for through Instagram Login.
	InstagramLoginScope = "instagram_business_basic,instagram_business_manage_insights"

	instagramLoginHost = "graph.instagram.com"
)

// Metrics are the account insights read per day, by pinned Graph API
// version: follower_count is each day's net change of followers (the
// history a new link backfills, counted back from followers_count).
// impressions was retired in v22.0 for views.
var Metrics = map[string][]meta.Metric{
	"v24.0": {
		{Name: "follower_count", Role: meta.RoleFollowerGain},
		{Name: "reach", Role: meta.RoleReach},
		{Name: "views", Role: meta.RoleViews},
		{Name: "profile_views", Role: meta.RoleProfileViews},
	},
}

// PostMetrics are the media insights read with each media (lifetime), by
// pinned Graph API version.
var PostMetrics = map[string][]meta.Metric{
	"v24.0": {
		{Name: "reach", Role: meta.RoleReach},
		{Name: "views", Role: meta.RoleViews},
		{Name: "saved", Role: meta.RoleSaves},
		{Name: "shares", Role: meta.RoleShares},
	},
}

// Connector is the Instagram implementation of [platforms.Connector]. It
// is safe for concurrent use; its fields are set once by [New].
type Connector struct {
	g *meta.Client
	// igLogin selects the Instagram API with Instagram Login.
	igLogin bool
}

var _ platforms.Connector = (*Connector)(nil)

// New returns an Instagram connector for cfg. Empty fields take the
// defaults documented on platforms.Config and the Default constants above:
// BaseURL DefaultBaseURL, AuthBaseURL DefaultAuthBaseURL (or
// InstagramLoginAuthBaseURL when BaseURL is on graph.instagram.com),
// HTTPClient a client with a DefaultHTTPTimeout timeout, MaxPostPages
// DefaultMaxPostPages.
//
// ClientID and ClientSecret (the app's id and secret) are needed by
// Exchange and Refresh only, so New accepts empty ones (a parse-only
// connector). With a secret, Graph API calls carry appsecret_proof.
//
// New fails when a URL is not absolute http(s) or MaxPostPages is negative.
func New(cfg platforms.Config) (platforms.Connector, error) {
	base, err := httpx.RootURL(cfg.BaseURL, DefaultBaseURL)
	if err != nil {
		return nil, errors.New("instagram: new connector: BaseURL: " + err.Error())
	}
	u, _ := url.Parse(base)
	c := &Connector{igLogin: strings.EqualFold(u.Hostname(), instagramLoginHost)}
	scope, auth := Scope, DefaultAuthBaseURL
	if c.igLogin {
		scope, auth = InstagramLoginScope, InstagramLoginAuthBaseURL
	}
	if c.g, err = meta.New(topics.Instagram, cfg, strings.Split(scope, ","), DefaultBaseURL, auth); err != nil {
		return nil, err
	}
	return c, nil
}

// Platform returns topics.Instagram.
func (c *Connector) Platform() topics.Platform { return topics.Instagram }

// UsesPKCE reports false: neither Facebook Login's nor Instagram Login's
// server-side code flow uses PKCE; the state parameter protects it.
func (c *Connector) UsesPKCE() bool { return false }

// OAuth2 returns a new copy of the OAuth 2.0 configuration: Facebook
// Login's dialog and the Graph API's token endpoint (derived from
// AuthBaseURL and BaseURL), or Instagram Login's authorize page and token
// endpoint; the app's credentials (sent in the request body), the redirect
// URL and the scopes. Callers may modify the copy.
func (c *Connector) OAuth2() *oauth2.Config {
	cfg := c.g.OAuth2()
	if c.igLogin {
		cfg.Endpoint.AuthURL = c.g.AuthBaseURL + "/oauth/authorize"
		cfg.Endpoint.TokenURL = InstagramLoginTokenURL
	}
	return cfg
}

// Exchange trades an authorization code for a long-lived token: through
// Facebook Login, a short-lived user token upgraded with fb_exchange_token;
// through Instagram Login, a short-lived Instagram token upgraded with
// ig_exchange_token. verifier is ignored: the flows have no PKCE. Errors
// are *platforms.Error: a rejected code is Permanent.
func (c *Connector) Exchange(ctx context.Context, code, verifier string) (*oauth2.Token, error) {
	if !c.igLogin {
		return c.g.Exchange(ctx, code)
	}
	const op = "exchange"
	g := c.g
	if g.ClientID == "" || g.ClientSecret == "" {
		return nil, g.NewError(op, platforms.Permanent, 0, errors.New("no client id or secret configured"))
	}
	if code == "" {
		return nil, g.NewError(op, platforms.Permanent, 0, errors.New("empty authorization code"))
	}
	short, err := g.TokenRequest(ctx, op, http.MethodPost, InstagramLoginTokenURL, url.Values{
		"client_id":     {g.ClientID},
		"client_secret": {g.ClientSecret},
		"grant_type":    {"authorization_code"},
		"redirect_uri":  {g.RedirectURL},
		"code":          {code},
	}, platforms.Permanent, code)
	if err != nil {
		return nil, err
	}
	long, err := g.TokenRequest(ctx, op, http.MethodGet, g.BaseURL+"/access_token", url.Values{
		"grant_type":    {"ig_exchange_token"},
		"client_secret": {g.ClientSecret},
		"access_token":  {short.AccessToken},
	}, platforms.Permanent, code, short.AccessToken)
	if err != nil {
		return nil, err
	}
	if id, ok := short.Extra("user_id").(string); ok && id != "" {
		long = long.WithExtra(map[string]any{"user_id": id})
	}
	return long, nil
}

// Refresh renews a long-lived token while it is still valid: through
// Facebook Login by exchanging it again (fb_exchange_token), through
// Instagram Login with GET /refresh_access_token?grant_type=ig_refresh_token
// (Meta refreshes only tokens at least a day old). An expired, revoked or
// rejected token is Reauth. tok is not modified.
func (c *Connector) Refresh(ctx context.Context, tok *oauth2.Token) (*oauth2.Token, error) {
	if !c.igLogin {
		return c.g.Refresh(ctx, tok)
	}
	const op = "refresh"
	g := c.g
	if tok == nil || tok.AccessToken == "" {
		return nil, g.NewError(op, platforms.Reauth, 0, errors.New("no access token"))
	}
	if !tok.Expiry.IsZero() && !g.Now().Before(tok.Expiry) {
		return nil, g.NewError(op, platforms.Reauth, 0, errors.New("the token has expired; Meta cannot renew an expired token"))
	}
	return g.TokenRequest(ctx, op, http.MethodGet, g.BaseURL+"/refresh_access_token", url.Values{
		"grant_type":   {"ig_refresh_token"},
		"access_token": {tok.AccessToken},
	}, platforms.Reauth, tok.AccessToken)
}
