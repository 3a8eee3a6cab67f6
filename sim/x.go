package sim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pulsehq/pulse/topics"
)

// The X (Twitter) API v2 simulation: OAuth 2.0 with PKCE (x_oauth.go) and
// the users/me and user timeline endpoints (x_api.go), with X's JSON shapes,
// error bodies and rate-limit headers.

// XConfig configures the X simulation. The zero value is valid.
type XConfig struct {
	// Clients are the registered OAuth apps: client id to client secret,
	// "" for a public client. A confidential client must authenticate to
	// the token endpoint with HTTP Basic, as on X. Nil accepts any client
	// id, with or without a secret.
	Clients map[string]string
	// UsersMe limits GET /2/users/me. Default 75 requests per 15 minutes.
	UsersMe Limit
	// UserTweets limits GET /2/users/:id/tweets. Default 900 requests per
	// 15 minutes.
	UserTweets Limit
	// Faults is the initial fault injection; see Server.SetFaults.
	Faults Faults
}

// X defaults and identifiers.
const (
	DefaultXUsersMeLimit    = 75
	DefaultXUserTweetsLimit = 900

	// XFirstAccountID is the id of the first synthetic X account; the
	// others follow it.
	XFirstAccountID = 1000001

	// Endpoint names, as used in Stats.
	XEndpointUsersMe    = "users/me"
	XEndpointUserTweets = "users/:id/tweets"
	XEndpointAuthorize  = "oauth2/authorize"
	XEndpointToken      = "oauth2/token"
	XEndpointRevoke     = "oauth2/revoke"

	// xScope is the scope of IssueToken's tokens: what Pulse asks for.
	xScope = "tweet.read users.read offline.access"
	// twitterEpoch is the epoch of X's snowflake ids, in Unix ms.
	twitterEpoch = 1288834974657
)

// xSim implements platformSim for X.
type xSim struct {
	s      *Server
	cfg    XConfig
	limits map[string]Limit // by endpoint name, resolved
}

func newXSim(s *Server, cfg XConfig) (*xSim, error) {
	for name, l := range map[string]Limit{"UsersMe": cfg.UsersMe, "UserTweets": cfg.UserTweets} {
		if l.Window < 0 {
			return nil, fmt.Errorf("%s: negative window %v", name, l.Window)
		}
	}
	return &xSim{s: s, cfg: cfg, limits: map[string]Limit{
		XEndpointUsersMe:    cfg.UsersMe.resolve(DefaultXUsersMeLimit),
		XEndpointUserTweets: cfg.UserTweets.resolve(DefaultXUserTweetsLimit),
	}}, nil
}

func (x *xSim) platform() topics.Platform { return topics.X }

func (x *xSim) accountID(i int) string { return strconv.Itoa(XFirstAccountID + i) }

func (x *xSim) fullScope() string { return xScope }

func (x *xSim) tokenTTL() time.Duration { return AccessTTL }

// meters puts each request under its endpoint's limit, per app and user.
func (x *xSim) meters(endpoint string, g *grant) []meter {
	return []meter{{name: endpoint, key: windowKey{topics.X, endpoint, g.clientID, g.accountID}, limit: x.limits[endpoint]}}
}

// present sets the post's permalink; X's text is the model's, HTML-escaped
// as the X API returns it.
func (x *xSim) present(a *account, p *Post) {
	p.Permalink = "https://x.com/" + a.Handle + "/status/" + p.ID
}

// postID returns a snowflake id as X makes them: milliseconds since X's
// epoch in the high bits, so ids sort by creation time.
func (x *xSim) postID(a *account, k int64, created time.Time) string {
	return strconv.FormatUint(xSnowflake(a, k, created), 10)
}

func xSnowflake(a *account, k int64, created time.Time) uint64 {
	ms := uint64(created.UnixMilli() - twitterEpoch)
	return ms<<22 | hash(a.key, tagPostID, uint64(k))&(1<<22-1)
}

func (x *xSim) routes(mux *http.ServeMux, prefix string) {
	ps := x.s.platforms[topics.X]
	mux.HandleFunc("GET "+prefix+"/i/oauth2/authorize", x.authorizePage)
	mux.HandleFunc("POST "+prefix+"/i/oauth2/authorize", x.authorizeDecision)
	mux.HandleFunc("POST "+prefix+"/2/oauth2/token", x.token)
	mux.HandleFunc("POST "+prefix+"/2/oauth2/revoke", x.revoke)
	mux.Handle("GET "+prefix+"/2/users/me", x.s.api(ps, XEndpointUsersMe, x.usersMe))
	mux.Handle("GET "+prefix+"/2/users/{id}/tweets", x.s.api(ps, XEndpointUserTweets, x.userTweets))
}

// accessToken returns the bearer token of r.
func (x *xSim) accessToken(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// xProblem is X's API v2 error body (RFC 7807 problem details), with the
// per-parameter errors of a 400.
type xProblem struct {
	Errors []xParamError `json:"errors,omitempty"`
	Title  string        `json:"title"`
	Detail string        `json:"detail"`
	Type   string        `json:"type"`
	Status int           `json:"status,omitempty"`
}

type xParamError struct {
	Parameters map[string][]string `json:"parameters"`
	Message    string              `json:"message"`
}

func (x *xSim) errorBody(status int, _ quota) (int, any) {
	if status == http.StatusBadRequest {
		return xInvalid("ids", "", "The `ids` query parameter value [] is not valid")
	}
	text := http.StatusText(status)
	return status, xProblem{Title: text, Detail: text, Type: "about:blank", Status: status}
}

func xForbidden(detail string) (int, any) {
	return http.StatusForbidden, xProblem{Title: "Forbidden", Detail: detail, Type: "about:blank", Status: http.StatusForbidden}
}

// xInvalid is X's 400 for an invalid query parameter.
func xInvalid(param, value, msg string) (int, any) {
	return http.StatusBadRequest, xProblem{
		Errors: []xParamError{{Parameters: map[string][]string{param: {value}}, Message: msg}},
		Title:  "Invalid Request",
		Detail: "One or more parameters to your request was invalid.",
		Type:   "https://api.twitter.com/2/problems/invalid-request",
	}
}

// setQuotaHeaders sets X's x-rate-limit-* headers from the request's one
// quota.
func (x *xSim) setQuotaHeaders(h http.Header, _ time.Time, qs []quota) {
	q := qs[0]
	if q.limit >= 0 {
		h.Set("X-Rate-Limit-Limit", strconv.Itoa(q.limit))
	}
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(q.remaining))
	h.Set("X-Rate-Limit-Reset", strconv.FormatInt(q.resetUnix(), 10))
}
