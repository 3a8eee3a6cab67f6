package api

// OAuth linking: the authorize flow that links a user's social account.
//
//	GET /oauth/{platform}/start     (or the startLink mutation, for the SPA)
//	  → 302 to the platform's authorize page
//	GET /oauth/{platform}/callback?code=…&state=…
//	  → 302 to /#/accounts?linked=<platform>, or
//	    /#/accounts?platform=<platform>&link_error=<reason>
//
// Start records a pending authorize request in PostgreSQL: a random state
// (stored as a hash), bound to the session and user that started it, with
// the PKCE verifier (S256) encrypted under the user's data key, expiring
// after Config.LinkTTL. The callback redeems the state exactly once and
// only for the same session (and so user) before the code is exchanged:
// a tampered, replayed, expired or foreign state gets an error page (400,
// or 403 for another session) and the code is never used. The exchange
// (including any long-lived-token upgrade) is the connector's; the account
// is identified with the new token, and the link is stored (a relink
// reactivates the existing link). The session cookie is SameSite=Lax, so
// it accompanies the platform's top-level redirect back to the callback.

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/api/graph"
	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/topics"
)

// Identifier is implemented by connectors that can name the account a
// token belongs to more cheaply than a full Fetch. The callback uses it
// when available; otherwise it calls Fetch and ParseAccount.
type Identifier interface {
	Identify(ctx context.Context, tok *oauth2.Token) (platforms.Account, error)
}

// Reasons in the callback's link_error redirect parameter.
const (
	linkDenied         = "access_denied"        // the user declined on the platform
	linkAuthorizeError = "authorization_failed" // the platform reported another error
	linkExchangeFailed = "exchange_failed"      // the code could not be exchanged
	linkAccountFailed  = "account_failed"       // the account could not be read
	linkStoreFailed    = "store_failed"         // the link could not be saved
)

// accountsPage is where the dashboard shows the user's links.
const accountsPage = "/#/accounts"

// Linkable reports whether platform p has a connector.
func (s *Server) Linkable(p topics.Platform) bool {
	_, ok := s.cfg.Connectors[p]
	return ok
}

// StartLink begins linking an account on platform p for the signed-in
// user u and returns the platform's authorize URL. It implements the
// startLink mutation and backs GET /oauth/{platform}/start.
//
// The flow must come back through the browser that holds u's cookie
// session, so it is refused for a session authenticated by bearer token.
func (s *Server) StartLink(ctx context.Context, u graph.SessionUser, p topics.Platform) (string, error) {
	conn, ok := s.cfg.Connectors[p]
	if !ok {
		return "", &graph.Error{Code: graph.CodeBadInput, Message: "this Pulse cannot link " + string(p) + " accounts"}
	}
	if !u.Cookie {
		return "", &graph.Error{Code: graph.CodeBadInput,
			Message: "linking needs the browser session that will come back from the platform: start it from the dashboard, not with a bearer token"}
	}
	var verifier string
	if conn.UsesPKCE() {
		verifier = oauth2.GenerateVerifier()
	}
	state, err := s.cfg.OAuthStates.CreateOAuthState(ctx, u.SessionID, p, verifier, s.cfg.LinkTTL)
	if err != nil {
		return "", err
	}
	var opts []oauth2.AuthCodeOption
	if verifier != "" {
		opts = append(opts, oauth2.S256ChallengeOption(verifier))
	}
	s.log.Info("oauth: link started", "user", u.ID, "platform", p)
	return conn.OAuth2().AuthCodeURL(state, opts...), nil
}

// HistoryDays is how many past days linking an account on p reads:
// platforms.HistoryDays where the connector reads insights, else 0.
func (s *Server) HistoryDays(p topics.Platform) int {
	if _, ok := s.cfg.Connectors[p].(platforms.InsightsParser); ok {
		return platforms.HistoryDays
	}
	return 0
}

// oauthStart serves GET /oauth/{platform}/start: a redirect to the
// platform's authorize page, for the signed-in browser.
func (s *Server) oauthStart(w http.ResponseWriter, r *http.Request) {
	p := topics.Platform(r.PathValue("platform"))
	if !s.Linkable(p) {
		s.page(w, http.StatusNotFound, "Unknown platform", "This Pulse cannot link accounts on that platform.")
		return
	}
	u, ok := graph.UserFrom(r.Context())
	if !ok {
		s.page(w, http.StatusUnauthorized, "Sign in first", "Sign in to Pulse, then link your account from the Accounts page.")
		return
	}
	authURL, err := s.StartLink(r.Context(), u, p)
	if err != nil {
		var ge *graph.Error
		if errors.As(err, &ge) {
			s.page(w, http.StatusBadRequest, "Cannot link", ge.Message+".")
			return
		}
		s.log.Error("oauth: start link", "user", u.ID, "platform", p, "err", err)
		s.page(w, http.StatusInternalServerError, "Something went wrong", "Pulse could not start linking. Please try again.")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, authURL, http.StatusFound)
}

// errForeignSession stands for a callback without a session.
var errForeignSession = errors.New("no session")

// oauthCallback serves GET /oauth/{platform}/callback, where the platform
// sends the browser back with code and state (or error and state).
func (s *Server) oauthCallback(w http.ResponseWriter, r *http.Request) {
	// The URL holds the code and state: keep it out of Referer headers.
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	ctx := r.Context()
	p := topics.Platform(r.PathValue("platform"))
	conn, ok := s.cfg.Connectors[p]
	if !ok {
		s.page(w, http.StatusNotFound, "Unknown platform", "This Pulse cannot link accounts on that platform.")
		return
	}
	q := r.URL.Query()
	// The session is checked before the state is redeemed: a request from
	// another session (a forged link, another browser) leaves the owner's
	// attempt intact.
	u, signedIn := graph.UserFrom(ctx)
	var st pulse.OAuthState
	err := errForeignSession
	if signedIn {
		st, err = s.cfg.OAuthStates.RedeemOAuthState(ctx, q.Get("state"), u.SessionID)
	}
	switch {
	case pulse.ErrorCode(err) == pulse.EUNAUTHORIZED || errors.Is(err, errForeignSession) ||
		err == nil && u.ID != st.UserID:
		s.log.Warn("oauth: callback from another session", "platform", p, "request_user", u.ID, "signed_in", signedIn)
		s.page(w, http.StatusForbidden, "Link request from another session",
			"This link request was started in another browser session. Sign in and start linking again from Pulse.")
		return
	case pulse.ErrorCode(err) == pulse.ENOTFOUND:
		s.log.Warn("oauth: callback with unknown or used state", "platform", p)
		s.page(w, http.StatusBadRequest, "Link request not valid",
			"This link request is unknown or was already used. Start linking again from Pulse.")
		return
	case err != nil:
		s.log.Error("oauth: redeem state", "platform", p, "err", err)
		s.page(w, http.StatusInternalServerError, "Something went wrong", "Pulse could not finish linking. Please start again.")
		return
	}
	if st.Platform != p {
		s.log.Warn("oauth: callback for another platform", "user", u.ID, "platform", p, "state_platform", st.Platform)
		s.page(w, http.StatusBadRequest, "Link request not valid",
			"This link request was for another platform. Start linking again from Pulse.")
		return
	}
	if !s.cfg.Clock().Before(st.ExpiresAt) {
		s.log.Info("oauth: callback after expiry", "user", u.ID, "platform", p)
		s.page(w, http.StatusBadRequest, "Link request expired",
			"Linking took too long and the request expired. Start linking again from Pulse.")
		return
	}
	fail := func(reason string) {
		v := url.Values{"platform": {string(p)}, "link_error": {reason}}
		http.Redirect(w, r, accountsPage+"?"+v.Encode(), http.StatusFound)
	}
	if e := q.Get("error"); e != "" {
		s.log.Info("oauth: authorization not granted", "user", u.ID, "platform", p, "error", oauthErrorCode(e))
		if declined(e) {
			fail(linkDenied)
		} else {
			fail(linkAuthorizeError)
		}
		return
	}
	tok, err := conn.Exchange(ctx, q.Get("code"), st.Verifier)
	if err != nil {
		// Connector errors never contain the code, verifier or token.
		s.log.Warn("oauth: exchange code", "user", u.ID, "platform", p, "err", err)
		fail(linkExchangeFailed)
		return
	}
	scopes, _ := tok.Extra("scope").(string)
	if l, ok := conn.(platforms.AccountLister); ok {
		accts, err := l.Accounts(ctx, tok)
		if err == nil && len(accts) == 0 {
			err = errors.New("the consent covers no account")
		}
		if err != nil {
			s.log.Warn("oauth: list accounts", "user", u.ID, "platform", p, "err", err)
			fail(linkAccountFailed)
			return
		}
		if len(accts) > 1 {
			// Several Pages (accounts) shared: the user chooses which to
			// link; none is linked until then.
			ga := make([]pulse.GrantAccount, len(accts))
			for i, a := range accts {
				ga[i] = pulse.GrantAccount{ID: a.ID, Handle: a.Handle}
			}
			g, err := s.cfg.Links.CreateLinkGrant(ctx, u.ID, p, ga, tok, scopes, s.cfg.LinkTTL)
			if err != nil {
				s.log.Error("oauth: store grant", "user", u.ID, "platform", p, "err", err)
				fail(linkStoreFailed)
				return
			}
			s.log.Info("oauth: consent covers several accounts; the user chooses", "user", u.ID, "platform", p, "grant", g.ID, "accounts", len(accts))
			http.Redirect(w, r, accountsPage+"?"+url.Values{"platform": {string(p)}, "choose": {g.ID}}.Encode(), http.StatusFound)
			return
		}
	}
	acct, err := s.identify(ctx, conn, tok)
	if err != nil {
		s.log.Warn("oauth: identify account", "user", u.ID, "platform", p, "err", err)
		fail(linkAccountFailed)
		return
	}
	link, err := s.cfg.Links.UpsertLink(ctx, u.ID, p, acct.ID, acct.Handle, tok, scopes)
	if err != nil {
		s.log.Error("oauth: store link", "user", u.ID, "platform", p, "account", acct.ID, "err", err)
		fail(linkStoreFailed)
		return
	}
	s.log.Info("oauth: account linked", "user", u.ID, "platform", p, "link", link.ID, "account", acct.ID)
	http.Redirect(w, r, accountsPage+"?"+url.Values{"linked": {string(p)}}.Encode(), http.StatusFound)
}

// declined reports whether an authorize error means the user said no:
// RFC 6749's access_denied, or a platform's own code for it (LinkedIn:
// user_cancelled_authorize, user_cancelled_login).
func declined(e string) bool {
	switch e {
	case linkDenied, "user_cancelled_authorize", "user_cancelled_login":
		return true
	}
	return false
}

// oauthErrorCode returns e if it is one of RFC 6749's authorization error
// codes, for logging a platform-supplied value safely.
func oauthErrorCode(e string) string {
	switch e {
	case "invalid_request", "unauthorized_client", linkDenied, "unsupported_response_type",
		"invalid_scope", "server_error", "temporarily_unavailable",
		"user_cancelled_authorize", "user_cancelled_login":
		return e
	}
	return "other"
}

// identify returns the account tok belongs to.
func (s *Server) identify(ctx context.Context, conn platforms.Connector, tok *oauth2.Token) (platforms.Account, error) {
	if id, ok := conn.(Identifier); ok {
		return id.Identify(ctx, tok)
	}
	f, err := conn.Fetch(ctx, tok, platforms.Request{})
	if err != nil {
		return platforms.Account{}, err
	}
	acct, err := conn.ParseAccount(f.AccountBody)
	if err != nil {
		return platforms.Account{}, err
	}
	if acct.ID == "" {
		acct.ID = f.AccountID
	}
	if acct.ID == "" {
		return platforms.Account{}, errors.New("platform reported no account id")
	}
	return acct, nil
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.Title}} – Pulse</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}</style>
</head><body>
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
<p><a href="` + accountsPage + `">Back to Pulse</a></p>
</body></html>
`))

// pageCSP is the Content-Security-Policy of the OAuth result pages.
const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// page answers with a small HTML page for a browser that cannot be sent
// back to the dashboard with a result.
func (s *Server) page(w http.ResponseWriter, status int, title, message string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// Nothing but the inline style runs or loads, and no site may frame
	// the page (clickjacking a linking flow).
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, map[string]string{"Title": title, "Message": message})
}
