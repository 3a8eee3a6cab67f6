package sim

import (
	"crypto/subtle"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pulsehq/pulse/topics"
)

// LinkedIn's OAuth 2.0 authorization code flow (3-legged OAuth): the
// authorization page (GET/POST /oauth/v2/authorization), the token endpoint
// (POST /oauth/v2/accessToken: grant_type authorization_code or
// refresh_token) and POST /oauth/v2/revoke, all on www.linkedin.com. Web
// apps use the state parameter, not PKCE (LinkedIn offers PKCE to native
// apps only): a challenge sent anyway is ignored.

// linkedinAuthRequest is a validated authorization request.
type linkedinAuthRequest struct {
	clientID    string
	redirectURI string
	state       string
	scope       string // space-separated
}

func (ar linkedinAuthRequest) params() url.Values {
	return url.Values{
		"response_type": {"code"},
		"client_id":     {ar.clientID},
		"redirect_uri":  {ar.redirectURI},
		"state":         {ar.state},
		"scope":         {ar.scope},
	}
}

// errLinkedInScope marks an authorization request with a scope LinkedIn
// does not grant: LinkedIn redirects it with unauthorized_scope_error.
var errLinkedInScope = errors.New("unauthorized_scope_error")

// parseAuthRequest validates an authorization request. Scopes are
// space-separated (commas are tolerated); state is optional.
func (l *linkedinSim) parseAuthRequest(form url.Values) (linkedinAuthRequest, error) {
	ar := linkedinAuthRequest{
		clientID:    form.Get("client_id"),
		redirectURI: form.Get("redirect_uri"),
		state:       form.Get("state"),
		scope:       strings.Join(strings.FieldsFunc(form.Get("scope"), func(r rune) bool { return r == ',' || r == ' ' }), " "),
	}
	if ar.clientID == "" {
		return ar, errors.New(`a required parameter "client_id" is missing`)
	}
	if clients := l.state().clients; clients != nil {
		if _, ok := clients[ar.clientID]; !ok {
			return ar, errors.New("the client_id is not a registered application")
		}
	}
	u, err := url.Parse(ar.redirectURI)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		return ar, errors.New("the redirect_uri must be an absolute http(s) URL without a fragment")
	}
	if rt := form.Get("response_type"); rt != "code" {
		return ar, errors.New(`the parameter "response_type" must be code`)
	}
	if len(ar.state) > 500 {
		return ar, errors.New("state is too long")
	}
	if ar.scope == "" {
		return ar, errLinkedInScope
	}
	for s := range strings.FieldsSeq(ar.scope) {
		if !linkedinKnownScope(s) {
			return ar, errLinkedInScope
		}
	}
	return ar, nil
}

// redirect sends the browser to the request's redirect URI with q and the
// state.
func (ar linkedinAuthRequest) redirect(w http.ResponseWriter, r *http.Request, q url.Values) {
	u, _ := url.Parse(ar.redirectURI) // validated by parseAuthRequest
	v := u.Query()
	for k, vs := range q {
		v[k] = vs
	}
	if ar.state != "" {
		v.Set("state", ar.state)
	}
	u.RawQuery = v.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

var linkedinConsentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>LinkedIn – Authorize application (Pulse simulator)</title></head>
<body>
<h1>{{.ClientID}} would like to access your LinkedIn pages</h1>
<p>This will allow it to: {{.Scope}}</p>
<form method="post" action="{{.Action}}">
{{range $k, $v := .Params}}<input type="hidden" name="{{$k}}" value="{{index $v 0}}">
{{end}}<fieldset><legend>Sign in as the administrator of</legend>
{{range $i, $a := .Accounts}}<label><input type="radio" name="account" value="{{$a.ID}}"{{if eq $i 0}} checked{{end}}> {{$a.Name}} (linkedin.com/company/{{$a.Handle}}, {{$a.Followers}} followers)</label><br>
{{end}}</fieldset>
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Cancel</button>
</form>
</body></html>
`))

type linkedinConsentAccount struct {
	ID, Name, Handle string
	Followers        int64
}

// authorizePage serves GET /oauth/v2/authorization: the sign-in and
// consent page, listing the synthetic organizations (signing in as the
// member who administers one), the first one selected. A scope LinkedIn
// does not know is redirected with error=unauthorized_scope_error; any
// other invalid request gets an error page.
func (l *linkedinSim) authorizePage(w http.ResponseWriter, r *http.Request) {
	ar, err := l.parseAuthRequest(r.URL.Query())
	l.recordOAuth(LinkedInEndpointAuthorize, ar.clientID, "", err != nil)
	if errors.Is(err, errLinkedInScope) {
		ar.redirect(w, r, url.Values{"error": {"unauthorized_scope_error"},
			"error_description": {"Scope \"" + ar.scope + "\" is not authorized for your application"}})
		return
	}
	if err != nil {
		authorizeError(w, err)
		return
	}
	now := l.s.now()
	ps := l.state()
	accounts := make([]linkedinConsentAccount, len(ps.accounts))
	for i, a := range ps.accounts {
		accounts[i] = linkedinConsentAccount{ID: a.ID, Name: a.Name, Handle: a.Handle, Followers: a.followers(now)}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	linkedinConsentPage.Execute(w, map[string]any{
		"ClientID": ar.clientID,
		"Scope":    strings.ReplaceAll(ar.scope, " ", ", "),
		"Action":   "authorization", // relative: works wherever the Server is mounted
		"Params":   ar.params(),
		"Accounts": accounts,
	})
}

// authorizeDecision serves POST /oauth/v2/authorization, the consent form:
// decision=deny redirects with the configured error (LinkedIn's
// user_cancelled_authorize); otherwise the member who administers account
// (default: the first organization) authorizes the app and is redirected
// with a code.
func (l *linkedinSim) authorizeDecision(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		l.recordOAuth(LinkedInEndpointAuthorize, "", "", true)
		authorizeError(w, errors.New("unreadable form"))
		return
	}
	ar, err := l.parseAuthRequest(r.Form)
	ps := l.state()
	id := r.Form.Get("account")
	if id == "" {
		id = ps.accounts[0].ID
	}
	if _, ok := ps.byID[id]; err == nil && !ok {
		err = errors.New("account " + id + " does not exist")
	}
	l.recordOAuth(LinkedInEndpointAuthorize, ar.clientID, id, err != nil)
	if err != nil {
		authorizeError(w, err)
		return
	}
	if r.Form.Get("decision") == "deny" {
		ar.redirect(w, r, url.Values{"error": {l.denyError}, "error_description": {"The user cancelled the authorization"}})
		return
	}
	code := l.s.newCode(authCode{
		platform:    topics.LinkedIn,
		clientID:    ar.clientID,
		redirectURI: ar.redirectURI,
		accountID:   id,
		scope:       l.grantScope(ar.scope),
	})
	ar.redirect(w, r, url.Values{"code": {code}})
}

// linkedinTokenResponse is the token endpoint's success body. LinkedIn
// sends no token_type; the refresh fields only to apps approved for
// programmatic refresh tokens.
type linkedinTokenResponse struct {
	AccessToken           string `json:"access_token"`
	ExpiresIn             int64  `json:"expires_in"`
	RefreshToken          string `json:"refresh_token,omitempty"`
	RefreshTokenExpiresIn int64  `json:"refresh_token_expires_in,omitempty"`
	Scope                 string `json:"scope"`
}

// token serves POST /oauth/v2/accessToken (form-encoded, with client_id and
// client_secret in the form): grant_type=authorization_code redeems a code
// for an access token (LinkedInAccessTTL) and, for an approved app, a
// refresh token (LinkedInRefreshTTL); grant_type=refresh_token issues a new
// access token and returns the same refresh token with its remaining
// lifetime. Errors are RFC 6749 bodies: 400 invalid_request for a bad code
// or refresh token, 401 invalid_client for bad app credentials.
func (l *linkedinSim) token(w http.ResponseWriter, r *http.Request) {
	var clientID string
	resp, tp, err := func() (linkedinTokenResponse, tokenPair, error) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			return linkedinTokenResponse{}, tokenPair{}, invalidRequest("Unreadable request body.")
		}
		f := r.PostForm
		clientID = f.Get("client_id")
		if err := l.clientAuth(clientID, f.Get("client_secret")); err != nil {
			return linkedinTokenResponse{}, tokenPair{}, err
		}
		switch gt := f.Get("grant_type"); gt {
		case "authorization_code":
			for _, p := range []string{"code", "redirect_uri"} {
				if f.Get(p) == "" {
					return linkedinTokenResponse{}, tokenPair{}, invalidRequest(`A required parameter "` + p + `" is missing`)
				}
			}
			tp, err := l.s.redeem(topics.LinkedIn, f.Get("code"), clientID, f.Get("redirect_uri"), "", LinkedInAccessTTL)
			if err != nil {
				return linkedinTokenResponse{}, tokenPair{}, invalidRequest("Unable to retrieve access token: appid/redirect uri/code verifier " +
					"does not match authorization code. Or authorization code expired. Or external member binding exists")
			}
			refreshExp := l.stampRefresh(tp)
			return l.tokenResponse(tp, refreshExp), tp, nil
		case "refresh_token":
			if f.Get("refresh_token") == "" {
				return linkedinTokenResponse{}, tokenPair{}, invalidRequest(`A required parameter "refresh_token" is missing`)
			}
			tp, refreshExp, err := l.refresh(f.Get("refresh_token"), clientID)
			if err != nil {
				return linkedinTokenResponse{}, tokenPair{}, err
			}
			return l.tokenResponse(tp, refreshExp), tp, nil
		case "":
			return linkedinTokenResponse{}, tokenPair{}, invalidRequest(`A required parameter "grant_type" is missing`)
		default:
			return linkedinTokenResponse{}, tokenPair{}, &oauthError{status: http.StatusBadRequest, code: "unsupported_grant_type",
				desc: "The grant_type " + gt + " is not supported"}
		}
	}()
	l.recordOAuth(LinkedInEndpointToken, clientID, tp.accountID, err != nil)
	w.Header().Set("Pragma", "no-cache")
	if err != nil {
		writeOAuthError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (l *linkedinSim) tokenResponse(tp tokenPair, refreshExp time.Time) linkedinTokenResponse {
	now := l.s.now()
	resp := linkedinTokenResponse{
		AccessToken: tp.access,
		ExpiresIn:   int64(tp.expires.Sub(now) / time.Second),
		Scope:       publicScope(tp.scope),
	}
	if tp.refresh != "" {
		resp.RefreshToken = tp.refresh
		resp.RefreshTokenExpiresIn = int64(refreshExp.Sub(now) / time.Second)
	}
	return resp
}

// stampRefresh gives the refresh token of a pair the shared store just
// issued its lifetime, LinkedInRefreshTTL, and returns its expiry (zero
// without a refresh token).
func (l *linkedinSim) stampRefresh(tp tokenPair) time.Time {
	if tp.refresh == "" {
		return time.Time{}
	}
	s := l.s
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.tokens[tp.refresh]
	if !ok {
		return time.Time{}
	}
	return l.refreshExpiryLocked(g)
}

// refreshExpiryLocked returns the expiry of refresh grant g, fixing it on
// first use: the store's refresh tokens do not expire, LinkedIn's do
// LinkedInRefreshTTL after the authorization, i.e. LinkedInRefreshTTL -
// LinkedInAccessTTL after the first access token expires. A refresh token
// whose first access token is gone (revoked or swept) is taken to be at
// least LinkedInAccessTTL old.
func (l *linkedinSim) refreshExpiryLocked(g *grant) time.Time {
	if g.expires.IsZero() {
		issued := l.s.now().Add(-LinkedInAccessTTL)
		if a, ok := l.s.tokens[g.pair]; ok && !a.refresh && !a.expires.IsZero() {
			issued = a.expires.Add(-LinkedInAccessTTL)
		}
		g.expires = issued.Add(LinkedInRefreshTTL)
	}
	return g.expires
}

// refresh redeems a refresh token of app clientID: a new access token that
// expires LinkedInAccessTTL from now, or with the refresh token if that is
// sooner. The refresh token stays the same, and so does its expiry; the
// access tokens issued before stay valid until they expire. As with the
// other platforms, any app may refresh (and so adopt) an IssueToken token.
func (l *linkedinSim) refresh(refresh, clientID string) (tokenPair, time.Time, error) {
	s := l.s
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	g, ok := s.tokens[refresh]
	if !ok || !g.refresh || g.platform != topics.LinkedIn || !g.usableBy(clientID) {
		return tokenPair{}, time.Time{}, invalidRequest("The provided refresh token is invalid")
	}
	exp := l.refreshExpiryLocked(g)
	if !now.Before(exp) {
		return tokenPair{}, time.Time{}, invalidRequest("The provided refresh token has expired")
	}
	s.sweepLocked()
	access := newSecret()
	accessExp := now.Add(LinkedInAccessTTL)
	if exp.Before(accessExp) {
		accessExp = exp
	}
	s.tokens[access] = &grant{platform: topics.LinkedIn, clientID: clientID, accountID: g.accountID, scope: g.scope, expires: accessExp, pair: refresh}
	g.clientID, g.pair = clientID, access
	return tokenPair{access: access, refresh: refresh, expires: accessExp, scope: g.scope, accountID: g.accountID}, exp, nil
}

// revoke serves POST /oauth/v2/revoke (client_id, client_secret, token): it
// revokes the app's token and the token issued with it, and answers 200
// with an empty body whether or not the token was valid.
func (l *linkedinSim) revoke(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	var clientID string
	err := r.ParseForm()
	if err == nil {
		clientID = r.PostForm.Get("client_id")
		err = l.clientAuth(clientID, r.PostForm.Get("client_secret"))
	}
	if err == nil && r.PostForm.Get("token") == "" {
		err = invalidRequest(`A required parameter "token" is missing`)
	}
	l.recordOAuth(LinkedInEndpointRevoke, clientID, "", err != nil)
	if err != nil {
		writeOAuthError(w, err)
		return
	}
	l.s.revokeFor(topics.LinkedIn, r.PostForm.Get("token"), clientID)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// clientAuth checks the app's credentials from the form. LinkedIn web apps
// are confidential: the secret is always required. With no registered
// clients, any client id is accepted.
func (l *linkedinSim) clientAuth(id, secret string) error {
	unauthorized := &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: "Client authentication failed"}
	switch {
	case id == "":
		return invalidRequest(`A required parameter "client_id" is missing`)
	case secret == "":
		return unauthorized
	}
	clients := l.state().clients
	if clients == nil {
		return nil
	}
	want, ok := clients[id]
	if !ok || subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1 {
		return unauthorized
	}
	return nil
}

func (l *linkedinSim) recordOAuth(endpoint, clientID, accountID string, failed bool) {
	d := Counts{Requests: 1}
	if failed {
		d.Errors = 1
	}
	l.s.record(topics.LinkedIn, endpoint, clientID, accountID, d)
}
