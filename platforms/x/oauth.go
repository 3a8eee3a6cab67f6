package x

import (
	"context"
	"errors"
	"net/http"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/internal/httpx"
	"github.com/pulsehq/pulse/topics"
)

// Exchange trades an authorization code and its PKCE verifier for a token
// at X's token endpoint. X tokens are already what Pulse keeps: a two-hour
// access token and, with offline.access, a refresh token; there is no
// long-lived upgrade.
//
// A rejected code (expired, replayed, wrong verifier or redirect URL) is
// Permanent: the user must start the authorize flow again. Throttling, 5xx
// and network failures keep their usual classes and are not retried here.
func (c *Connector) Exchange(ctx context.Context, code, verifier string) (*oauth2.Token, error) {
	const op = "exchange"
	if c.clientID == "" {
		return nil, c.newError(op, platforms.Permanent, 0, errNoClientID)
	}
	if code == "" {
		return nil, c.newError(op, platforms.Permanent, 0, errors.New("empty authorization code"))
	}
	var opts []oauth2.AuthCodeOption
	if verifier != "" {
		opts = append(opts, oauth2.VerifierOption(verifier))
	}
	tok, err := c.OAuth2().Exchange(c.clientContext(ctx), code, opts...)
	if err != nil {
		return nil, c.tokenError(op, platforms.Permanent, err, code, verifier)
	}
	return tok, nil
}

// Refresh renews tok with its refresh token. X rotates refresh tokens: the
// returned token carries a new one and tok's stops working, so the caller
// must persist the result before using it.
//
// A token without a refresh token, or one X rejects, is Reauth: the user
// must link the account again. tok is not modified.
func (c *Connector) Refresh(ctx context.Context, tok *oauth2.Token) (*oauth2.Token, error) {
	const op = "refresh"
	if c.clientID == "" {
		return nil, c.newError(op, platforms.Permanent, 0, errNoClientID)
	}
	if tok == nil || tok.RefreshToken == "" {
		return nil, c.newError(op, platforms.Reauth, 0, errors.New("no refresh token"))
	}
	// A token without an access token is never valid, so the source goes
	// straight to the refresh_token grant.
	src := c.OAuth2().TokenSource(c.clientContext(ctx), &oauth2.Token{RefreshToken: tok.RefreshToken})
	nt, err := src.Token()
	if err != nil {
		return nil, c.tokenError(op, platforms.Reauth, err, tok.AccessToken, tok.RefreshToken)
	}
	return nt, nil
}

// clientContext makes the oauth2 package use the connector's HTTP client.
func (c *Connector) clientContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.client)
}

// tokenError classifies a failure of the token endpoint: 429 is Throttled,
// 5xx and failures without a response are Transient, rejected client
// credentials are Permanent (relinking cannot fix them) and any other
// rejection is of class rejected. The message is rebuilt from the status and
// the OAuth error fields, so the response body is never printed, and the
// given secrets are redacted from it.
func (c *Connector) tokenError(op string, rejected platforms.Class, err error, secrets ...string) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		// Network failure, timeout, cancellation or an unparsable answer.
		return c.newError(op, platforms.Transient, 0, httpx.RedactRaw(err, secrets...))
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
	}
	msg := re.ErrorCode
	if msg == "" {
		msg = http.StatusText(status)
	}
	if re.ErrorDescription != "" {
		msg += ": " + re.ErrorDescription
	}
	e := c.newError(op, class, status, httpx.RedactRaw(httpx.TokenEndpointError(msg, err), secrets...))
	if class == platforms.Throttled {
		e.Limit, _ = parseRateLimit(re.Response.Header)
		e.RetryAfter = c.retryAfter(e.Limit)
	}
	return e
}

func (c *Connector) newError(op string, class platforms.Class, status int, err error) *platforms.Error {
	return &platforms.Error{Platform: topics.X, Op: op, Class: class, Status: status, Limit: platforms.Unknown(), Err: err}
}
