package sim

import (
	"encoding/base64"
	"encoding/binary"
	"html"
	"net/http"
	"strconv"
	"time"

	"github.com/pulsehq/pulse/topics"
)

// The Instagram simulation: the Instagram Graph API for professional
// (business and creator) accounts, reached through Facebook Login
// (meta.go): the user's Pages with their connected Instagram account
// (GET /{version}/me/accounts?fields=instagram_business_account), the
// account (GET /{version}/{ig-user-id}) and its media
// (GET /{version}/{ig-user-id}/media). Each synthetic account is an
// Instagram account connected to one Page, managed by one user.

// InstagramConfig configures the Instagram simulation. The zero value is
// valid.
type InstagramConfig struct {
	// Clients are the registered Meta apps: app id to app secret, as in
	// FacebookConfig. Nil accepts any app id with any non-empty secret.
	Clients map[string]string
	// App is the app-level rate limit, per app over all its tokens,
	// reported in X-App-Usage; a call over it gets error code 4. Default
	// DefaultMetaAppCallsPerAccount × Config.Accounts calls per
	// MetaUsageWindow.
	App Limit
	// User is Instagram's per-account limit, per (app, Instagram account),
	// reported in X-Business-Use-Case-Usage (type "instagram") and counted
	// by every call; a call over it gets error code 80002. Default
	// DefaultInstagramUserLimit calls per MetaUsageWindow.
	User Limit
	// RetiredMetrics are insights metrics this simulated API version no
	// longer serves, on top of MetaRetired: asking for one fails the
	// request with Meta's error code 100.
	RetiredMetrics []string
	// Faults is the initial fault injection; see Server.SetFaults.
	Faults Faults
}

// Instagram defaults and identifiers.
const (
	// DefaultInstagramUserLimit is Instagram's 200 calls per account per
	// hour.
	DefaultInstagramUserLimit = 200

	// InstagramFirstAccountID is the id of the first synthetic Instagram
	// account; the others follow it.
	InstagramFirstAccountID = 17841400000000001
	// InstagramFirstPageID is the id of the Page the first Instagram
	// account is connected to; the others follow it.
	InstagramFirstPageID = 120000000000001

	// Endpoint names, as used in Stats (with MetaEndpointDialog,
	// MetaEndpointToken and MetaEndpointAccounts).
	InstagramEndpointUser     = "ig_user"
	InstagramEndpointMedia    = "ig_user/media"
	InstagramEndpointInsights = "ig_user/insights"
	// InstagramMaxInsightDays bounds since..until of an account insights
	// call.
	InstagramMaxInsightDays = 30

	// instagramScope is the scope of IssueToken's tokens: what Pulse asks
	// for.
	instagramScope = "instagram_basic instagram_manage_insights pages_show_list"
)

var (
	igAccountFields = fieldNames("id", "name", "instagram_business_account")
	igUserFields    = fieldNames("id", "ig_id", "username", "name", "biography", "followers_count", "follows_count", "media_count")
	igMediaFields   = fieldNames("id", "caption", "like_count", "comments_count", "timestamp", "permalink", "media_type",
		"media_product_type", "shortcode", "username", "insights")
)

// instagramSim implements platformSim for Instagram.
type instagramSim struct {
	*metaSim
}

func newInstagramSim(s *Server, cfg InstagramConfig, accounts int) (*instagramSim, error) {
	m, err := newMetaSim(s, topics.Instagram, cfg.App, cfg.User, accounts, DefaultInstagramUserLimit, MetaUsageWindow)
	if err != nil {
		return nil, err
	}
	m.scope = instagramScope
	m.bucType = "instagram"
	m.bucCode = 80002
	m.bucMsg = "(#80002) There have been too many calls to this Instagram account. Wait a bit and try again. " +
		"For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting."
	m.bucAll = true
	m.noun = "Instagram account"
	m.retired = cfg.RetiredMetrics
	return &instagramSim{m}, nil
}

func (g *instagramSim) accountID(i int) string { return strconv.Itoa(InstagramFirstAccountID + i) }

// pageID returns the id of the Page a is connected to.
func (g *instagramSim) pageID(a *account) string {
	n, _ := strconv.ParseInt(a.ID, 10, 64)
	return strconv.FormatInt(InstagramFirstPageID+n-InstagramFirstAccountID, 10)
}

// postID returns an Instagram media id: 17 digits.
func (g *instagramSim) postID(a *account, k int64, _ time.Time) string {
	return metaID("179", 17, hash(a.key, tagPostID, uint64(k)))
}

// present unescapes the model's text (Meta returns plain text) and sets the
// permalink, https://www.instagram.com/p/{shortcode}/.
func (g *instagramSim) present(_ *account, p *Post) {
	p.Text = html.UnescapeString(p.Text)
	p.Permalink = "https://www.instagram.com/p/" + shortcode(p.ID) + "/"
}

// shortcode is a media's code in its URL: 11 URL-safe characters.
func shortcode(id string) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], hash(strHash(id), tagPostID))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// mediaType is a media's type: mostly images, some carousels and videos.
func mediaType(id string) string {
	switch h := hash(strHash(id), tagEngagement) % 20; {
	case h < 12:
		return "IMAGE"
	case h < 17:
		return "CAROUSEL_ALBUM"
	default:
		return "VIDEO"
	}
}

func (g *instagramSim) routes(mux *http.ServeMux, prefix string) {
	ps := g.state()
	g.oauthRoutes(mux, prefix)
	mux.Handle("GET "+prefix+"/{version}/me/accounts", g.s.api(ps, MetaEndpointAccounts, g.graph(g.meAccounts)))
	mux.Handle("GET "+prefix+"/{version}/{id}", g.s.api(ps, InstagramEndpointUser, g.graph(g.user)))
	mux.Handle("GET "+prefix+"/{version}/{id}/media", g.s.api(ps, InstagramEndpointMedia, g.graph(g.media)))
	mux.Handle("GET "+prefix+"/{version}/{id}/insights", g.s.api(ps, InstagramEndpointInsights, g.graph(g.userInsights)))
}

type igPageEntry struct {
	InstagramBusinessAccount *igRef `json:"instagram_business_account,omitempty"`
	ID                       string `json:"id"`
	Name                     string `json:"name,omitempty"`
}

type igRef struct {
	ID string `json:"id"`
}

// meAccounts serves GET /{version}/me/accounts: the user's Pages, one per
// Instagram account the grant covers, and, when asked for, their connected
// Instagram accounts. Without pages_show_list the
// list is empty, as on Meta.
func (g *instagramSim) meAccounts(c *apiCall) (int, any) {
	fields, bad := parseFields(c.r.URL.Query().Get("fields"), igAccountFields, "name", "id")
	if bad != "" {
		return g.unknownField(bad, "Page")
	}
	if !c.grant.hasScope("pages_show_list") {
		return http.StatusOK, metaList{Data: []any{}}
	}
	ps := g.state()
	data := []any{}
	for _, id := range c.grant.accounts() {
		a := ps.byID[id]
		e := igPageEntry{ID: g.pageID(a)}
		if fields["name"].name != "" {
			e.Name = a.Name
		}
		if fields["instagram_business_account"].name != "" {
			e.InstagramBusinessAccount = &igRef{ID: a.ID}
		}
		data = append(data, e)
	}
	cur := encodeCursor(c.acct, 0)
	return http.StatusOK, metaList{Data: data, Paging: &metaPaging{Cursors: &metaCursors{Before: cur, After: cur}}}
}

// userOf checks that the token may read Instagram account id with
// instagram_basic, and makes it the call's account.
func (g *instagramSim) userOf(c *apiCall) (st int, body any, ok bool) {
	id := c.r.PathValue("id")
	if !c.grant.covers(id) {
		st, body = g.noSuchObject(id)
		return st, body, false
	}
	c.acct = g.state().byID[id]
	if !c.grant.hasScope("instagram_basic") {
		st, body = g.missingPermission("Application does not have permission for this action")
		return st, body, false
	}
	return 0, nil, true
}

type igUser struct {
	ID             string `json:"id"`
	IGID           int64  `json:"ig_id,omitempty"`
	Username       string `json:"username,omitempty"`
	Name           string `json:"name,omitempty"`
	Biography      string `json:"biography,omitempty"`
	FollowersCount *int64 `json:"followers_count,omitempty"`
	FollowsCount   *int64 `json:"follows_count,omitempty"`
	MediaCount     *int64 `json:"media_count,omitempty"`
}

// user serves GET /{version}/{ig-user-id}: the account's fields (default
// id).
func (g *instagramSim) user(c *apiCall) (int, any) {
	if st, body, ok := g.userOf(c); !ok {
		return st, body
	}
	fields, bad := parseFields(c.r.URL.Query().Get("fields"), igUserFields, "id")
	if bad != "" {
		return g.unknownField(bad, "User")
	}
	has := func(n string) bool { return fields[n].name != "" }
	a := c.acct
	u := igUser{ID: a.ID}
	if has("ig_id") {
		u.IGID = int64(hash(a.key, tagAccount) % 1e10)
	}
	if has("username") {
		u.Username = a.Handle
	}
	if has("name") {
		u.Name = a.Name
	}
	if has("biography") {
		u.Biography = "Synthetic account for the Pulse simulator."
	}
	m := a.metrics(c.now)
	if has("followers_count") {
		u.FollowersCount = &m.Followers
	}
	if has("follows_count") {
		u.FollowsCount = &m.Following
	}
	if has("media_count") {
		u.MediaCount = &m.Posts
	}
	return http.StatusOK, u
}

type igMedia struct {
	ID               string `json:"id"`
	Caption          string `json:"caption,omitempty"`
	LikeCount        *int64 `json:"like_count,omitempty"`
	CommentsCount    *int64 `json:"comments_count,omitempty"`
	Timestamp        string `json:"timestamp,omitempty"`
	Permalink        string `json:"permalink,omitempty"`
	MediaType        string `json:"media_type,omitempty"`
	MediaProductType string `json:"media_product_type,omitempty"`
	Shortcode        string `json:"shortcode,omitempty"`
	Username         string `json:"username,omitempty"`
	Insights         any    `json:"insights,omitempty"`
}

// userInsights serves GET /{version}/{ig-user-id}/insights (see
// insights.go).
func (g *instagramSim) userInsights(c *apiCall) (int, any) {
	if st, body, ok := g.userOf(c); !ok {
		return st, body
	}
	if !c.grant.hasScope("instagram_manage_insights") {
		return g.missingPermission("Application does not have permission for this action")
	}
	return g.insights(c, igUserMetrics, InstagramMaxInsightDays)
}

// igMediaMetrics are the lifetime media metrics of v24.0.
func igMediaMetrics() map[string]func(*Post) int64 {
	return map[string]func(*Post) int64{
		"reach":  func(p *Post) int64 { return p.Reach },
		"views":  func(p *Post) int64 { return p.Impressions },
		"saved":  func(p *Post) int64 { return p.Bookmarks },
		"shares": func(p *Post) int64 { return p.Reposts },
	}
}

// media serves GET /{version}/{ig-user-id}/media: the account's media,
// newest first, with the fields asked for (default id); see
// metaSim.timeline for paging.
func (g *instagramSim) media(c *apiCall) (int, any) {
	if st, body, ok := g.userOf(c); !ok {
		return st, body
	}
	fields, bad := parseFields(c.r.URL.Query().Get("fields"), igMediaFields, "id")
	if bad != "" {
		return g.unknownField(bad, "IGMedia")
	}
	has := func(n string) bool { return fields[n].name != "" }
	ps, a := g.state(), c.acct
	if has("insights") {
		if _, st, b, ok := g.postInsights(fields["insights"].spec, igMediaMetrics(), &Post{}); !ok {
			return st, b
		}
	}
	return g.timeline(c, func(k int64, created time.Time) any {
		p := ps.post(a, k, c.now)
		out := igMedia{ID: p.ID}
		if has("insights") {
			out.Insights, _, _, _ = g.postInsights(fields["insights"].spec, igMediaMetrics(), &p)
		}
		if has("caption") {
			out.Caption = p.Text
		}
		if has("like_count") {
			out.LikeCount = &p.Likes
		}
		if has("comments_count") {
			out.CommentsCount = &p.Replies
		}
		if has("timestamp") {
			out.Timestamp = metaTime(created)
		}
		if has("permalink") {
			out.Permalink = p.Permalink
		}
		if has("media_type") || has("media_product_type") {
			mt := mediaType(p.ID)
			if has("media_type") {
				out.MediaType = mt
			}
			if has("media_product_type") {
				out.MediaProductType = "FEED"
				if mt == "VIDEO" {
					out.MediaProductType = "REELS"
				}
			}
		}
		if has("shortcode") {
			out.Shortcode = shortcode(p.ID)
		}
		if has("username") {
			out.Username = a.Handle
		}
		return out
	})
}
