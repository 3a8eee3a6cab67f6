package sim

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pulsehq/pulse/topics"
)

// The Meta Graph API simulation shared by Facebook (facebook.go) and
// Instagram (instagram.go): Facebook Login's OAuth dialog and token
// endpoint (code exchange and the fb_exchange_token long-lived upgrade),
// Graph API error bodies ({"error":{"message","type","code",
// "error_subcode","fbtrace_id"}}), rate-limit headers (X-App-Usage and
// X-Business-Use-Case-Usage), access tokens in an Authorization header or
// an access_token parameter, appsecret_proof, field lists and cursor paging.
//
// Meta answers most Graph API errors with HTTP 400 and tells them apart by
// error code: 190 an invalid token, 10 and 200-299 a missing permission, 4
// the app's rate limit, 80001 (Pages) and 80002 (Instagram) a
// business-use-case rate limit, 613 a per-endpoint one, 100 an invalid
// request, 2 a temporary failure (HTTP 503 here).

// Meta defaults and identifiers.
const (
	// MetaGraphVersion is the Graph API version Pulse's Meta connectors
	// pin. The simulator serves any version of the form "vN.M".
	MetaGraphVersion = "v24.0"
	// MetaUsageWindow is the default window of the Meta rate limits. Meta's
	// windows are rolling; the simulator's are fixed, opened by their
	// first call.
	MetaUsageWindow = time.Hour
	// DefaultMetaAppCallsPerAccount sizes the default app-level limit:
	// Meta allows an app 200 calls per hour per user, so the simulator
	// allows 200 × Config.Accounts calls per hour.
	DefaultMetaAppCallsPerAccount = 200

	// Endpoint names shared by Facebook and Instagram, as used in Stats.
	MetaEndpointDialog   = "dialog/oauth"
	MetaEndpointToken    = "oauth/access_token"
	MetaEndpointAccounts = "me/accounts"

	// metaMeterApp names the app-level limit.
	metaMeterApp = "app"
	// metaTimeFormat is the Graph API's time format, e.g.
	// "2026-11-25T10:00:00+0000".
	metaTimeFormat = "2006-01-02T15:04:05-0700"
	// metaDefaultLimit and metaMaxLimit bound a list's page size.
	metaDefaultLimit = 25
	metaMaxLimit     = 100
)

// metaKnownScope reports whether Meta knows permission s (the ones a
// Pulse-like app may ask for).
func metaKnownScope(s string) bool {
	switch s {
	case "public_profile", "email", "pages_show_list", "pages_read_engagement", "pages_read_user_content",
		"pages_manage_posts", "pages_manage_metadata", "read_insights", "business_management",
		"instagram_basic", "instagram_manage_insights", "instagram_manage_comments", "instagram_content_publish":
		return true
	}
	return false
}

// metaSim is the part of the Facebook and Instagram simulations that Meta
// platforms share. The platform files embed it and add their accounts,
// posts and routes.
type metaSim struct {
	s        *Server
	p        topics.Platform
	scope    string        // IssueToken's scope, space-separated
	app      Limit         // resolved app-level limit
	buc      Limit         // resolved business-use-case limit
	bucType  string        // the X-Business-Use-Case-Usage type: "pages" or "instagram"
	bucCode  int           // the error code of an exhausted BUC window
	bucMsg   string        // and its message
	bucAll   bool          // /me/accounts counts against the BUC limit too
	noun     string        // what the consent page lists: "Page", "Instagram account"
	retired  []string      // insights metrics retired on top of MetaRetired
	traceSeq atomic.Uint64 // makes fbtrace_id values
}

// newMetaSim validates a Meta platform's limits and resolves their
// defaults: the app limit to DefaultMetaAppCallsPerAccount × accounts per
// MetaUsageWindow, the BUC limit to bucDefault per bucWindow.
func newMetaSim(s *Server, p topics.Platform, app, buc Limit, accounts, bucDefault int, bucWindow time.Duration) (*metaSim, error) {
	for name, l := range map[string]Limit{"App": app, "business use case": buc} {
		if l.Window < 0 {
			return nil, fmt.Errorf("%s limit: negative window %v", name, l.Window)
		}
	}
	return &metaSim{
		s:   s,
		p:   p,
		app: app.resolveWindow(DefaultMetaAppCallsPerAccount*accounts, MetaUsageWindow),
		buc: buc.resolveWindow(bucDefault, bucWindow),
	}, nil
}

func (m *metaSim) platform() topics.Platform { return m.p }

func (m *metaSim) fullScope() string { return m.scope }

// tokenTTL: IssueToken makes long-lived user tokens.
func (m *metaSim) tokenTTL() time.Duration { return MetaLongLivedTTL }

// state returns the platform's state; valid once New has added it.
func (m *metaSim) state() *platformState { return m.s.platforms[m.p] }

// accessToken returns the token of an "Authorization: Bearer" (or "OAuth")
// header, else of the access_token query parameter, as the Graph API
// accepts both.
func (m *metaSim) accessToken(r *http.Request) string {
	if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok &&
		(strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "OAuth")) {
		return strings.TrimSpace(tok)
	}
	return r.URL.Query().Get("access_token")
}

// meters puts every call under the app's limit and, except /me/accounts
// on Facebook (a user call), under the business object's.
func (m *metaSim) meters(endpoint string, g *grant) []meter {
	ms := []meter{{name: metaMeterApp, key: windowKey{m.p, metaMeterApp, g.clientID, ""}, limit: m.app}}
	if endpoint != MetaEndpointAccounts || m.bucAll {
		ms = append(ms, meter{name: m.bucType, key: windowKey{m.p, m.bucType, g.clientID, g.accountID}, limit: m.buc})
	}
	return ms
}

// metaErrorBody is the Graph API's error body.
type metaErrorBody struct {
	Error metaError `json:"error"`
}

type metaError struct {
	Message     string `json:"message"`
	Type        string `json:"type"`
	Code        int    `json:"code"`
	Subcode     int    `json:"error_subcode,omitempty"`
	IsTransient bool   `json:"is_transient,omitempty"`
	FBTraceID   string `json:"fbtrace_id"`
}

// fail returns a Graph API error: HTTP status and body.
func (m *metaSim) fail(status, code, subcode int, typ, msg string) (int, any) {
	return status, metaErrorBody{metaError{Message: msg, Type: typ, Code: code, Subcode: subcode, FBTraceID: m.traceID()}}
}

// failTransient is fail with is_transient set.
func (m *metaSim) failTransient(status, code int, msg string) (int, any) {
	st, body := m.fail(status, code, 0, "OAuthException", msg)
	b := body.(metaErrorBody)
	b.Error.IsTransient = true
	return st, b
}

// traceID returns an fbtrace_id: an opaque id Meta support uses to find a
// request.
func (m *metaSim) traceID() string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], hash(strHash(string(m.p)), m.traceSeq.Add(1)))
	return "A" + base64.RawURLEncoding.EncodeToString(b[:])
}

func (m *metaSim) errorBody(status int, q quota) (int, any) {
	switch status {
	case http.StatusUnauthorized:
		return m.fail(http.StatusBadRequest, 190, 0, "OAuthException", "Invalid OAuth access token - Cannot parse access token")
	case http.StatusTooManyRequests:
		switch q.name {
		case metaMeterApp:
			return m.failTransient(http.StatusBadRequest, 4, "(#4) Application request limit reached")
		case m.bucType:
			return m.fail(http.StatusBadRequest, m.bucCode, 0, "OAuthException", m.bucMsg)
		default:
			return m.failTransient(http.StatusBadRequest, 613, "(#613) Calls to this api have exceeded the rate limit.")
		}
	case http.StatusServiceUnavailable:
		return m.failTransient(http.StatusServiceUnavailable, 2, "An unexpected error has occurred. Please retry your request later.")
	case http.StatusBadRequest:
		return m.fail(http.StatusBadRequest, 100, 0, "OAuthException", "(#100) Invalid parameter")
	}
	return m.fail(status, 1, 0, "OAuthException", "An unknown error has occurred.")
}

// metaUsage is the usage object of Meta's rate-limit headers: percentages
// of the window's allowance.
type metaUsage struct {
	Type               string `json:"type,omitempty"`
	CallCount          int    `json:"call_count"`
	TotalCPUTime       int    `json:"total_cputime"`
	TotalTime          int    `json:"total_time"`
	EstimatedTimeToReg *int   `json:"estimated_time_to_regain_access,omitempty"`
}

// setQuotaHeaders reports the app's window in X-App-Usage and the business
// object's in X-Business-Use-Case-Usage, keyed by the object's id, with
// estimated_time_to_regain_access in minutes once it is exhausted. CPU and
// time usage are synthetic fractions of the call count.
func (m *metaSim) setQuotaHeaders(h http.Header, now time.Time, qs []quota) {
	buc := map[string][]metaUsage{}
	for _, q := range qs {
		pct := q.usedPct()
		u := metaUsage{CallCount: pct, TotalCPUTime: pct / 4, TotalTime: pct / 2}
		if q.owner == "" {
			b, _ := json.Marshal(u)
			h.Set("X-App-Usage", string(b))
			continue
		}
		u.Type = q.name
		wait := 0
		if q.remaining <= 0 {
			wait = max(1, int((q.reset.Sub(now)+time.Minute-1)/time.Minute))
		}
		u.EstimatedTimeToReg = &wait
		buc[q.owner] = append(buc[q.owner], u)
	}
	if len(buc) > 0 {
		b, _ := json.Marshal(buc)
		h.Set("X-Business-Use-Case-Usage", string(b))
	}
}

// graph wraps a Graph API handler with the checks every call gets: a
// well-formed version in the path and, when the call carries one, a valid
// appsecret_proof (the HMAC-SHA256 of the token keyed by the app secret,
// checked when the token's app is registered with a secret).
func (m *metaSim) graph(h apiHandler) apiHandler {
	return func(c *apiCall) (int, any) {
		if v := c.r.PathValue("version"); !validGraphVersion(v) {
			return m.fail(http.StatusBadRequest, 2500, 0, "OAuthException", "Unknown path components: /"+v)
		}
		if proof := c.r.URL.Query().Get("appsecret_proof"); proof != "" {
			if secret := m.state().clients[c.grant.clientID]; secret != "" {
				mac := hmac.New(sha256.New, []byte(secret))
				mac.Write([]byte(m.accessToken(c.r)))
				want := hex.EncodeToString(mac.Sum(nil))
				if subtle.ConstantTimeCompare([]byte(strings.ToLower(proof)), []byte(want)) != 1 {
					return m.fail(http.StatusBadRequest, 100, 0, "GraphMethodException", "Invalid appsecret_proof provided in the API argument")
				}
			}
		}
		return h(c)
	}
}

// validGraphVersion reports whether v looks like "v24.0".
func validGraphVersion(v string) bool {
	major, minor, ok := strings.Cut(strings.TrimPrefix(v, "v"), ".")
	return ok && strings.HasPrefix(v, "v") && numeric(major) && len(major) <= 3 && numeric(minor) && len(minor) <= 2
}

// noSuchObject is the Graph API's answer for an id the token cannot read.
func (m *metaSim) noSuchObject(id string) (int, any) {
	return m.fail(http.StatusBadRequest, 100, 33, "GraphMethodException", "Unsupported get request. Object with ID '"+id+
		"' does not exist, cannot be loaded due to missing permissions, or does not support this operation. "+
		"Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api")
}

// missingPermission is the Graph API's answer for a token without perm.
func (m *metaSim) missingPermission(msg string) (int, any) {
	return m.fail(http.StatusBadRequest, 10, 0, "OAuthException", "(#10) "+msg)
}

// graphField is one entry of a fields parameter: its name and the whole
// spec, modifiers included ("reactions.summary(total_count).limit(0)").
type graphField struct {
	name string
	spec string
}

// parseFields splits a fields parameter at its top-level commas and checks
// every name against known; def is used when the parameter is empty. It
// returns the requested names and the first unknown one, if any.
func parseFields(s string, known map[string]bool, def ...string) (map[string]graphField, string) {
	out := map[string]graphField{}
	if strings.TrimSpace(s) == "" {
		for _, f := range def {
			out[f] = graphField{name: f, spec: f}
		}
		return out, ""
	}
	depth, start := 0, 0
	var specs []string
	for i, r := range s {
		switch r {
		case '(', '{':
			depth++
		case ')', '}':
			depth--
		case ',':
			if depth == 0 {
				specs = append(specs, s[start:i])
				start = i + 1
			}
		}
	}
	specs = append(specs, s[start:])
	for _, spec := range specs {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			continue
		}
		name := spec
		if i := strings.IndexAny(spec, ".{("); i >= 0 {
			name = spec[:i]
		}
		if !known[name] {
			return nil, name
		}
		out[name] = graphField{name: name, spec: spec}
	}
	return out, ""
}

// unknownField is the Graph API's answer for a field the node lacks.
func (m *metaSim) unknownField(field, node string) (int, any) {
	return m.fail(http.StatusBadRequest, 100, 0, "OAuthException", "(#100) Tried accessing nonexisting field ("+field+") on node type ("+node+")")
}

// metaList is a Graph API list: a page of data and its paging.
type metaList struct {
	Data   any         `json:"data"`
	Paging *metaPaging `json:"paging,omitempty"`
}

type metaPaging struct {
	Cursors *metaCursors `json:"cursors,omitempty"`
	Next    string       `json:"next,omitempty"`
}

type metaCursors struct {
	Before string `json:"before"`
	After  string `json:"after"`
}

// timeline serves a list edge of a's posts (Page posts, Instagram media),
// newest first: limit per page (default 25, at most 100), resumed after an
// "after" cursor, restricted to since <= created time <= until (Unix
// seconds, both optional). render makes post k's JSON. paging.cursors is
// set when the page has data, paging.next when more follows: the request's
// URL with the new cursor (on the simulator's host).
func (m *metaSim) timeline(c *apiCall, render func(k int64, created time.Time) any) (int, any) {
	q := c.r.URL.Query()
	n := metaDefaultLimit
	if v := q.Get("limit"); v != "" {
		l, err := strconv.Atoi(v)
		if err != nil || l < 1 {
			return m.fail(http.StatusBadRequest, 100, 0, "OAuthException", "(#100) The parameter limit must be a positive integer")
		}
		n = min(l, metaMaxLimit)
	}
	var since, until int64
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"since", &since}, {"until", &until}} {
		if v := q.Get(p.name); v != "" {
			t, err := strconv.ParseInt(v, 10, 64)
			if err != nil || t < 0 {
				return m.fail(http.StatusBadRequest, 100, 0, "OAuthException", "(#100) The parameter "+p.name+" must be a Unix timestamp")
			}
			*p.dst = t
		}
	}
	a := c.acct
	last, first := a.lastSlot(c.now), a.firstServed(c.now)
	k := last
	if v := q.Get("after"); v != "" {
		after, ok := decodeCursor(a, v, first, last)
		if !ok {
			return m.fail(http.StatusBadRequest, 100, 0, "OAuthException", "(#100) The after cursor is invalid")
		}
		k = after - 1
	}
	data := []any{}
	var newest, oldest int64
	for ; k >= first && len(data) < n; k-- {
		created := a.postTime(k)
		if until != 0 && created.Unix() > until {
			continue
		}
		if since != 0 && created.Unix() < since {
			k = first - 1
			break
		}
		if len(data) == 0 {
			newest = k
		}
		oldest = k
		data = append(data, render(k, created))
	}
	body := metaList{Data: data}
	if len(data) == 0 {
		return http.StatusOK, body
	}
	body.Paging = &metaPaging{Cursors: &metaCursors{Before: encodeCursor(a, newest), After: encodeCursor(a, oldest)}}
	if k >= first && (since == 0 || a.postTime(k).Unix() >= since) {
		next := *c.r.URL
		nq := next.Query()
		nq.Del("before")
		nq.Set("after", body.Paging.Cursors.After)
		next.RawQuery = nq.Encode()
		next.Scheme, next.Host = "http", c.r.Host
		if c.r.TLS != nil {
			next.Scheme = "https"
		}
		body.Paging.Next = next.String()
	}
	return http.StatusOK, body
}

// encodeCursor makes the opaque cursor of a's post k; decodeCursor
// reverses it, accepting only posts in [first, last].
func encodeCursor(a *account, k int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatUint(uint64(k)^hash(a.key, tagPage), 36)))
}

func decodeCursor(a *account, cur string, first, last int64) (int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(cur)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b), 36, 64)
	if err != nil {
		return 0, false
	}
	k := int64(v ^ hash(a.key, tagPage))
	return k, k >= first && k <= last
}

// metaTime formats t as the Graph API does.
func metaTime(t time.Time) string { return t.UTC().Format(metaTimeFormat) }

// The OAuth side: Facebook Login's dialog and token endpoint.

// oauthRoutes registers the dialog (GET shows it, POST is the user's
// decision) and the token endpoint (GET or POST, as on Meta).
func (m *metaSim) oauthRoutes(mux *http.ServeMux, prefix string) {
	mux.HandleFunc("GET "+prefix+"/{version}/dialog/oauth", m.dialogPage)
	mux.HandleFunc("POST "+prefix+"/{version}/dialog/oauth", m.dialogDecision)
	mux.HandleFunc(prefix+"/{version}/oauth/access_token", m.token)
}

// metaAuthRequest is a validated dialog request.
type metaAuthRequest struct {
	clientID    string
	redirectURI string
	state       string
	scope       string // space-separated
}

func (ar metaAuthRequest) params() url.Values {
	return url.Values{
		"client_id":     {ar.clientID},
		"redirect_uri":  {ar.redirectURI},
		"state":         {ar.state},
		"scope":         {strings.ReplaceAll(ar.scope, " ", ",")},
		"response_type": {"code"},
	}
}

// parseAuthRequest validates a dialog request. Meta separates scopes with
// commas or spaces; state is optional (but Pulse always sends one).
func (m *metaSim) parseAuthRequest(form url.Values) (metaAuthRequest, error) {
	ar := metaAuthRequest{
		clientID:    form.Get("client_id"),
		redirectURI: form.Get("redirect_uri"),
		state:       form.Get("state"),
		scope:       strings.Join(strings.FieldsFunc(form.Get("scope"), func(r rune) bool { return r == ',' || r == ' ' }), " "),
	}
	if rt := form.Get("response_type"); rt != "" && rt != "code" {
		return ar, errors.New("response_type must be code")
	}
	if ar.clientID == "" {
		return ar, errors.New("the parameter app_id is required")
	}
	if clients := m.state().clients; clients != nil {
		if _, ok := clients[ar.clientID]; !ok {
			return ar, errors.New("invalid app ID")
		}
	}
	u, err := url.Parse(ar.redirectURI)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		return ar, errors.New("URL blocked: redirect_uri must be an absolute http(s) URL")
	}
	if len(ar.state) > 500 {
		return ar, errors.New("state is too long")
	}
	for s := range strings.FieldsSeq(ar.scope) {
		if !metaKnownScope(s) {
			return ar, errors.New("Invalid Scopes: " + s + ". This message is only shown to developers.")
		}
	}
	return ar, nil
}

var metaConsentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Log in with Facebook (Pulse simulator)</title></head>
<body>
<h1>{{.ClientID}} is requesting access to your {{.Noun}}</h1>
<p>Permissions: {{.Scope}}</p>
<form method="post" action="{{.Action}}">
{{range $k, $v := .Params}}<input type="hidden" name="{{$k}}" value="{{index $v 0}}">
{{end}}<fieldset><legend>Choose the {{.Noun}} to share</legend>
{{range $i, $a := .Accounts}}<label><input type="checkbox" name="account" value="{{$a.ID}}"{{if eq $i 0}} checked{{end}}> {{$a.Name}} (@{{$a.Handle}}, {{$a.Followers}} followers)</label><br>
{{end}}</fieldset>
<button type="submit" name="decision" value="allow">Continue</button>
<button type="submit" name="decision" value="deny">Cancel</button>
</form>
</body></html>
`))

type metaConsentAccount struct {
	ID, Name, Handle string
	Followers        int64
}

// dialogPage serves GET /{version}/dialog/oauth: Facebook Login's consent
// page, listing the synthetic accounts (Pages, or Instagram accounts with
// their Page), the first one selected.
func (m *metaSim) dialogPage(w http.ResponseWriter, r *http.Request) {
	ar, err := m.parseAuthRequest(r.URL.Query())
	m.recordOAuth(MetaEndpointDialog, ar.clientID, "", err != nil)
	if err != nil {
		authorizeError(w, err)
		return
	}
	now := m.s.now()
	ps := m.state()
	accounts := make([]metaConsentAccount, len(ps.accounts))
	for i, a := range ps.accounts {
		accounts[i] = metaConsentAccount{ID: a.ID, Name: a.Name, Handle: a.Handle, Followers: a.followers(now)}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	metaConsentPage.Execute(w, map[string]any{
		"ClientID": ar.clientID,
		"Noun":     m.noun,
		"Scope":    strings.ReplaceAll(ar.scope, " ", ", "),
		"Action":   "oauth", // relative: works wherever the Server is mounted
		"Params":   ar.params(),
		"Accounts": accounts,
	})
}

// dialogDecision serves POST /{version}/dialog/oauth, the consent form:
// decision=deny redirects with Meta's error parameters; otherwise the user
// grants the requested permissions for every ticked account (default: the
// first; a login managing several Pages shares each one ticked) and is
// redirected with a code. Like Meta, the redirect carries the "#_=_"
// fragment.
func (m *metaSim) dialogDecision(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		m.recordOAuth(MetaEndpointDialog, "", "", true)
		authorizeError(w, errors.New("unreadable form"))
		return
	}
	ar, err := m.parseAuthRequest(r.Form)
	ps := m.state()
	ids := slices.Compact(slices.Clone(r.Form["account"]))
	if len(ids) == 0 {
		ids = []string{ps.accounts[0].ID}
	}
	for _, id := range ids {
		if _, ok := ps.byID[id]; err == nil && !ok {
			err = errors.New("account " + id + " does not exist")
		}
	}
	id := ids[0]
	m.recordOAuth(MetaEndpointDialog, ar.clientID, id, err != nil)
	if err != nil {
		authorizeError(w, err)
		return
	}
	u, _ := url.Parse(ar.redirectURI) // validated by parseAuthRequest
	q := u.Query()
	if ar.state != "" {
		q.Set("state", ar.state)
	}
	if r.Form.Get("decision") == "deny" {
		q.Set("error", "access_denied")
		q.Set("error_code", "200")
		q.Set("error_description", "Permissions error")
		q.Set("error_reason", "user_denied")
	} else {
		q.Set("code", m.s.newCode(authCode{
			platform:    m.p,
			clientID:    ar.clientID,
			redirectURI: ar.redirectURI,
			accountID:   id,
			others:      ids[1:],
			scope:       ar.scope,
		}))
	}
	u.RawQuery = q.Encode()
	u.Fragment = "_=_"
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// metaTokenResponse is the token endpoint's success body.
type metaTokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// token serves /{version}/oauth/access_token (GET or POST; parameters in
// the query or the form): with a code, the code exchange, answering a
// short-lived user token (MetaShortLivedTTL); with
// grant_type=fb_exchange_token, a long-lived token (MetaLongLivedTTL) for
// the valid user token fb_exchange_token. Both need the app's client_id and
// client_secret. Errors are Graph API error bodies.
func (m *metaSim) token(w http.ResponseWriter, r *http.Request) {
	var clientID string
	tp, status, body := func() (tokenPair, int, any) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			st, b := m.fail(http.StatusMethodNotAllowed, 100, 0, "OAuthException", "Unsupported method")
			return tokenPair{}, st, b
		}
		if v := r.PathValue("version"); !validGraphVersion(v) {
			st, b := m.fail(http.StatusBadRequest, 2500, 0, "OAuthException", "Unknown path components: /"+v)
			return tokenPair{}, st, b
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			st, b := m.fail(http.StatusBadRequest, 100, 0, "OAuthException", "Unreadable request body.")
			return tokenPair{}, st, b
		}
		f := r.Form
		clientID = f.Get("client_id")
		if st, b := m.clientAuth(clientID, f.Get("client_secret")); b != nil {
			return tokenPair{}, st, b
		}
		switch gt := f.Get("grant_type"); gt {
		case "fb_exchange_token":
			t := f.Get("fb_exchange_token")
			if t == "" {
				st, b := m.fail(http.StatusBadRequest, 100, 0, "OAuthException", "Missing fb_exchange_token parameter.")
				return tokenPair{}, st, b
			}
			tp, err := m.s.extend(m.p, t, clientID, MetaLongLivedTTL)
			if err != nil {
				st, b := m.tokenFailure(err)
				return tokenPair{}, st, b
			}
			return tp, http.StatusOK, nil
		case "", "authorization_code":
			code, redirect := f.Get("code"), f.Get("redirect_uri")
			if code == "" || redirect == "" {
				st, b := m.fail(http.StatusBadRequest, 100, 0, "OAuthException", "Missing code or redirect_uri parameter.")
				return tokenPair{}, st, b
			}
			tp, err := m.s.redeem(m.p, code, clientID, redirect, "", MetaShortLivedTTL)
			if err != nil {
				st, b := m.codeFailure(err)
				return tokenPair{}, st, b
			}
			return tp, http.StatusOK, nil
		default:
			st, b := m.fail(http.StatusBadRequest, 100, 0, "OAuthException", "Unsupported grant_type: "+gt)
			return tokenPair{}, st, b
		}
	}()
	m.recordOAuth(MetaEndpointToken, clientID, tp.accountID, body != nil)
	w.Header().Set("Pragma", "no-cache")
	if body != nil {
		writeJSON(w, status, body)
		return
	}
	writeJSON(w, http.StatusOK, metaTokenResponse{
		AccessToken: tp.access,
		TokenType:   "bearer",
		ExpiresIn:   int64(tp.expires.Sub(m.s.now()) / time.Second),
	})
}

// clientAuth checks the app's credentials; it returns a nil body when they
// are valid. Meta apps are confidential: the secret is always required.
// With no registered clients, any app id is accepted.
func (m *metaSim) clientAuth(id, secret string) (int, any) {
	switch {
	case id == "":
		return m.fail(http.StatusBadRequest, 101, 0, "OAuthException", "Missing client_id parameter.")
	case secret == "":
		return m.fail(http.StatusBadRequest, 101, 0, "OAuthException", "Missing client_secret parameter.")
	}
	clients := m.state().clients
	if clients == nil {
		return 0, nil
	}
	want, ok := clients[id]
	switch {
	case !ok:
		return m.fail(http.StatusBadRequest, 101, 0, "OAuthException", "Error validating application. Invalid application ID.")
	case subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1:
		return m.fail(http.StatusBadRequest, 101, 0, "OAuthException", "Error validating client secret.")
	}
	return 0, nil
}

// codeFailure maps a refused code exchange to Meta's error.
func (m *metaSim) codeFailure(err error) (int, any) {
	var oe *oauthError
	errors.As(err, &oe)
	reason := reasonInvalid
	if oe != nil {
		reason = oe.reason
	}
	switch reason {
	case reasonUsed:
		return m.fail(http.StatusBadRequest, 100, 36009, "OAuthException", "This authorization code has been used.")
	case reasonExpired:
		return m.fail(http.StatusBadRequest, 100, 36007, "OAuthException", "This authorization code has expired.")
	case reasonRedirect:
		return m.fail(http.StatusBadRequest, 100, 36008, "OAuthException",
			"Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request")
	case reasonOtherClient:
		return m.fail(http.StatusBadRequest, 100, 36008, "OAuthException", "Error validating verification code.")
	}
	return m.fail(http.StatusBadRequest, 100, 36007, "OAuthException", "Invalid verification code format.")
}

// tokenFailure maps a refused fb_exchange_token to Meta's error: code 190
// (463 when the token has expired).
func (m *metaSim) tokenFailure(err error) (int, any) {
	var oe *oauthError
	if errors.As(err, &oe) {
		switch oe.reason {
		case reasonExpired:
			return m.fail(http.StatusBadRequest, 190, 463, "OAuthException", "Error validating access token: Session has expired.")
		case reasonOtherClient:
			return m.fail(http.StatusBadRequest, 190, 0, "OAuthException", "Error validating access token: The token was issued to another app.")
		}
	}
	return m.fail(http.StatusBadRequest, 190, 0, "OAuthException", "Invalid OAuth access token - Cannot parse access token")
}

func (m *metaSim) recordOAuth(endpoint, clientID, accountID string, failed bool) {
	d := Counts{Requests: 1}
	if failed {
		d.Errors = 1
	}
	m.s.record(m.p, endpoint, clientID, accountID, d)
}

// metaID makes a numeric id of the given number of digits from h, with
// prefix as its leading digits.
func metaID(prefix string, digits int, h uint64) string {
	n := digits - len(prefix)
	mod := uint64(1)
	for range n {
		mod *= 10
	}
	return prefix + fmt.Sprintf("%0*d", n, h%mod)
}
