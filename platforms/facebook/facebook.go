// Package facebook is Pulse's connector for Facebook Pages, through the
// Meta Graph API (version pinned to v24.0).
//
// It registers itself with the platforms registry for [topics.Facebook];
// import it for its side effect, or call [New] directly:
//
//	import _ "github.com/pulsehq/pulse/platforms/facebook"
//
// Authorization is Facebook Login's code flow with the permissions
// pages_show_list, pages_read_engagement and read_insights. Meta does not
// use PKCE for this server-side flow ([Connector.UsesPKCE] is false): the
// caller must send a random state and check it on the callback. The code
// is exchanged for a short-lived user token, at once upgraded to a
// long-lived one (about 60 days). Meta has no refresh tokens:
// [Connector.Refresh] exchanges a still-valid long-lived token for a new
// one; an expired token needs a new login.
//
// One login may share several Pages; [Connector.Accounts] lists them and
// the user picks which to link, each its own link. A fetch finds the
// link's Page and its Page access token with GET /v24.0/me/accounts,
// then reads the Page (GET /v24.0/{page-id}), its posts with their
// insights (GET /v24.0/{page-id}/posts) and the Page's daily insights
// (GET /v24.0/{page-id}/insights), returning the raw bodies for the
// pipeline to store and parse with [Connector.ParseAccount],
// [Connector.ParsePosts] and [Connector.ParseInsights]. The metric names
// of the pinned version are in [Metrics] and [PostMetrics].
package facebook

import (
	"context"
	"strings"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/internal/meta"
	"github.com/pulsehq/pulse/topics"
)

func init() { platforms.Register(topics.Facebook, New) }

// Defaults for the fields of platforms.Config left empty, and the API's
// fixed values.
const (
	// DefaultBaseURL is the Graph API root; the token endpoint is
	// DefaultBaseURL + "/v24.0/oauth/access_token".
	DefaultBaseURL = meta.DefaultBaseURL
	// DefaultAuthBaseURL is the root of Facebook Login's dialog; the
	// authorize endpoint is DefaultAuthBaseURL + "/v24.0/dialog/oauth".
	DefaultAuthBaseURL = meta.DefaultAuthBaseURL
	// GraphVersion is the pinned Graph API version.
	GraphVersion = meta.Version
	// DefaultMaxPostPages is the number of pages of posts (25 each) read
	// per fetch when platforms.Config.MaxPostPages is zero.
	DefaultMaxPostPages = meta.DefaultMaxPostPages
	// DefaultHTTPTimeout is the timeout of the HTTP client used when
	// platforms.Config.HTTPClient is nil.
	DefaultHTTPTimeout = meta.DefaultHTTPTimeout

	// Scope is the comma-separated list of permissions Pulse asks for:
	// listing the user's Pages, reading their content and engagement, and
	// their insights.
	Scope = "pages_show_list,pages_read_engagement,read_insights"
	// PageFields are the Page fields a fetch reads.
	PageFields = "id,name,username,followers_count,fan_count"
	// PostFields are the post fields a fetch reads: reactions and comments
	// as totals only.
	PostFields = "id,message,created_time,permalink_url,shares," +
		"reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0)"
)

// Metrics are the Page insights read per day, by pinned Graph API
// version: page_follows is the Page's followers at each day's end (the
// history a new link backfills). page_impressions* and page_fans were
// retired in 2025; their successors are the media-view metrics.
var Metrics = map[string][]meta.Metric{
	"v24.0": {
		{Name: "page_follows", Role: meta.RoleFollowers},
		{Name: "page_total_media_view_unique", Role: meta.RoleReach},
		{Name: "page_media_view", Role: meta.RoleViews},
		{Name: "page_views_total", Role: meta.RoleProfileViews},
	},
}

// PostMetrics are the post insights read with each post (lifetime), by
// pinned Graph API version. Shares come from the shares field; Facebook
// reports no saves.
var PostMetrics = map[string][]meta.Metric{
	"v24.0": {
		{Name: "post_total_media_view_unique", Role: meta.RoleReach},
		{Name: "post_media_view", Role: meta.RoleViews},
	},
}

// Connector is the Facebook implementation of [platforms.Connector]. It is
// safe for concurrent use; its fields are set once by [New].
type Connector struct {
	g *meta.Client
}

var _ platforms.Connector = (*Connector)(nil)

// New returns a Facebook connector for cfg. Empty fields take the defaults
// documented on platforms.Config and the Default constants above: BaseURL
// DefaultBaseURL, AuthBaseURL DefaultAuthBaseURL, HTTPClient a client with
// a DefaultHTTPTimeout timeout, MaxPostPages DefaultMaxPostPages.
//
// ClientID and ClientSecret (the Meta app's id and secret) are needed by
// Exchange and Refresh only, so New accepts empty ones (a parse-only
// connector). With a secret, every API call carries appsecret_proof.
//
// New fails when a URL is not absolute http(s) or MaxPostPages is negative.
func New(cfg platforms.Config) (platforms.Connector, error) {
	g, err := meta.New(topics.Facebook, cfg, strings.Split(Scope, ","), DefaultBaseURL, DefaultAuthBaseURL)
	if err != nil {
		return nil, err
	}
	return &Connector{g: g}, nil
}

// Platform returns topics.Facebook.
func (c *Connector) Platform() topics.Platform { return topics.Facebook }

// UsesPKCE reports false: Facebook Login's server-side code flow relies on
// the state parameter and the app secret, not PKCE.
func (c *Connector) UsesPKCE() bool { return false }

// OAuth2 returns a new copy of the OAuth 2.0 configuration: Facebook
// Login's dialog and the Graph API's token endpoint (derived from
// AuthBaseURL and BaseURL), the app's credentials (sent in the request
// body), the redirect URL and the scopes. Callers may modify the copy.
func (c *Connector) OAuth2() *oauth2.Config { return c.g.OAuth2() }

// Exchange trades an authorization code for a long-lived user token (see
// the package documentation). verifier is ignored: the flow has no PKCE.
// Errors are *platforms.Error: a rejected code is Permanent.
func (c *Connector) Exchange(ctx context.Context, code, verifier string) (*oauth2.Token, error) {
	return c.g.Exchange(ctx, code)
}

// Refresh renews a long-lived user token by exchanging it again while it
// is still valid. An expired, revoked or rejected token is Reauth. tok is
// not modified; the old token stays valid until its own expiry.
func (c *Connector) Refresh(ctx context.Context, tok *oauth2.Token) (*oauth2.Token, error) {
	return c.g.Refresh(ctx, tok)
}
