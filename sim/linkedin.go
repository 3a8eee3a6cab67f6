package sim

import (
	"fmt"
	"html"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pulsehq/pulse/topics"
)

// The LinkedIn simulation: the versioned REST API (Community Management) for
// organization pages, as an app reading the analytics of the pages its
// members administer sees it. OAuth 2.0 (linkedin_oauth.go): the
// authorization page, the accessToken endpoint with 60-day access tokens
// and 365-day programmatic refresh tokens, and revoke. The API
// (linkedin_api.go): organizationAcls, organizations, networkSizes, posts
// and organizationalEntityShareStatistics, with LinkedIn's JSON shapes,
// Rest.li 2.0 list syntax, error bodies ({"status","serviceErrorCode",
// "code","message"}) and the LinkedIn-Version header.
//
// Each synthetic account is an organization (company page) administered by
// one synthetic member: a token (from the authorization page or
// IssueToken) is that member's, and organizationAcls lists exactly that
// page. Posts are shares (urn:li:share:…) and, one in four, ugcPosts
// (urn:li:ugcPost:…), whose ids carry their creation time in milliseconds
// in their high bits, as LinkedIn's do. A post's text (Post.Text) is what
// a reader sees; the API's commentary is that text in LinkedIn's "little
// text" format (reserved characters backslash-escaped, hashtags as
// {hashtag|\#|tag} templates). The counters are reported as likeCount
// (Likes), commentCount (Replies), shareCount (Reposts) and impressionCount
// (Impressions).
//
// LinkedIn meters every API call per endpoint against a daily limit per
// app and a daily limit per member (per app); both reset at midnight UTC.
// It sends no rate-limit headers: a call over a limit gets HTTP 429 and
// "Resource level throttle APPLICATION DAY limit for calls to this
// resource is reached." (MEMBER for the member's).

// LinkedInConfig configures the LinkedIn simulation. The zero value is
// valid.
type LinkedInConfig struct {
	// Clients are the registered apps: client id to client secret.
	// LinkedIn web apps are confidential clients: token requests carry the
	// secret in the form. Nil accepts any client id with a non-empty
	// secret.
	Clients map[string]string
	// App is the daily limit of each endpoint per app, over all its
	// members. Default DefaultLinkedInAppDailyLimit calls per
	// LinkedInWindow.
	App Limit
	// Member is the daily limit of each endpoint per member of an app.
	// Default DefaultLinkedInMemberDailyLimit calls per LinkedInWindow.
	//
	// Unlike the other platforms' windows, LinkedIn's are aligned: a
	// window of length W starts at a multiple of W since 0001-01-01 UTC,
	// so a day's window runs from midnight to midnight UTC.
	Member Limit
	// NoRefreshTokens makes the apps ones LinkedIn has not approved for
	// programmatic refresh tokens: the token endpoint and IssueToken then
	// issue access tokens only. Default: refresh tokens are issued, as to
	// an approved Marketing Developer Platform (Community Management)
	// partner.
	NoRefreshTokens bool
	// DenyError is the error parameter of the redirect when the member
	// cancels the authorization. Default LinkedInDenyError
	// ("user_cancelled_authorize"), as on LinkedIn.
	DenyError string
	// Faults is the initial fault injection; see Server.SetFaults.
	Faults Faults
}

// LinkedIn defaults and identifiers.
const (
	// DefaultLinkedInAppDailyLimit and DefaultLinkedInMemberDailyLimit are
	// the default daily calls per endpoint. LinkedIn shows each app its
	// own limits in the Developer Portal only; these are of the order of
	// a Community Management Standard tier app's.
	DefaultLinkedInAppDailyLimit    = 100000
	DefaultLinkedInMemberDailyLimit = 2000
	// LinkedInWindow is the default rate-limit window: a UTC day.
	LinkedInWindow = 24 * time.Hour

	// LinkedInAccessTTL is the lifetime of an access token: 60 days.
	LinkedInAccessTTL = 60 * 24 * time.Hour
	// LinkedInRefreshTTL is the lifetime of a programmatic refresh token,
	// from the authorization: 365 days. Refreshing does not extend it; an
	// access token never outlives its refresh token.
	LinkedInRefreshTTL = 365 * 24 * time.Hour
	// LinkedInDenyError is the error of a cancelled authorization.
	LinkedInDenyError = "user_cancelled_authorize"

	// LinkedInFirstOrganizationID is the id of the first synthetic
	// organization; the others follow it.
	LinkedInFirstOrganizationID = 90000001

	// Endpoint names, as used in Stats.
	LinkedInEndpointAuthorize       = "oauth/v2/authorization"
	LinkedInEndpointToken           = "oauth/v2/accessToken"
	LinkedInEndpointRevoke          = "oauth/v2/revoke"
	LinkedInEndpointACLs            = "organizationAcls"
	LinkedInEndpointOrganization    = "organizations"
	LinkedInEndpointNetworkSizes    = "networkSizes"
	LinkedInEndpointPosts           = "posts"
	LinkedInEndpointShareStatistics = "organizationalEntityShareStatistics"
	// LinkedInEndpointFollowerStatistics serves time-bound follower gains.
	LinkedInEndpointFollowerStatistics = "organizationalEntityFollowerStatistics"

	// linkedinScope is the scope of IssueToken's tokens: what Pulse asks
	// for.
	linkedinScope = "r_organization_social rw_organization_admin r_organization_followers"
	// linkedinRefreshMarker marks, in a grant's scope, that a refresh
	// token goes with it: the shared token store pairs a refresh token
	// with the grants whose scope has it (offline.access). LinkedIn has no
	// such scope; the simulator never shows it.
	linkedinRefreshMarker = "offline.access"

	// Meter names, as LinkedIn's throttling messages name the limits.
	linkedinMeterApp    = "APPLICATION"
	linkedinMeterMember = "MEMBER"

	linkedinOrgURNPrefix = "urn:li:organization:"
)

// linkedinKnownScope reports whether LinkedIn knows scope s (the ones a
// Pulse-like app may ask for).
func linkedinKnownScope(s string) bool {
	switch s {
	case "r_organization_social", "w_organization_social", "rw_organization_admin", "r_organization_admin",
		"r_organization_followers", "r_organization_social_feed", "w_organization_social_feed",
		"openid", "profile", "email", "w_member_social", "r_member_social", "r_basicprofile",
		"r_1st_connections_size", "r_ads", "rw_ads", "r_ads_reporting":
		return true
	}
	return false
}

// linkedinSim implements platformSim for LinkedIn.
type linkedinSim struct {
	s         *Server
	cfg       LinkedInConfig
	app       Limit // resolved
	member    Limit // resolved
	denyError string
}

func newLinkedInSim(s *Server, cfg LinkedInConfig) (*linkedinSim, error) {
	for name, l := range map[string]Limit{"App": cfg.App, "Member": cfg.Member} {
		if l.Window < 0 {
			return nil, fmt.Errorf("%s: negative window %v", name, l.Window)
		}
	}
	l := &linkedinSim{
		s:         s,
		cfg:       cfg,
		app:       cfg.App.resolveWindow(DefaultLinkedInAppDailyLimit, LinkedInWindow),
		member:    cfg.Member.resolveWindow(DefaultLinkedInMemberDailyLimit, LinkedInWindow),
		denyError: cfg.DenyError,
	}
	if l.denyError == "" {
		l.denyError = LinkedInDenyError
	}
	return l, nil
}

func (l *linkedinSim) platform() topics.Platform { return topics.LinkedIn }

// state returns LinkedIn's state; valid once New has added it.
func (l *linkedinSim) state() *platformState { return l.s.platforms[topics.LinkedIn] }

func (l *linkedinSim) accountID(i int) string { return strconv.Itoa(LinkedInFirstOrganizationID + i) }

// fullScope is Pulse's scope, with the refresh marker unless the app is
// not approved for refresh tokens.
func (l *linkedinSim) fullScope() string { return l.grantScope(linkedinScope) }

// grantScope is the scope stored for a grant of the requested scope.
func (l *linkedinSim) grantScope(scope string) string {
	if l.cfg.NoRefreshTokens {
		return scope
	}
	return scope + " " + linkedinRefreshMarker
}

// publicScope is a grant's scope as LinkedIn reports it: comma-separated,
// without the refresh marker.
func publicScope(scope string) string {
	var out []string
	for s := range strings.FieldsSeq(scope) {
		if s != linkedinRefreshMarker {
			out = append(out, s)
		}
	}
	return strings.Join(out, ",")
}

func (l *linkedinSim) tokenTTL() time.Duration { return LinkedInAccessTTL }

// accessToken returns the bearer token of r. The REST API takes the token
// in the Authorization header only.
func (l *linkedinSim) accessToken(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// meters puts each call under its endpoint's daily limits: the app's, and
// the member's (per app). LinkedIn's windows are aligned (see
// LinkedInConfig.Member).
func (l *linkedinSim) meters(endpoint string, g *grant) []meter {
	return []meter{
		{name: linkedinMeterApp, key: windowKey{topics.LinkedIn, endpoint, g.clientID, ""}, limit: l.app, aligned: true},
		{name: linkedinMeterMember, key: windowKey{topics.LinkedIn, endpoint, g.clientID, g.accountID}, limit: l.member, aligned: true},
	}
}

// setQuotaHeaders sets nothing: LinkedIn reports no rate-limit state in its
// responses (the Developer Portal shows an app's usage).
func (l *linkedinSim) setQuotaHeaders(http.Header, time.Time, []quota) {}

// linkedinError is the REST API's error body.
type linkedinError struct {
	Status           int    `json:"status"`
	ServiceErrorCode int    `json:"serviceErrorCode,omitempty"`
	Code             string `json:"code,omitempty"`
	Message          string `json:"message"`
}

// fail returns a REST API error.
func linkedinFail(status, serviceCode int, code, msg string) (int, any) {
	return status, linkedinError{Status: status, ServiceErrorCode: serviceCode, Code: code, Message: msg}
}

func (l *linkedinSim) errorBody(status int, q quota) (int, any) {
	switch status {
	case http.StatusUnauthorized:
		return linkedinFail(status, 65600, "INVALID_ACCESS_TOKEN", "Invalid access token")
	case http.StatusTooManyRequests:
		name, window := linkedinMeterApp, l.app.Window
		if q.name == linkedinMeterMember {
			name, window = linkedinMeterMember, l.member.Window
		}
		return linkedinFail(status, 0, "TOO_MANY_REQUESTS",
			"Resource level throttle "+name+" "+periodName(window)+" limit for calls to this resource is reached.")
	case http.StatusServiceUnavailable:
		return linkedinFail(status, 0, "SERVICE_UNAVAILABLE", "Service Unavailable")
	case http.StatusBadRequest:
		return linkedinFail(status, 100, "ILLEGAL_ARGUMENT", "Syntax exception in path variables")
	}
	return linkedinFail(status, 0, "", http.StatusText(status))
}

// periodName names a window as LinkedIn's throttling messages do.
func periodName(w time.Duration) string {
	switch w {
	case time.Hour:
		return "HOUR"
	case time.Minute:
		return "MINUTE"
	}
	return "DAY"
}

// forbidden is LinkedIn's 403 for a call the token may not make.
func linkedinForbidden(resource string) (int, any) {
	return linkedinFail(http.StatusForbidden, 100, "ACCESS_DENIED", "Not enough permissions to access: "+resource)
}

// linkedinInvalid is LinkedIn's 400 for an invalid parameter.
func linkedinInvalid(msg string) (int, any) {
	return linkedinFail(http.StatusBadRequest, 100, "ILLEGAL_ARGUMENT", msg)
}

// orgURN is the URN of organization a.
func orgURN(a *account) string { return linkedinOrgURNPrefix + a.ID }

// memberURN is the URN of the member who administers organization a: a
// person id is ten opaque letters and digits.
func memberURN(a *account) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	h := hash(a.key, strHash("linkedin member"))
	var b [10]byte
	for i := range b {
		b[i] = alphabet[h&63]
		h >>= 6
	}
	return "urn:li:person:" + string(b[:])
}

// postID returns a post URN: urn:li:share:<id>, or urn:li:ugcPost:<id> for
// one post in four, where id is the creation time in Unix milliseconds
// shifted left by 22 bits, plus 22 random bits.
func (l *linkedinSim) postID(a *account, k int64, created time.Time) string {
	kind := "share"
	if hash(a.key, tagPostID, uint64(k), 2)%4 == 0 {
		kind = "ugcPost"
	}
	id := uint64(created.UnixMilli())<<22 | hash(a.key, tagPostID, uint64(k))&(1<<22-1)
	return "urn:li:" + kind + ":" + strconv.FormatUint(id, 10)
}

// postNumber returns the number of a's post with URN urn, if a published it
// by now and the API still serves it.
func (l *linkedinSim) postNumber(a *account, urn string, now time.Time) (int64, bool) {
	_, digits, ok := splitPostURN(urn)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	created := time.UnixMilli(int64(id >> 22)).UTC()
	k := a.lastSlot(created)
	if k < a.firstServed(now) || k > a.lastSlot(now) || !a.postTime(k).Equal(created) {
		return 0, false
	}
	return k, l.postID(a, k, created) == urn
}

// splitPostURN splits "urn:li:share:123" or "urn:li:ugcPost:123" into its
// kind and id.
func splitPostURN(urn string) (kind, id string, ok bool) {
	rest, ok := strings.CutPrefix(urn, "urn:li:")
	if !ok {
		return "", "", false
	}
	kind, id, ok = strings.Cut(rest, ":")
	if !ok || (kind != "share" && kind != "ugcPost") || !numeric(id) {
		return "", "", false
	}
	return kind, id, true
}

// present makes the model's text what a reader sees (the model escapes it
// as X does) and drops it from one post in ten (an image without
// commentary); the permalink is the post's feed update.
func (l *linkedinSim) present(a *account, p *Post) {
	p.Text = html.UnescapeString(p.Text)
	if hash(strHash(p.ID), tagText)%10 == 0 {
		p.Text = ""
	}
	p.Permalink = "https://www.linkedin.com/feed/update/" + p.ID
}

// littleText encodes plain text in LinkedIn's "little text" format, as the
// Posts API returns commentary: a hashtag (# then letters or digits)
// becomes {hashtag|\#|tag}, and every other reserved character is escaped
// with a backslash.
func littleText(s string) string {
	const reserved = `\|{}@[]()<>#*_~`
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == '#' {
			j := i + n
			for j < len(s) {
				t, m := utf8.DecodeRuneInString(s[j:])
				if !unicode.IsLetter(t) && !unicode.IsDigit(t) {
					break
				}
				j += m
			}
			if j > i+n {
				b.WriteString(`{hashtag|\#|` + s[i+n:j] + `}`)
				i = j
				continue
			}
		}
		if r < utf8.RuneSelf && strings.IndexByte(reserved, byte(r)) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteString(s[i : i+n])
		i += n
	}
	return b.String()
}

func (l *linkedinSim) routes(mux *http.ServeMux, prefix string) {
	ps := l.state()
	mux.HandleFunc("GET "+prefix+"/oauth/v2/authorization", l.authorizePage)
	mux.HandleFunc("POST "+prefix+"/oauth/v2/authorization", l.authorizeDecision)
	mux.HandleFunc("POST "+prefix+"/oauth/v2/accessToken", l.token)
	mux.HandleFunc("POST "+prefix+"/oauth/v2/revoke", l.revoke)
	mux.Handle("GET "+prefix+"/rest/organizationAcls", l.s.api(ps, LinkedInEndpointACLs, l.rest(l.organizationAcls)))
	mux.Handle("GET "+prefix+"/rest/organizationalEntityFollowerStatistics",
		l.s.api(ps, LinkedInEndpointFollowerStatistics, l.rest(l.followerStatistics)))
	mux.Handle("GET "+prefix+"/rest/organizations/{id}", l.s.api(ps, LinkedInEndpointOrganization, l.rest(l.organization)))
	mux.Handle("GET "+prefix+"/rest/networkSizes/{urn}", l.s.api(ps, LinkedInEndpointNetworkSizes, l.rest(l.networkSizes)))
	mux.Handle("GET "+prefix+"/rest/posts", l.s.api(ps, LinkedInEndpointPosts, l.rest(l.posts)))
	mux.Handle("GET "+prefix+"/rest/organizationalEntityShareStatistics",
		l.s.api(ps, LinkedInEndpointShareStatistics, l.rest(l.shareStatistics)))
}
