package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/internal/httpx"
)

// Exchange trades an authorization code from Facebook Login for a
// long-lived user token: the code exchange returns a short-lived token
// (about an hour), which a second call upgrades with
// grant_type=fb_exchange_token (about 60 days). Both calls carry the app's
// id and secret in the request body; the code exchange also carries the
// redirect URL, which must be the authorize request's.
//
// A rejected code (expired, replayed, wrong redirect URL) or a failed
// upgrade is Permanent: the user must start again. Rejected app
// credentials are Permanent. Throttling, 5xx and network failures keep
// their usual classes and are not retried here.
func (c *Client) Exchange(ctx context.Context, code string) (*oauth2.Token, error) {
	const op = "exchange"
	if c.ClientID == "" || c.ClientSecret == "" {
		return nil, c.NewError(op, platforms.Permanent, 0, errNoClient)
	}
	if code == "" {
		return nil, c.NewError(op, platforms.Permanent, 0, errors.New("empty authorization code"))
	}
	short, err := c.TokenRequest(ctx, op, http.MethodPost, c.TokenURL(), url.Values{
		"client_id":     {c.ClientID},
		"client_secret": {c.ClientSecret},
		"redirect_uri":  {c.RedirectURL},
		"code":          {code},
	}, platforms.Permanent, code)
	if err != nil {
		return nil, err
	}
	return c.TokenRequest(ctx, op, http.MethodPost, c.TokenURL(), c.exchangeForm(short.AccessToken), platforms.Permanent, code, short.AccessToken)
}

// Refresh renews a long-lived user token by exchanging it again
// (grant_type=fb_exchange_token): Meta has no refresh tokens, and only a
// token that is still valid can be exchanged. A token that has expired (by
// its Expiry, or as Meta says), was revoked or is otherwise rejected is
// Reauth: the user must log in again. tok is not modified.
func (c *Client) Refresh(ctx context.Context, tok *oauth2.Token) (*oauth2.Token, error) {
	const op = "refresh"
	if c.ClientID == "" || c.ClientSecret == "" {
		return nil, c.NewError(op, platforms.Permanent, 0, errNoClient)
	}
	if tok == nil || tok.AccessToken == "" {
		return nil, c.NewError(op, platforms.Reauth, 0, errors.New("no access token"))
	}
	if !tok.Expiry.IsZero() && !c.Now().Before(tok.Expiry) {
		return nil, c.NewError(op, platforms.Reauth, 0, errors.New("the token has expired; Meta cannot renew an expired token"))
	}
	return c.TokenRequest(ctx, op, http.MethodPost, c.TokenURL(), c.exchangeForm(tok.AccessToken), platforms.Reauth, tok.AccessToken)
}

// exchangeForm is the fb_exchange_token request for token.
func (c *Client) exchangeForm(token string) url.Values {
	return url.Values{
		"grant_type":        {"fb_exchange_token"},
		"client_id":         {c.ClientID},
		"client_secret":     {c.ClientSecret},
		"fb_exchange_token": {token},
	}
}

// tokenBody is a token endpoint's success body. Instagram Login's code
// exchange wraps it in {"data":[...]} and adds user_id.
type tokenBody struct {
	AccessToken string          `json:"access_token"`
	TokenType   string          `json:"token_type"`
	ExpiresIn   json.Number     `json:"expires_in"`
	UserID      json.RawMessage `json:"user_id"`
	Data        []tokenBody     `json:"data"`
}

// TokenRequest calls a token endpoint: a POST of form, or a GET with form
// as the query. It returns the token with Expiry set from expires_in (zero
// when absent: a token that does not expire) and the body's other fields
// in Extra (e.g. user_id).
//
// Failures are classified: throttling Throttled, 5xx, network failures and
// malformed answers Transient, rejected app credentials (error code 101)
// and non-Meta 4xx answers Permanent, and any other rejection of class
// rejected. Messages contain neither the app secret nor any of secrets.
func (c *Client) TokenRequest(ctx context.Context, op, method, endpoint string, form url.Values, rejected platforms.Class, secrets ...string) (*oauth2.Token, error) {
	tok, err := c.tokenRequest(ctx, op, method, endpoint, form, rejected)
	if err != nil {
		err.Err = httpx.Redact(err.Err, append(secrets, c.ClientSecret)...)
		return nil, err
	}
	return tok, nil
}

func (c *Client) tokenRequest(ctx context.Context, op, method, endpoint string, form url.Values, rejected platforms.Class) (*oauth2.Token, *platforms.Error) {
	var body io.Reader
	target := endpoint
	if method == http.MethodGet {
		target += "?" + form.Encode()
	} else {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, c.NewError(op, platforms.Permanent, 0, fmt.Errorf("build request: %w", err))
	}
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", httpx.UserAgent)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, c.NewError(op, platforms.Transient, 0, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	switch {
	case err != nil:
		return nil, c.NewError(op, platforms.Transient, resp.StatusCode, fmt.Errorf("read body: %w", err))
	case len(b) > maxBodyBytes:
		return nil, c.NewError(op, platforms.Permanent, resp.StatusCode, fmt.Errorf("body exceeds %d bytes", maxBodyBytes))
	}
	limit, _ := ParseUsage(resp.Header, c.Now())
	ge := ParseError(b)
	if resp.StatusCode < 200 || resp.StatusCode > 299 || ge != nil {
		e := c.apiError(op, resp.StatusCode, b, limit, resp.Header)
		switch {
		case e.Class == platforms.Throttled || e.Class == platforms.Transient:
		case ge != nil && ge.Code == 101:
			e.Class = platforms.Permanent // the app's id or secret
		case ge == nil && resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnauthorized:
			e.Class = platforms.Permanent // not Meta's answer: a wrong URL or a proxy
		default:
			e.Class = rejected
		}
		return nil, e
	}
	var tb tokenBody
	if err := httpx.DecodeObject(b, &tb); err != nil {
		return nil, c.NewError(op, platforms.Transient, resp.StatusCode, fmt.Errorf("malformed token response: %w", err))
	}
	if tb.AccessToken == "" && len(tb.Data) > 0 {
		tb = tb.Data[0]
	}
	if tb.AccessToken == "" {
		return nil, c.NewError(op, platforms.Transient, resp.StatusCode, errors.New("no access_token in token response"))
	}
	tok := &oauth2.Token{AccessToken: tb.AccessToken, TokenType: tb.TokenType}
	if tok.TokenType == "" {
		tok.TokenType = "bearer"
	}
	if n, err := tb.ExpiresIn.Int64(); err == nil && n > 0 {
		tok.Expiry = c.Now().Add(time.Duration(n) * time.Second)
	}
	extra := map[string]any{}
	if len(tb.UserID) > 0 {
		extra["user_id"] = strings.Trim(string(tb.UserID), `"`)
	}
	return tok.WithExtra(extra), nil
}
