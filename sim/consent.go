package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Consent is a simulated user's answer on a platform's consent page.
type Consent struct {
	// Account is the id of the account to authorize as; "" picks the
	// platform's first account.
	Account string
	// Also are further accounts to share in the same authorization, on
	// platforms whose consent page lets the user tick several (Facebook
	// Pages, Instagram accounts). Account must then be set.
	Also []string
	// Deny refuses the authorization instead.
	Deny bool
}

// Authorize plays the user on a simulated platform's consent page: it loads
// authURL (an authorize URL made by a connector's oauth2.Config pointed at
// a Server, parameters included), checks that the page renders, and submits
// the decision c. It returns the URL the platform redirects the browser to
// (the app's redirect URI with a code and the state, or with an error),
// without following it.
//
// Every simulated consent page is a form posted back to its own URL with
// the request's parameters, "account" and "decision" ("allow" or "deny");
// Authorize relies on that. client must reach the Server; Authorize uses a
// copy that does not follow redirects. It fails when the page or the
// decision is refused (an invalid request) or does not redirect.
func Authorize(ctx context.Context, client *http.Client, authURL string, c Consent) (*url.URL, error) {
	u, err := url.Parse(authURL)
	if err != nil {
		return nil, fmt.Errorf("sim: authorize: %w", err)
	}
	cl := *client
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return nil, fmt.Errorf("sim: authorize: %w", err)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sim: authorize: consent page: %w", err)
	}
	page, _ := io.ReadAll(io.LimitReader(resp.Body, maxFormBytes))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("sim: authorize: consent page: %s: %s", resp.Status, strings.TrimSpace(string(page)))
	}

	form := u.Query()
	if c.Account != "" {
		form["account"] = append([]string{c.Account}, c.Also...)
	}
	form.Set("decision", "allow")
	if c.Deny {
		form.Set("decision", "deny")
	}
	action := *u
	action.RawQuery, action.Fragment = "", ""
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("sim: authorize: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = cl.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sim: authorize: decision: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxFormBytes))
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("sim: authorize: decision: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	loc, err := resp.Location()
	if err != nil {
		return nil, errors.New("sim: authorize: decision: redirect without a valid Location")
	}
	return loc, nil
}
