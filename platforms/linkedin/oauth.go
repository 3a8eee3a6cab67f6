package linkedin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/internal/httpx"
)

// Exchange trades an authorization code for a token at LinkedIn's token
// endpoint (POST AuthBaseURL/oauth/v2/accessToken, grant_type
// authorization_code, the app's credentials in the form). The token is
// already what Pulse keeps: a 60-day access token and, for an app approved
// for programmatic refresh tokens, a refresh token (its lifetime in the
// token's "refresh_token_expires_in" extra); there is no long-lived
// upgrade. verifier is ignored: the flow has no PKCE.
//
// Expiry is set from expires_in by the connector's clock. A rejected code
// (expired, replayed, another redirect URL) is Permanent: the user must
// start the authorization again; so are rejected app credentials.
// Throttling, 5xx and network failures keep their usual classes and are
// not retried here. Errors contain neither the code nor the secret.
func (c *Connector) Exchange(ctx context.Context, code, verifier string) (*oauth2.Token, error) {
	const op = "exchange"
	if c.clientID == "" || c.clientSecret == "" {
		return nil, c.newError(op, platforms.Permanent, 0, errNoClient)
	}
	if code == "" {
		return nil, c.newError(op, platforms.Permanent, 0, errors.New("empty authorization code"))
	}
	tok, err := c.OAuth2().Exchange(c.clientContext(ctx), code)
	if err != nil {
		return nil, c.tokenError(op, platforms.Permanent, err, code)
	}
	return c.stamp(tok), nil
}

// Refresh renews tok with its refresh token (grant_type=refresh_token): a
// new 60-day access token, capped by the refresh token's own expiry.
// LinkedIn does not rotate refresh tokens (the answer carries the same one,
// or none, and tok's is then kept) and never extends them: 365 days after
// the authorization the member must authorize again.
//
// A token without a refresh token (LinkedIn issues them to approved
// partner apps only), or one LinkedIn rejects (expired or revoked), is
// Reauth. An expired access token does not matter: the refresh token alone
// is presented. tok is not modified.
func (c *Connector) Refresh(ctx context.Context, tok *oauth2.Token) (*oauth2.Token, error) {
	const op = "refresh"
	if c.clientID == "" || c.clientSecret == "" {
		return nil, c.newError(op, platforms.Permanent, 0, errNoClient)
	}
	if tok == nil || tok.RefreshToken == "" {
		return nil, c.newError(op, platforms.Reauth, 0,
			errors.New("no refresh token: LinkedIn issues them to approved partner apps only; the member must authorize again"))
	}
	// A token without an access token is never valid, so the source goes
	// straight to the refresh_token grant.
	src := c.OAuth2().TokenSource(c.clientContext(ctx), &oauth2.Token{RefreshToken: tok.RefreshToken})
	nt, err := src.Token()
	if err != nil {
		return nil, c.tokenError(op, platforms.Reauth, err, tok.AccessToken, tok.RefreshToken)
	}
	return c.stamp(nt), nil
}

// stamp sets tok's Expiry from expires_in by the connector's clock (the
// oauth2 package uses the wall clock).
func (c *Connector) stamp(tok *oauth2.Token) *oauth2.Token {
	if n, ok := seconds(tok.Extra("expires_in")); ok && n > 0 {
		tok.Expiry = c.now().Add(time.Duration(n) * time.Second)
	}
	return tok
}

// seconds reads a JSON number (or numeric string) of seconds.
func seconds(v any) (int64, bool) {
	switch n := v.(type) {
	case float64:
		if n >= 0 && n < 1e12 {
			return int64(n), true
		}
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case string:
		i, err := strconv.ParseInt(n, 10, 64)
		return i, err == nil
	}
	return 0, false
}

// clientContext makes the oauth2 package use the connector's HTTP client.
func (c *Connector) clientContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.client)
}

// tokenError classifies a failure of the token endpoint: 429 is Throttled
// (until the next midnight UTC), 5xx and failures without a response are
// Transient, rejected app credentials (invalid_client) and answers that are
// not OAuth errors (a wrong URL, a proxy) are Permanent, and any other
// rejection (invalid_request, invalid_grant) is of class rejected. The
// message is rebuilt from the status and the OAuth error fields, so the
// response body is never printed, and the client secret and the given
// secrets are redacted from it.
func (c *Connector) tokenError(op string, rejected platforms.Class, err error, secrets ...string) error {
	secrets = append(secrets, c.clientSecret)
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		// Network failure, timeout, cancellation or an unparsable answer.
		return c.newError(op, platforms.Transient, 0, httpx.Redact(err, secrets...))
	}
	status := re.Response.StatusCode
	class := rejected
	switch {
	case status == http.StatusTooManyRequests:
		class = platforms.Throttled
	case status >= 500:
		class = platforms.Transient
	case re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client":
		class = platforms.Permanent
	case re.ErrorCode == "" && status != http.StatusBadRequest && status != http.StatusUnauthorized:
		class = platforms.Permanent
	}
	msg := re.ErrorCode
	if msg == "" {
		msg = http.StatusText(status)
	}
	if re.ErrorDescription != "" {
		msg += ": " + re.ErrorDescription
	}
	e := c.newError(op, class, status, httpx.Redact(httpx.TokenEndpointError(msg, err), secrets...))
	if class == platforms.Throttled {
		e.Limit = c.exhausted()
		e.RetryAfter = e.Limit.Reset
	}
	return e
}
