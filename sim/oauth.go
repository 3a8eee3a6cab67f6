package sim

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/pulsehq/pulse/topics"
)

// The OAuth 2.0 store shared by the platforms: authorization codes and
// tokens. Platforms map these onto their own endpoints and error bodies.

const (
	// CodeTTL is how long an authorization code can be redeemed.
	CodeTTL = 10 * time.Minute
	// AccessTTL is the lifetime of an X access token: two hours.
	AccessTTL = 2 * time.Hour
	// MetaShortLivedTTL is the lifetime of the user token Meta's token
	// endpoint returns for an authorization code.
	MetaShortLivedTTL = time.Hour
	// MetaLongLivedTTL is the lifetime of a long-lived Meta user token, as
	// returned by the fb_exchange_token grant and IssueToken: 60 days.
	MetaLongLivedTTL = 60 * 24 * time.Hour
	// IssuedClientID is the app that IssueToken's tokens belong to.
	IssuedClientID = "sim"

	// sweepMin is the store size below which expired entries are kept.
	sweepMin = 1024
)

// authCode is an authorization code waiting to be redeemed.
type authCode struct {
	platform    topics.Platform
	clientID    string
	redirectURI string
	accountID   string
	others      []string // further accounts the user shared (Meta: several Pages)
	scope       string
	challenge   string
	method      string // "S256" or "plain"; "" when the flow has no PKCE
	expires     time.Time
	used        bool
	issued      []string // tokens issued from the code, revoked on replay
}

// grant is what a token stands for.
type grant struct {
	platform  topics.Platform
	clientID  string
	accountID string
	// others are the further accounts the grant covers: a Facebook login
	// that manages several Pages (or their Instagram accounts) shares
	// each one the user ticked on the consent page. accountID is the
	// first.
	others  []string
	scope   string
	refresh bool
	// page marks a Meta Page access token, derived from a user token by
	// /me/accounts; pair is then that user token.
	page    bool
	expires time.Time // zero: never
	pair    string    // the other token issued with this one
	// pages are the Page access tokens derived from this user token, by
	// Page id; they are revoked with it.
	pages map[string]string
}

// accounts returns every account the grant covers, accountID first.
func (g *grant) accounts() []string { return append([]string{g.accountID}, g.others...) }

// covers reports whether the grant covers account id.
func (g *grant) covers(id string) bool {
	return id == g.accountID || slices.Contains(g.others, id)
}

// usableBy reports whether app clientID may refresh or revoke the token.
func (g *grant) usableBy(clientID string) bool {
	return g.clientID == clientID || g.clientID == IssuedClientID
}

func (g *grant) hasScope(want ...string) bool { return hasScope(g.scope, want...) }

// hasScope reports whether the space-separated scope has every wanted one.
func hasScope(scope string, want ...string) bool {
	have := strings.Fields(scope)
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

// tokenPair is a token endpoint's answer.
type tokenPair struct {
	access    string
	refresh   string // empty without offline access
	expires   time.Time
	scope     string
	accountID string
}

// oauthError is an RFC 6749 error: status, error and error_description.
// reason tells platforms with their own error bodies (Meta) what failed.
type oauthError struct {
	status int
	code   string
	desc   string
	reason failReason
}

// failReason is why a code or token was refused.
type failReason int

const (
	reasonInvalid     failReason = iota // unknown, malformed or another platform's
	reasonUsed                          // an authorization code redeemed before
	reasonExpired                       // past its expiry
	reasonOtherClient                   // issued to another app
	reasonRedirect                      // redirect URI differs from the authorize request's
	reasonVerifier                      // PKCE verifier does not match the challenge
)

func (e *oauthError) Error() string { return e.code + ": " + e.desc }

func invalidRequest(desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_request", desc: desc}
}

// newCode stores an authorization code for c and returns it.
func (s *Server) newCode(c authCode) string {
	code := newSecret()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	c.expires = s.now().Add(CodeTTL)
	s.codes[code] = &c
	return code
}

// redeem exchanges an authorization code for an access token that expires
// after ttl. The code is spent by any attempt, successful or not; redeeming
// a spent code also revokes the tokens issued from it (RFC 6749 §4.1.2). A
// code issued without a PKCE challenge needs no verifier.
func (s *Server) redeem(p topics.Platform, code, clientID, redirectURI, verifier string, ttl time.Duration) (tokenPair, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	bad := func(r failReason) *oauthError {
		e := invalidRequest("Value passed for the authorization code was invalid.")
		e.reason = r
		return e
	}
	c, ok := s.codes[code]
	if !ok || c.platform != p {
		return tokenPair{}, bad(reasonInvalid)
	}
	if c.used {
		for _, t := range c.issued {
			s.revokeLocked(t)
		}
		c.issued = nil
		return tokenPair{}, bad(reasonUsed)
	}
	c.used = true
	switch {
	case !s.now().Before(c.expires):
		return tokenPair{}, bad(reasonExpired)
	case c.clientID != clientID:
		return tokenPair{}, &oauthError{status: http.StatusBadRequest, code: "invalid_grant", desc: "The authorization code was issued to another client.", reason: reasonOtherClient}
	case c.redirectURI != redirectURI:
		e := invalidRequest("Value passed for the redirect uri did not match the uri of the authorization code.")
		e.reason = reasonRedirect
		return tokenPair{}, e
	case c.method != "" && !verifyPKCE(c.method, c.challenge, verifier):
		e := invalidRequest("Value passed for the code verifier did not match the code challenge.")
		e.reason = reasonVerifier
		return tokenPair{}, e
	}
	tp := s.issueLocked(p, clientID, c.accountID, c.others, c.scope, s.now().Add(ttl))
	c.issued = append(c.issued, tp.access)
	if tp.refresh != "" {
		c.issued = append(c.issued, tp.refresh)
	}
	return tp, nil
}

// rotate redeems a refresh token for a new pair. The refresh token stops
// working; the access token issued with it stays valid until it expires.
// Only the app the token was issued to may refresh it, except that any app
// may refresh (and so adopt) an IssueToken token.
func (s *Server) rotate(p topics.Platform, refresh, clientID string) (tokenPair, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.tokens[refresh]
	if !ok || !g.refresh || g.platform != p || !g.usableBy(clientID) || s.expiredLocked(g) {
		return tokenPair{}, invalidRequest("Value passed for the token was invalid.")
	}
	delete(s.tokens, refresh)
	if a, ok := s.tokens[g.pair]; ok {
		a.pair = ""
	}
	return s.issueLocked(p, clientID, g.accountID, g.others, g.scope, s.now().Add(AccessTTL)), nil
}

// extend issues a new access token, valid for ttl, for the grant of a valid
// user access token of platform p, as Meta's fb_exchange_token grant does:
// the new token belongs to app clientID and the old one stays valid until
// it expires. Only the token's app may extend it, except that any app may
// extend (and so adopt) an IssueToken token.
func (s *Server) extend(p topics.Platform, token, clientID string, ttl time.Duration) (tokenPair, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fail := func(r failReason) error {
		return &oauthError{status: http.StatusBadRequest, code: "invalid_grant", desc: "Value passed for the token was invalid.", reason: r}
	}
	g, ok := s.tokens[token]
	switch {
	case !ok || g.refresh || g.page || g.platform != p:
		return tokenPair{}, fail(reasonInvalid)
	case s.expiredLocked(g):
		return tokenPair{}, fail(reasonExpired)
	case !g.usableBy(clientID):
		return tokenPair{}, fail(reasonOtherClient)
	}
	return s.issueLocked(p, clientID, g.accountID, g.others, g.scope, s.now().Add(ttl)), nil
}

// pageToken returns the access token of Page page derived from user token
// user, a valid access token of platform p whose grant covers page,
// issuing it on first use. It shares the user token's app, scope and
// expiry, and is revoked with it.
func (s *Server) pageToken(p topics.Platform, user, page string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.accessLocked(p, user)
	if !ok || g.page || !g.covers(page) {
		return "", false
	}
	if tok, ok := g.pages[page]; ok {
		if pg, ok := s.tokens[tok]; ok && pg.page {
			return tok, true
		}
	}
	s.sweepLocked()
	tok := newSecret()
	s.tokens[tok] = &grant{platform: p, clientID: g.clientID, accountID: page, scope: g.scope, page: true, expires: g.expires, pair: user}
	if g.pages == nil {
		g.pages = map[string]string{}
	}
	g.pages[page] = tok
	return tok, true
}

// Unshare removes account id from the grant of user token token, as when
// the user unticks a Page in the platform's business integration
// settings: the token stops listing and reaching it, and the Page token
// derived for it is revoked. It reports whether the token was valid and
// covered id. The grant's first account cannot be removed.
func (s *Server) Unshare(p topics.Platform, token, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.accessLocked(p, token)
	if !ok || g.page || !slices.Contains(g.others, id) {
		return false
	}
	g.others = slices.DeleteFunc(slices.Clone(g.others), func(o string) bool { return o == id })
	if tok, ok := g.pages[id]; ok {
		delete(s.tokens, tok)
		delete(g.pages, id)
	}
	return true
}

func (s *Server) accessLocked(p topics.Platform, token string) (*grant, bool) {
	g, ok := s.tokens[token]
	if !ok || g.refresh || g.platform != p || s.expiredLocked(g) {
		return nil, false
	}
	return g, true
}

func (s *Server) expiredLocked(g *grant) bool {
	return !g.expires.IsZero() && !s.now().Before(g.expires)
}

// issueLocked creates an access token expiring at expires, and a refresh
// token when scope has offline.access.
func (s *Server) issueLocked(p topics.Platform, clientID, accountID string, others []string, scope string, expires time.Time) tokenPair {
	s.sweepLocked()
	tp := tokenPair{access: newSecret(), expires: expires, scope: scope, accountID: accountID}
	g := &grant{platform: p, clientID: clientID, accountID: accountID, others: slices.Clone(others), scope: scope, expires: tp.expires}
	s.tokens[tp.access] = g
	if hasScope(scope, "offline.access") {
		tp.refresh = newSecret()
		g.pair = tp.refresh
		s.tokens[tp.refresh] = &grant{platform: p, clientID: clientID, accountID: accountID, others: slices.Clone(others), scope: scope, refresh: true, pair: tp.access}
	}
	return tp
}

// IssueToken creates tokens for account accountID of platform p, as if the
// user had authorized app IssuedClientID with every scope Pulse uses. Any
// app may refresh them; the refreshed pair is that app's. It returns the
// access token, the refresh token and the access token's expiry from the
// simulated now. It fails for an unknown platform or account.
//
// X: a two-hour access token (AccessTTL) and a refresh token. Facebook and
// Instagram: a long-lived user token (MetaLongLivedTTL) and no refresh
// token; the user manages the account's Page (Facebook) or the Page the
// Instagram account is connected to, so /me/accounts lists it.
func (s *Server) IssueToken(p topics.Platform, accountID string) (access, refresh string, expiry time.Time, err error) {
	return s.IssueGrant(p, accountID)
}

// IssueGrant is IssueToken for a user who shares several accounts in one
// authorization: a Facebook login managing several Pages (Facebook), or
// Pages connected to several Instagram accounts (Instagram). /me/accounts
// lists every one of accountIDs, in order; the first is the grant's own
// (X and LinkedIn tokens reach only that one). It fails for an unknown
// platform or account, or without accountIDs.
func (s *Server) IssueGrant(p topics.Platform, accountIDs ...string) (access, refresh string, expiry time.Time, err error) {
	if len(accountIDs) == 0 {
		return "", "", time.Time{}, fmt.Errorf("sim: issue grant: no account")
	}
	var ps *platformState
	for _, id := range accountIDs {
		if ps, _, err = s.lookup(p, id); err != nil {
			return "", "", time.Time{}, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tp := s.issueLocked(p, IssuedClientID, accountIDs[0], accountIDs[1:], ps.impl.fullScope(), s.now().Add(ps.impl.tokenTTL()))
	return tp.access, tp.refresh, tp.expires, nil
}

// Revoke invalidates token, an access or a refresh token of any platform,
// and the token issued with it, as when the user removes the app. It
// reports whether token was known.
func (s *Server) Revoke(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revokeLocked(token)
}

// Secrets returns every authorization code and token the Server holds,
// valid or not yet swept, in no particular order: tests use it to assert
// that no error message leaks one.
func (s *Server) Secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.codes)+len(s.tokens))
	for c := range s.codes {
		out = append(out, c)
	}
	for t := range s.tokens {
		out = append(out, t)
	}
	return out
}

// revokeFor revokes token and its pair if it is platform p's and app
// clientID may use it, as a platform's revoke endpoint does.
func (s *Server) revokeFor(p topics.Platform, token, clientID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.tokens[token]
	if !ok || g.platform != p || !g.usableBy(clientID) {
		return false
	}
	return s.revokeLocked(token)
}

func (s *Server) revokeLocked(token string) bool {
	g, ok := s.tokens[token]
	if !ok {
		return false
	}
	delete(s.tokens, token)
	if g.pair != "" {
		if u, ok := s.tokens[g.pair]; ok {
			for _, pt := range u.pages {
				delete(s.tokens, pt)
			}
		}
		delete(s.tokens, g.pair)
	}
	for _, pt := range g.pages {
		delete(s.tokens, pt)
	}
	return true
}

// sweepLocked drops expired codes and tokens once the store has doubled
// since the last sweep, keeping memory bounded without a background
// goroutine.
func (s *Server) sweepLocked() {
	if len(s.codes)+len(s.tokens) < s.sweepAt {
		return
	}
	now := s.now()
	for k, c := range s.codes {
		if !now.Before(c.expires) {
			delete(s.codes, k)
		}
	}
	for k, g := range s.tokens {
		if s.expiredLocked(g) {
			delete(s.tokens, k)
		}
	}
	s.sweepAt = max(sweepMin, 2*(len(s.codes)+len(s.tokens)))
}

// verifyPKCE checks a code verifier against its challenge (RFC 7636).
func verifyPKCE(method, challenge, verifier string) bool {
	if !validVerifier(verifier) {
		return false
	}
	got := verifier
	if method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		got = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

// validVerifier reports whether v is 43 to 128 unreserved characters.
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0) {
			return false
		}
	}
	return true
}

// newSecret returns a random token or code (128 bits, base32).
func newSecret() string { return rand.Text() }
