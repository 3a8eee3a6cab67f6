package sim

import (
	"html"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pulsehq/pulse/topics"
)

// The Facebook Pages simulation (Graph API): Facebook Login (meta.go), the
// user's Pages with their Page access tokens (GET /{version}/me/accounts),
// a Page (GET /{version}/{page-id}) and its posts
// (GET /{version}/{page-id}/posts). Each synthetic account is a Page,
// managed by one synthetic user: a user token (from the dialog or
// IssueToken) lists exactly that Page.

// FacebookConfig configures the Facebook simulation. The zero value is
// valid.
type FacebookConfig struct {
	// Clients are the registered Meta apps: app id (client_id) to app
	// secret. Meta apps are confidential clients: token requests must
	// carry the secret, and calls carrying an appsecret_proof are checked
	// against it. Nil accepts any app id with any non-empty secret.
	Clients map[string]string
	// App is the app-level rate limit, per app over all its tokens,
	// reported in X-App-Usage; a call over it gets error code 4. Default
	// DefaultMetaAppCallsPerAccount × Config.Accounts calls per
	// MetaUsageWindow.
	App Limit
	// Page is the Pages business-use-case limit, per (app, Page), reported
	// in X-Business-Use-Case-Usage (type "pages") and counted by every call
	// but /me/accounts; a call over it gets error code 80001. Default
	// DefaultFacebookPageLimit calls per FacebookPageWindow.
	Page Limit
	// RetiredMetrics are insights metrics this simulated API version no
	// longer serves, on top of MetaRetired: asking for one fails the
	// request with Meta's error code 100.
	RetiredMetrics []string
	// Faults is the initial fault injection; see Server.SetFaults.
	Faults Faults
}

// Facebook defaults and identifiers.
const (
	DefaultFacebookPageLimit = 4800
	FacebookPageWindow       = 24 * time.Hour

	// FacebookFirstPageID is the id of the first synthetic Page; the others
	// follow it.
	FacebookFirstPageID = 110000000000001

	// Endpoint names, as used in Stats (with MetaEndpointDialog,
	// MetaEndpointToken and MetaEndpointAccounts).
	FacebookEndpointPage     = "page"
	FacebookEndpointPosts    = "page/posts"
	FacebookEndpointInsights = "page/insights"
	// FacebookMaxInsightDays bounds since..until of a Page insights call.
	FacebookMaxInsightDays = 93

	// facebookScope is the scope of IssueToken's tokens: what Pulse asks
	// for.
	facebookScope = "pages_show_list pages_read_engagement read_insights"
)

// Fields each node type has, as far as the simulator knows them.
var (
	fbAccountFields = fieldNames("id", "name", "access_token", "category", "tasks", "username")
	fbPageFields    = fieldNames("id", "name", "username", "followers_count", "fan_count", "link", "category")
	fbPostFields    = fieldNames("id", "message", "created_time", "permalink_url", "shares", "reactions", "comments", "status_type", "insights")
)

func fieldNames(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// facebookSim implements platformSim for Facebook.
type facebookSim struct {
	*metaSim
}

func newFacebookSim(s *Server, cfg FacebookConfig, accounts int) (*facebookSim, error) {
	m, err := newMetaSim(s, topics.Facebook, cfg.App, cfg.Page, accounts, DefaultFacebookPageLimit, FacebookPageWindow)
	if err != nil {
		return nil, err
	}
	m.scope = facebookScope
	m.bucType = "pages"
	m.bucCode = 80001
	m.bucMsg = "(#80001) There have been too many calls to this Page account. Wait a bit and try again. " +
		"For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting."
	m.noun = "Page"
	m.retired = cfg.RetiredMetrics
	return &facebookSim{m}, nil
}

func (f *facebookSim) accountID(i int) string { return strconv.Itoa(FacebookFirstPageID + i) }

// postID returns a Page post id: "{page-id}_{post number}".
func (f *facebookSim) postID(a *account, k int64, _ time.Time) string {
	return a.ID + "_" + metaID("122", 18, hash(a.key, tagPostID, uint64(k)))
}

// present unescapes the model's text (Meta returns plain text) and drops
// it from one post in eight (a photo without a caption).
func (f *facebookSim) present(a *account, p *Post) {
	p.Text = html.UnescapeString(p.Text)
	if hash(strHash(p.ID), tagText)%8 == 0 {
		p.Text = ""
	}
	p.Permalink = "https://www.facebook.com/" + a.Handle + "/posts/" + p.ID[len(a.ID)+1:]
}

// fanCount is the Page's likes: a little fewer than its followers.
func fanCount(followers int64) int64 { return followers - followers/12 }

func (f *facebookSim) routes(mux *http.ServeMux, prefix string) {
	ps := f.state()
	f.oauthRoutes(mux, prefix)
	mux.Handle("GET "+prefix+"/{version}/me/accounts", f.s.api(ps, MetaEndpointAccounts, f.graph(f.meAccounts)))
	mux.Handle("GET "+prefix+"/{version}/{id}", f.s.api(ps, FacebookEndpointPage, f.graph(f.page)))
	mux.Handle("GET "+prefix+"/{version}/{id}/posts", f.s.api(ps, FacebookEndpointPosts, f.graph(f.posts)))
	mux.Handle("GET "+prefix+"/{version}/{id}/insights", f.s.api(ps, FacebookEndpointInsights, f.graph(f.pageInsights)))
}

type fbAccount struct {
	ID          string   `json:"id"`
	Name        string   `json:"name,omitempty"`
	Username    string   `json:"username,omitempty"`
	AccessToken string   `json:"access_token,omitempty"`
	Category    string   `json:"category,omitempty"`
	Tasks       []string `json:"tasks,omitempty"`
}

// meAccounts serves GET /{version}/me/accounts for a user token: every
// Page the user shared, in consent order, each with its own Page access
// token. Without pages_show_list the list is empty, as on Meta.
func (f *facebookSim) meAccounts(c *apiCall) (int, any) {
	if c.grant.page {
		return f.unknownField("accounts", "Page")
	}
	fields, bad := parseFields(c.r.URL.Query().Get("fields"), fbAccountFields, "access_token", "category", "name", "id", "tasks")
	if bad != "" {
		return f.unknownField(bad, "Page")
	}
	if !c.grant.hasScope("pages_show_list") {
		return http.StatusOK, metaList{Data: []any{}}
	}
	ps := f.state()
	data := []any{}
	for _, id := range c.grant.accounts() {
		a := ps.byID[id]
		out := fbAccount{ID: a.ID}
		if fields["name"].name != "" {
			out.Name = a.Name
		}
		if fields["username"].name != "" {
			out.Username = a.Handle
		}
		if fields["category"].name != "" {
			out.Category = "Software Company"
		}
		if fields["tasks"].name != "" {
			out.Tasks = []string{"ANALYZE", "ADVERTISE", "MESSAGING", "MODERATE", "CREATE_CONTENT", "MANAGE"}
		}
		if fields["access_token"].name != "" {
			tok, ok := f.s.pageToken(f.p, f.accessToken(c.r), a.ID)
			if !ok { // revoked meanwhile
				return f.errorBody(http.StatusUnauthorized, quota{})
			}
			out.AccessToken = tok
		}
		data = append(data, out)
	}
	cur := encodeCursor(c.acct, 0)
	return http.StatusOK, metaList{Data: data, Paging: &metaPaging{Cursors: &metaCursors{Before: cur, After: cur}}}
}

// pageOf checks that the token may read Page id ("me" is a Page token's
// Page) with pages_read_engagement, and makes it the call's account.
func (f *facebookSim) pageOf(c *apiCall) (st int, body any, ok bool) {
	id := c.r.PathValue("id")
	if id == "me" && c.grant.page {
		id = c.grant.accountID
	}
	if !c.grant.covers(id) {
		st, body = f.noSuchObject(id)
		return st, body, false
	}
	c.acct = f.state().byID[id]
	if !c.grant.hasScope("pages_read_engagement") {
		st, body = f.missingPermission("This endpoint requires the 'pages_read_engagement' permission or the 'Page Public Content Access' feature. " +
			"Refer to https://developers.facebook.com/docs/apps/review/login-permissions#manage-pages and " +
			"https://developers.facebook.com/docs/apps/review/feature#reference-PAGES_ACCESS_FEATURE for details.")
		return st, body, false
	}
	return 0, nil, true
}

type fbPage struct {
	ID             string `json:"id"`
	Name           string `json:"name,omitempty"`
	Username       string `json:"username,omitempty"`
	FollowersCount *int64 `json:"followers_count,omitempty"`
	FanCount       *int64 `json:"fan_count,omitempty"`
	Link           string `json:"link,omitempty"`
	Category       string `json:"category,omitempty"`
}

// page serves GET /{version}/{page-id}: the Page's fields (default name
// and id).
func (f *facebookSim) page(c *apiCall) (int, any) {
	if st, body, ok := f.pageOf(c); !ok {
		return st, body
	}
	fields, bad := parseFields(c.r.URL.Query().Get("fields"), fbPageFields, "name", "id")
	if bad != "" {
		return f.unknownField(bad, "Page")
	}
	a := c.acct
	p := fbPage{ID: a.ID}
	has := func(n string) bool { return fields[n].name != "" }
	if has("name") {
		p.Name = a.Name
	}
	if has("username") {
		p.Username = a.Handle
	}
	if has("followers_count") || has("fan_count") {
		followers := a.followers(c.now)
		fans := fanCount(followers)
		if has("followers_count") {
			p.FollowersCount = &followers
		}
		if has("fan_count") {
			p.FanCount = &fans
		}
	}
	if has("link") {
		p.Link = "https://www.facebook.com/" + a.Handle
	}
	if has("category") {
		p.Category = "Software Company"
	}
	return http.StatusOK, p
}

type fbPost struct {
	ID           string         `json:"id"`
	CreatedTime  string         `json:"created_time,omitempty"`
	Message      string         `json:"message,omitempty"`
	PermalinkURL string         `json:"permalink_url,omitempty"`
	StatusType   string         `json:"status_type,omitempty"`
	Shares       *fbShares      `json:"shares,omitempty"`
	Reactions    *fbEdgeSummary `json:"reactions,omitempty"`
	Comments     *fbEdgeSummary `json:"comments,omitempty"`
	Insights     any            `json:"insights,omitempty"`
}

// pageInsights serves GET /{version}/{page-id}/insights (see insights.go).
func (f *facebookSim) pageInsights(c *apiCall) (int, any) {
	if st, body, ok := f.pageOf(c); !ok {
		return st, body
	}
	if !c.grant.hasScope("read_insights") {
		return f.missingPermission("The read_insights permission is required")
	}
	return f.insights(c, fbPageMetrics, FacebookMaxInsightDays)
}

// fbPostMetrics are the lifetime post metrics of v24.0.
func fbPostMetrics() map[string]func(*Post) int64 {
	return map[string]func(*Post) int64{
		"post_total_media_view_unique": func(p *Post) int64 { return p.Reach },
		"post_media_view":              func(p *Post) int64 { return p.Impressions },
	}
}

type fbShares struct {
	Count int64 `json:"count"`
}

// fbEdgeSummary is an edge fetched as a field: its (here always empty)
// data and, when asked for with .summary(...), the total count.
type fbEdgeSummary struct {
	Data    []struct{} `json:"data"`
	Summary *fbSummary `json:"summary,omitempty"`
}

type fbSummary struct {
	TotalCount int64 `json:"total_count"`
}

// posts serves GET /{version}/{page-id}/posts: the Page's posts, newest
// first, with the fields asked for (default created_time, message and id);
// see metaSim.timeline for paging. shares is omitted when zero, as on
// Meta.
func (f *facebookSim) posts(c *apiCall) (int, any) {
	if st, body, ok := f.pageOf(c); !ok {
		return st, body
	}
	fields, bad := parseFields(c.r.URL.Query().Get("fields"), fbPostFields, "created_time", "message", "id")
	if bad != "" {
		return f.unknownField(bad, "Post")
	}
	has := func(n string) bool { return fields[n].name != "" }
	summary := func(n string) *fbEdgeSummary {
		if !has(n) {
			return nil
		}
		return &fbEdgeSummary{Data: []struct{}{}}
	}
	ps, a := f.state(), c.acct
	if has("insights") {
		if _, st, b, ok := f.postInsights(fields["insights"].spec, fbPostMetrics(), &Post{}); !ok {
			return st, b
		}
	}
	return f.timeline(c, func(k int64, created time.Time) any {
		p := ps.post(a, k, c.now)
		out := fbPost{ID: p.ID, Reactions: summary("reactions"), Comments: summary("comments")}
		if has("insights") {
			out.Insights, _, _, _ = f.postInsights(fields["insights"].spec, fbPostMetrics(), &p)
		}
		if has("created_time") {
			out.CreatedTime = metaTime(created)
		}
		if has("message") {
			out.Message = p.Text
		}
		if has("permalink_url") {
			out.PermalinkURL = p.Permalink
		}
		if has("status_type") {
			out.StatusType = "mobile_status_update"
			if p.Text == "" {
				out.StatusType = "added_photos"
			}
		}
		if has("shares") && p.Reposts > 0 {
			out.Shares = &fbShares{Count: p.Reposts}
		}
		if out.Reactions != nil && wantsSummary(fields["reactions"].spec) {
			out.Reactions.Summary = &fbSummary{TotalCount: p.Likes}
		}
		if out.Comments != nil && wantsSummary(fields["comments"].spec) {
			out.Comments.Summary = &fbSummary{TotalCount: p.Replies}
		}
		return out
	})
}

// wantsSummary reports whether an edge field asks for its summary:
// ".summary(true)" or ".summary(total_count)".
func wantsSummary(spec string) bool {
	spec = strings.ToLower(strings.ReplaceAll(spec, " ", ""))
	for _, s := range []string{".summary(true)", ".summary(total_count)", ".summary(1)"} {
		if strings.Contains(spec, s) {
			return true
		}
	}
	return false
}
