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

// X's OAuth 2.0 Authorization Code flow with PKCE: the consent page
// (GET/POST /i/oauth2/authorize) and the token and revoke endpoints
// (POST /2/oauth2/token, /2/oauth2/revoke).

// maxFormBytes bounds the body of a form POST.
const maxFormBytes = 64 << 10

// xKnownScope reports whether X knows scope s.
func xKnownScope(s string) bool {
	switch s {
	case "tweet.read", "tweet.write", "tweet.moderate.write", "users.read",
		"follows.read", "follows.write", "offline.access", "space.read",
		"mute.read", "mute.write", "like.read", "like.write", "list.read",
		"list.write", "block.read", "block.write", "bookmark.read",
		"bookmark.write", "media.write":
		return true
	}
	return false
}

// xAuthRequest is a validated authorize request.
type xAuthRequest struct {
	clientID    string
	redirectURI string
	state       string
	scope       string
	challenge   string
	method      string
}

// params are the request's parameters, to carry through the consent form.
func (ar xAuthRequest) params() url.Values {
	return url.Values{
		"response_type":         {"code"},
		"client_id":             {ar.clientID},
		"redirect_uri":          {ar.redirectURI},
		"state":                 {ar.state},
		"scope":                 {ar.scope},
		"code_challenge":        {ar.challenge},
		"code_challenge_method": {ar.method},
	}
}

// parseAuthRequest validates an authorize request's parameters.
func (x *xSim) parseAuthRequest(form url.Values) (xAuthRequest, error) {
	ar := xAuthRequest{
		clientID:    form.Get("client_id"),
		redirectURI: form.Get("redirect_uri"),
		state:       form.Get("state"),
		scope:       strings.Join(strings.Fields(form.Get("scope")), " "),
		challenge:   form.Get("code_challenge"),
		method:      form.Get("code_challenge_method"),
	}
	if rt := form.Get("response_type"); rt != "code" {
		return ar, errors.New("response_type must be code")
	}
	if ar.clientID == "" {
		return ar, errors.New("client_id is missing")
	}
	if clients := x.s.platforms[topics.X].clients; clients != nil {
		if _, ok := clients[ar.clientID]; !ok {
			return ar, errors.New("client_id is not a registered app")
		}
	}
	u, err := url.Parse(ar.redirectURI)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		return ar, errors.New("redirect_uri must be an absolute http(s) URL without a fragment")
	}
	if ar.state == "" || len(ar.state) > 500 {
		return ar, errors.New("state must be 1 to 500 characters")
	}
	if ar.scope == "" {
		return ar, errors.New("scope is missing")
	}
	for s := range strings.FieldsSeq(ar.scope) {
		if !xKnownScope(s) {
			return ar, errors.New("scope " + s + " is unknown")
		}
	}
	if ar.method != "S256" && ar.method != "plain" {
		return ar, errors.New("code_challenge_method must be S256 or plain")
	}
	if !validVerifier(ar.challenge) { // a challenge has a verifier's syntax
		return ar, errors.New("code_challenge must be 43 to 128 unreserved characters")
	}
	return ar, nil
}

var xConsentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Authorize app – X (Pulse simulator)</title></head>
<body>
<h1>{{.ClientID}} wants to access your X account</h1>
<p>Scopes: {{.Scope}}</p>
<form method="post" action="{{.Action}}">
{{range $k, $v := .Params}}<input type="hidden" name="{{$k}}" value="{{index $v 0}}">
{{end}}<fieldset><legend>Authorize as</legend>
{{range $i, $a := .Accounts}}<label><input type="radio" name="account" value="{{$a.ID}}"{{if eq $i 0}} checked{{end}}> @{{$a.Username}} – {{$a.Name}} ({{$a.Followers}} followers)</label><br>
{{end}}</fieldset>
<button type="submit" name="decision" value="allow">Authorize app</button>
<button type="submit" name="decision" value="deny">Cancel</button>
</form>
</body></html>
`))

type xConsentAccount struct {
	ID, Username, Name string
	Followers          int64
}

// authorizePage serves GET /i/oauth2/authorize: a consent page listing the
// synthetic accounts, the first one selected.
func (x *xSim) authorizePage(w http.ResponseWriter, r *http.Request) {
	ar, err := x.parseAuthRequest(r.URL.Query())
	x.recordOAuth(XEndpointAuthorize, ar.clientID, "", err != nil)
	if err != nil {
		authorizeError(w, err)
		return
	}
	now := x.s.now()
	ps := x.s.platforms[topics.X]
	accounts := make([]xConsentAccount, len(ps.accounts))
	for i, a := range ps.accounts {
		accounts[i] = xConsentAccount{ID: a.ID, Username: a.Handle, Name: a.Name, Followers: a.followers(now)}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	xConsentPage.Execute(w, map[string]any{
		"ClientID": ar.clientID,
		"Scope":    ar.scope,
		// Relative, so the form works wherever the Server is mounted.
		"Action":   "authorize",
		"Params":   ar.params(),
		"Accounts": accounts,
	})
}

// authorizeDecision serves POST /i/oauth2/authorize, the consent form:
// decision=deny redirects with error=access_denied; otherwise the user
// authorizes as account (default: the first) and is redirected with a code.
func (x *xSim) authorizeDecision(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		x.recordOAuth(XEndpointAuthorize, "", "", true)
		authorizeError(w, errors.New("unreadable form"))
		return
	}
	ar, err := x.parseAuthRequest(r.Form)
	ps := x.s.platforms[topics.X]
	id := r.Form.Get("account")
	if id == "" {
		id = ps.accounts[0].ID
	}
	if _, ok := ps.byID[id]; err == nil && !ok {
		err = errors.New("account " + id + " does not exist")
	}
	x.recordOAuth(XEndpointAuthorize, ar.clientID, id, err != nil)
	if err != nil {
		authorizeError(w, err)
		return
	}
	u, _ := url.Parse(ar.redirectURI) // validated by parseAuthRequest
	q := u.Query()
	q.Set("state", ar.state)
	if r.Form.Get("decision") == "deny" {
		q.Set("error", "access_denied")
	} else {
		q.Set("code", x.s.newCode(authCode{
			platform:    topics.X,
			clientID:    ar.clientID,
			redirectURI: ar.redirectURI,
			accountID:   id,
			scope:       ar.scope,
			challenge:   ar.challenge,
			method:      ar.method,
		}))
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// authorizeError answers an invalid authorize request. Like X, it does not
// redirect: the redirect URI may be the invalid part.
func authorizeError(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	w.Write([]byte("Something went wrong: " + err.Error() + "\n"))
}

// xTokenResponse is the token endpoint's success body.
type xTokenResponse struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	AccessToken  string `json:"access_token"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// token serves POST /2/oauth2/token: grant_type authorization_code (with
// the PKCE code_verifier) or refresh_token (which rotates the refresh
// token).
func (x *xSim) token(w http.ResponseWriter, r *http.Request) {
	var clientID string
	tp, err := func() (tokenPair, error) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			return tokenPair{}, invalidRequest("Unreadable request body.")
		}
		var err error
		if clientID, err = x.clientAuth(r); err != nil {
			return tokenPair{}, err
		}
		f := r.PostForm
		switch gt := f.Get("grant_type"); gt {
		case "authorization_code":
			for _, p := range []string{"code", "redirect_uri", "code_verifier"} {
				if f.Get(p) == "" {
					return tokenPair{}, invalidRequest("Missing required parameter [" + p + "].")
				}
			}
			return x.s.redeem(topics.X, f.Get("code"), clientID, f.Get("redirect_uri"), f.Get("code_verifier"), AccessTTL)
		case "refresh_token":
			if f.Get("refresh_token") == "" {
				return tokenPair{}, invalidRequest("Missing required parameter [refresh_token].")
			}
			return x.s.rotate(topics.X, f.Get("refresh_token"), clientID)
		case "":
			return tokenPair{}, invalidRequest("Missing required parameter [grant_type].")
		default:
			return tokenPair{}, &oauthError{status: http.StatusBadRequest, code: "unsupported_grant_type", desc: "Value passed for the grant type was invalid."}
		}
	}()
	x.recordOAuth(XEndpointToken, clientID, tp.accountID, err != nil)
	w.Header().Set("Pragma", "no-cache")
	if err != nil {
		writeOAuthError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, xTokenResponse{
		TokenType:    "bearer",
		ExpiresIn:    int64(tp.expires.Sub(x.s.now()) / time.Second),
		AccessToken:  tp.access,
		Scope:        tp.scope,
		RefreshToken: tp.refresh,
	})
}

// revoke serves POST /2/oauth2/revoke (RFC 7009): it revokes the client's
// token and its pair, and answers {"revoked":true} whether or not the token
// was valid.
func (x *xSim) revoke(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	var clientID string
	err := r.ParseForm()
	if err == nil {
		clientID, err = x.clientAuth(r)
	}
	if err == nil && r.PostForm.Get("token") == "" {
		err = invalidRequest("Missing required parameter [token].")
	}
	x.recordOAuth(XEndpointRevoke, clientID, "", err != nil)
	if err != nil {
		writeOAuthError(w, err)
		return
	}
	x.s.revokeFor(topics.X, r.PostForm.Get("token"), clientID)
	writeJSON(w, http.StatusOK, map[string]bool{"revoked": true})
}

// clientAuth authenticates the app of a token or revoke request: HTTP Basic
// (id and secret form-URL-encoded, RFC 6749 §2.3.1) or a client_id form
// field for a public client. It returns the client id.
func (x *xSim) clientAuth(r *http.Request) (string, error) {
	unauthorized := &oauthError{status: http.StatusUnauthorized, code: "unauthorized_client", desc: "Missing valid authorization header"}
	formID := r.PostForm.Get("client_id")
	id, secret, basic := r.BasicAuth()
	if basic {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil || (formID != "" && formID != id) {
			return "", unauthorized
		}
	} else {
		id = formID
	}
	if id == "" {
		return "", unauthorized
	}
	clients := x.s.platforms[topics.X].clients
	if clients == nil {
		return id, nil
	}
	want, ok := clients[id]
	if !ok {
		return "", unauthorized
	}
	if want != "" && (!basic || subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1) {
		return "", unauthorized
	}
	return id, nil
}

// writeOAuthError writes an RFC 6749 error body.
func writeOAuthError(w http.ResponseWriter, err error) {
	var oe *oauthError
	if !errors.As(err, &oe) {
		oe = &oauthError{status: http.StatusInternalServerError, code: "server_error", desc: err.Error()}
	}
	writeJSON(w, oe.status, map[string]string{"error": oe.code, "error_description": oe.desc})
}

func (x *xSim) recordOAuth(endpoint, clientID, accountID string, failed bool) {
	d := Counts{Requests: 1}
	if failed {
		d.Errors = 1
	}
	x.s.record(topics.X, endpoint, clientID, accountID, d)
}
