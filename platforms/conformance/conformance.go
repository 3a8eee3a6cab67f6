// Package conformance checks that a platform connector behaves the way
// Pulse needs, whatever its platform, against the platform's simulator
// (package sim) with a fake clock. Every connector package runs it:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, conformance.Harness{
//			Platform: topics.X,
//			New:      newTestConnector,
//			...
//		})
//	}
//
// The suite covers the OAuth code flow (authorize page, code, Exchange with
// PKCE when the connector uses it, the long-lived upgrade where the
// platform has one, replayed codes, denial, a mismatched redirect URL),
// token refresh, a fetch's account snapshot and posts against the
// simulator's values at its clock, posts pagination and its cap
// (MaxPostPages), the incremental cursor, each rate-limit signal the
// harness lists (a Throttled error with a RetryAfter that is honoured), the
// error classes (revoked or expired token Reauth, missing permission
// Permission, 5xx and malformed bodies Transient after retries, other 4xx
// Permanent at once, cancellation), and that no error message contains a
// token, code or secret.
package conformance

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
)

// Harness describes the connector under test.
type Harness struct {
	// Platform is the connector's platform; the simulator must simulate it
	// and the connector's package must register it. Required.
	Platform topics.Platform
	// New builds the connector from cfg, which the suite points at the
	// simulator. clock is the simulator's: a connector that computes times
	// from its own clock (token expiries, RetryAfter without a reset
	// header) should use it. Tests typically also shorten the retry
	// backoff here. Required.
	New func(cfg platforms.Config, clock func() time.Time) (platforms.Connector, error)
	// WantAccount returns the account ParseAccount must return for the
	// simulator's account a with counters m. Required.
	WantAccount func(a sim.Account, m sim.AccountMetrics) platforms.Account
	// WantPost returns the post ParsePosts must return for the simulator's
	// post p of account a. Required.
	WantPost func(a sim.Account, p sim.Post) platforms.PostData
	// ExchangeTTL is the lifetime of the token Exchange returns, after any
	// long-lived upgrade, within two minutes. Zero: not checked.
	ExchangeTTL time.Duration
	// RefreshNeedsLiveToken is true for platforms whose Refresh renews the
	// access token itself (Meta): once it has expired, Refresh must fail
	// with Reauth.
	RefreshNeedsLiveToken bool
	// NarrowScopes are the scopes granted in the permission check: Fetch
	// with such a token must fail with Permission. Default: the first of
	// the connector's OAuth2().Scopes.
	NarrowScopes []string
	// RateLimits are the platform's throttling signals; each must make
	// Fetch fail with Throttled. At least one is required.
	RateLimits []RateLimitCase
	// Sim adjusts the simulator's config for every check (e.g. to register
	// the app). Optional.
	Sim func(*sim.Config)
	// MultiAccount is true for platforms whose grants cover several
	// accounts (Facebook Pages, Instagram accounts): Fetch must read each
	// one asked for.
	MultiAccount bool
	// HistoryOnly is true for platforms whose connector reads only the
	// follower history, on a backfill (LinkedIn): no daily reach, views or
	// profile views, and no insights call on a regular fetch.
	HistoryOnly bool
	// RetiredMetric is a metric the connector reads that Retire makes the
	// simulator refuse as retired; empty for platforms without insights.
	RetiredMetric string
	Retire        func(c *sim.Config, names []string)
}

// RateLimitCase is one way a platform signals throttling: a simulator
// config or a fault that makes a fetch hit it within a few fetches.
type RateLimitCase struct {
	// Name names the case in test output.
	Name string
	// Sim adjusts the simulator's config, e.g. a limit of a few requests.
	Sim func(*sim.Config)
	// Faults, when not nil, are injected on the platform.
	Faults *sim.Faults
	// Check checks the platform-specific part of the error (codes, the
	// RateLimit's fields) at the simulator's time now. Optional.
	Check func(t *testing.T, now time.Time, pe *platforms.Error)
}

func (h Harness) validate() error {
	switch {
	case h.Platform == "":
		return errors.New("no Platform")
	case h.New == nil:
		return errors.New("no New")
	case h.WantAccount == nil || h.WantPost == nil:
		return errors.New("no WantAccount or WantPost")
	case len(h.RateLimits) == 0:
		return errors.New("no RateLimits")
	case h.RetiredMetric != "" && h.Retire == nil:
		return errors.New("RetiredMetric without Retire")
	}
	return nil
}

// Run runs the conformance suite for h, each check as a subtest with its
// own simulator.
func Run(t *testing.T, h Harness) {
	if err := h.validate(); err != nil {
		t.Fatalf("conformance: invalid harness: %v", err)
	}
	t.Run("Registered", func(t *testing.T) { testRegistered(t, h) })
	t.Run("OAuthCodeFlow", func(t *testing.T) { testCodeFlow(t, h) })
	t.Run("Refresh", func(t *testing.T) { testRefresh(t, h) })
	t.Run("FetchSnapshot", func(t *testing.T) { testSnapshot(t, h) })
	t.Run("PostsPagination", func(t *testing.T) { testPagination(t, h) })
	t.Run("IncrementalCursor", func(t *testing.T) { testIncremental(t, h) })
	t.Run("RefreshWindow", func(t *testing.T) { testRefreshWindow(t, h) })
	for _, rc := range h.RateLimits {
		t.Run("RateLimit/"+rc.Name, func(t *testing.T) { testRateLimit(t, h, rc) })
	}
	t.Run("Reauth", func(t *testing.T) { testReauth(t, h) })
	t.Run("Permission", func(t *testing.T) { testPermission(t, h) })
	t.Run("TransientRetried", func(t *testing.T) { testTransient(t, h) })
	t.Run("MalformedRetried", func(t *testing.T) { testMalformed(t, h) })
	t.Run("PermanentNotRetried", func(t *testing.T) { testPermanent(t, h) })
	t.Run("Cancellation", func(t *testing.T) { testCancellation(t, h) })
	t.Run("ParsersRejectGarbage", func(t *testing.T) { testParsers(t, h) })
	t.Run("ExactAccount", func(t *testing.T) { testExactAccount(t, h) })
	t.Run("InsightsAndHistory", func(t *testing.T) { testInsights(t, h) })
	t.Run("RetiredMetricSkipped", func(t *testing.T) { testRetiredMetric(t, h) })
}

func testRegistered(t *testing.T, h Harness) {
	if !slices.Contains(platforms.Registered(), h.Platform) {
		t.Fatalf("%s is not registered (platforms.Register in the package's init)", h.Platform)
	}
	c, err := platforms.New(h.Platform, platforms.Config{})
	if err != nil {
		t.Fatalf("platforms.New(%s, zero config): %v", h.Platform, err)
	}
	if c.Platform() != h.Platform {
		t.Errorf("registered factory made a %s connector", c.Platform())
	}
	if cfg := c.OAuth2(); cfg.Endpoint.AuthURL == "" || cfg.Endpoint.TokenURL == "" || len(cfg.Scopes) == 0 {
		t.Errorf("default OAuth2 config lacks endpoints or scopes: %+v", cfg)
	}
}

func testCodeFlow(t *testing.T, h Harness) {
	e := NewEnv(t, h, nil, nil)
	ctx := t.Context()
	cfg := e.Conn.OAuth2()
	base := sim.BaseURL(e.Server.URL, h.Platform)
	if !strings.HasPrefix(cfg.Endpoint.AuthURL, base+"/") || !strings.HasPrefix(cfg.Endpoint.TokenURL, base+"/") {
		t.Errorf("endpoints %+v are not under the configured base URLs %s", cfg.Endpoint, base)
	}
	if cfg.RedirectURL != e.Config.RedirectURL || cfg.ClientID != ClientID || len(cfg.Scopes) == 0 {
		t.Errorf("OAuth2 config %+v does not carry the connector's settings", cfg)
	}

	pkce := func() (string, []oauth2.AuthCodeOption) {
		if !e.Conn.UsesPKCE() {
			return "", nil
		}
		v := oauth2.GenerateVerifier()
		return v, []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(v)}
	}
	want := e.Account(2)
	verifier, opts := pkce()
	loc := e.Authorize(cfg, "state-conformance-1", sim.Consent{Account: want.ID}, opts...)
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code in redirect %s", loc)
	}
	tok, err := e.Conn.Exchange(ctx, code, verifier)
	if err != nil {
		e.NoLeak(err)
		t.Fatalf("Exchange: %v", err)
	}
	e.Remember(tok.AccessToken, tok.RefreshToken)
	if tok.AccessToken == "" || !strings.EqualFold(tok.Type(), "Bearer") {
		t.Errorf("token %+v", tok)
	}
	if h.ExchangeTTL > 0 {
		simTTL, wallTTL := tok.Expiry.Sub(e.Clock.Now()), time.Until(tok.Expiry)
		if (simTTL-h.ExchangeTTL).Abs() > 2*time.Minute && (wallTTL-h.ExchangeTTL).Abs() > 2*time.Minute {
			t.Errorf("token expires in %v (sim clock) or %v (wall clock), want %v", simTTL, wallTTL, h.ExchangeTTL)
		}
	}
	f, err := e.Fetch(ctx, tok, "")
	if err != nil {
		e.NoLeak(err)
		t.Fatalf("Fetch with the exchanged token: %v", err)
	}
	if f.AccountID != want.ID {
		t.Errorf("fetched account %s, want the authorized %s", f.AccountID, want.ID)
	}

	// A replayed code is refused.
	_, err = e.Conn.Exchange(ctx, code, verifier)
	e.ExpectError(err, platforms.Permanent)

	// A code redeemed with another redirect URL is refused.
	verifier, opts = pkce()
	code = e.Authorize(cfg, "state-conformance-2", sim.Consent{}, opts...).Query().Get("code")
	other := e.NewConn(func(c *platforms.Config) { c.RedirectURL = "https://elsewhere.example/callback" })
	_, err = other.Exchange(ctx, code, verifier)
	e.ExpectError(err, platforms.Permanent)

	// With PKCE, a wrong verifier is refused.
	if e.Conn.UsesPKCE() {
		verifier, opts = pkce()
		code = e.Authorize(cfg, "state-conformance-3", sim.Consent{}, opts...).Query().Get("code")
		_, err = e.Conn.Exchange(ctx, code, oauth2.GenerateVerifier())
		e.ExpectError(err, platforms.Permanent)
	}

	// A denial redirects with an error and the state, without a code.
	_, opts = pkce()
	loc = e.Authorize(cfg, "state-conformance-4", sim.Consent{Deny: true}, opts...)
	if loc.Query().Get("error") != "access_denied" || loc.Query().Get("code") != "" {
		t.Errorf("denied consent redirected to %s", loc)
	}

	// An empty code never reaches the platform.
	_, err = e.Conn.Exchange(ctx, "", verifier)
	e.ExpectError(err, platforms.Permanent)
}

func testRefresh(t *testing.T, h Harness) {
	e := NewEnv(t, h, nil, nil)
	ctx := t.Context()

	tok := e.Token(0)
	before := *tok
	nt, err := e.Conn.Refresh(ctx, tok)
	if err != nil {
		e.NoLeak(err)
		t.Fatalf("Refresh: %v", err)
	}
	e.Remember(nt.AccessToken, nt.RefreshToken)
	if tok.AccessToken != before.AccessToken || tok.RefreshToken != before.RefreshToken || !tok.Expiry.Equal(before.Expiry) {
		t.Error("Refresh modified its argument")
	}
	if nt.AccessToken == "" || nt.AccessToken == tok.AccessToken {
		t.Errorf("refreshed token %+v is not a new token", nt)
	}
	if f, err := e.Fetch(ctx, nt, ""); err != nil {
		e.NoLeak(err)
		t.Errorf("Fetch with the refreshed token: %v", err)
	} else if f.AccountID != e.Account(0).ID {
		t.Errorf("refreshed token reads account %s, want %s", f.AccountID, e.Account(0).ID)
	}

	// A revoked token cannot be renewed: the user must link again.
	tok = e.Token(1)
	e.Sim.Revoke(tok.AccessToken)
	_, err = e.Conn.Refresh(ctx, tok)
	e.ExpectError(err, platforms.Reauth)

	_, err = e.Conn.Refresh(ctx, &oauth2.Token{})
	e.ExpectError(err, platforms.Reauth)

	if h.RefreshNeedsLiveToken {
		tok = e.Token(2)
		unknown := e.Token(3)
		unknown.Expiry = time.Time{} // the platform must say it expired
		e.Clock.Set(tok.Expiry.Add(time.Second))
		_, err = e.Conn.Refresh(ctx, tok)
		e.ExpectError(err, platforms.Reauth)
		_, err = e.Conn.Refresh(ctx, unknown)
		e.ExpectError(err, platforms.Reauth)
	}
}

func testSnapshot(t *testing.T, h Harness) {
	e := NewEnv(t, h, nil, nil)
	e.Clock.Advance(37*time.Minute + 13*time.Second) // any instant: the sim's values are pure
	acct := e.Account(4)
	tok := e.Token(4)
	e.Sim.ResetStats()

	f, err := e.Fetch(t.Context(), tok, "")
	if err != nil {
		e.NoLeak(err)
		t.Fatalf("Fetch: %v", err)
	}
	now := e.Clock.Now()
	got, err := e.Conn.ParseAccount(f.AccountBody)
	if err != nil {
		t.Fatalf("ParseAccount: %v", err)
	}
	m, err := e.Sim.Metrics(h.Platform, acct.ID, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := h.WantAccount(acct, m); got != want {
		t.Errorf("account %+v, want %+v", got, want)
	}
	if followers, _ := e.Sim.Followers(h.Platform, acct.ID, now); got.Followers != followers {
		t.Errorf("followers %d, want the simulator's %d at %v", got.Followers, followers, now)
	}
	if f.AccountID != acct.ID {
		t.Errorf("AccountID %q, want %q", f.AccountID, acct.ID)
	}

	posts := e.ParseAll(f)
	if len(posts) == 0 {
		t.Fatal("no posts")
	}
	simPosts, _ := e.Sim.Posts(h.Platform, acct.ID, now, len(posts))
	if len(simPosts) != len(posts) {
		t.Fatalf("%d posts, the simulator has %d", len(posts), len(simPosts))
	}
	for i, p := range posts {
		if want := h.WantPost(acct, simPosts[i]); p != want {
			t.Fatalf("post %d = %+v\nwant %+v", i, p, want)
		}
	}
	if f.NextCursor == "" {
		t.Error("no NextCursor after reading posts")
	}

	if st := e.Sim.Stats().Platforms[h.Platform]; int64(f.Calls) != st.Requests {
		t.Errorf("Fetch counted %d calls, the simulator saw %d", f.Calls, st.Requests)
	}
	if f.Limit == platforms.Unknown() {
		t.Error("Fetch.Limit is unknown: the simulator sent rate-limit headers")
	}
}

func testPagination(t *testing.T, h Harness) {
	for _, pages := range []int{1, 2, 3} {
		e := NewEnv(t, h, nil, func(c *platforms.Config) { c.MaxPostPages = pages })
		f, err := e.Fetch(t.Context(), e.Token(0), "")
		if err != nil {
			e.NoLeak(err)
			t.Fatalf("Fetch: %v", err)
		}
		if len(f.PostBodies) != pages {
			t.Errorf("MaxPostPages %d: read %d pages", pages, len(f.PostBodies))
		}
		seen := map[string]bool{}
		var prev platforms.PostData
		for i, b := range f.PostBodies {
			page, err := e.Conn.ParsePosts(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) < 2 {
				t.Errorf("page %d has %d posts", i, len(page))
			}
			for _, p := range page {
				if seen[p.ID] {
					t.Errorf("post %s read twice", p.ID)
				}
				seen[p.ID] = true
				if prev.ID != "" && !p.CreatedAt.Before(prev.CreatedAt) {
					t.Errorf("post %s (%v) after %s (%v): not newest first", p.ID, p.CreatedAt, prev.ID, prev.CreatedAt)
				}
				prev = p
			}
		}
		simPosts, _ := e.Sim.Posts(h.Platform, e.Account(0).ID, e.Clock.Now(), len(seen))
		for _, p := range simPosts {
			if !seen[p.ID] {
				t.Errorf("MaxPostPages %d: skipped post %s", pages, p.ID)
			}
		}
	}
}

func testIncremental(t *testing.T, h Harness) {
	e := NewEnv(t, h, nil, func(c *platforms.Config) { c.MaxPostPages = 5 })
	ctx := t.Context()
	acct := e.Account(0)

	f, err := e.Fetch(ctx, e.Token(0), "")
	if err != nil {
		e.NoLeak(err)
		t.Fatal(err)
	}
	c1 := f.NextCursor
	newest, _ := e.Sim.Posts(h.Platform, acct.ID, e.Clock.Now(), 1)
	if c1 == "" || len(newest) != 1 {
		t.Fatalf("cursor %q after a full fetch", c1)
	}
	boundary := newest[0]

	// Nothing new: at most the newest post again, and the cursor stays.
	f, err = e.Fetch(ctx, e.Token(0), c1)
	if err != nil {
		e.NoLeak(err)
		t.Fatal(err)
	}
	for _, p := range e.ParseAll(f) {
		if p.ID != boundary.ID {
			t.Errorf("no new posts, yet read %s (%v)", p.ID, p.CreatedAt)
		}
	}
	if f.NextCursor != c1 {
		t.Errorf("NextCursor %q, want %q unchanged", f.NextCursor, c1)
	}

	// A day later: exactly the day's posts (and maybe the boundary post).
	e.Clock.Advance(24 * time.Hour)
	all, _ := e.Sim.Posts(h.Platform, acct.ID, e.Clock.Now(), 0)
	want := map[string]bool{}
	for _, p := range all {
		if !p.CreatedAt.After(boundary.CreatedAt) {
			break
		}
		want[p.ID] = true
	}
	if len(want) == 0 {
		t.Fatal("the simulator published nothing in a day")
	}
	f, err = e.Fetch(ctx, e.Token(0), c1)
	if err != nil {
		e.NoLeak(err)
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, p := range e.ParseAll(f) {
		got[p.ID] = true
		if !want[p.ID] && p.ID != boundary.ID {
			t.Errorf("read post %s (%v), older than the cursor", p.ID, p.CreatedAt)
		}
	}
	for id := range want {
		if !got[id] {
			t.Errorf("missed new post %s", id)
		}
	}
	c2 := f.NextCursor
	if c2 == "" || c2 == c1 {
		t.Errorf("NextCursor %q after new posts (was %q)", c2, c1)
	}
	f, err = e.Fetch(ctx, e.Token(0), c2)
	if err != nil {
		e.NoLeak(err)
		t.Fatal(err)
	}
	for _, p := range e.ParseAll(f) {
		if p.ID != all[0].ID {
			t.Errorf("from the new cursor, read %s", p.ID)
		}
	}

	// A cursor the connector never made is Permanent, without a call.
	f, err = e.Fetch(ctx, e.Token(0), "not-a-cursor")
	e.ExpectError(err, platforms.Permanent)
	if f == nil || f.Calls != 0 || f.NextCursor != "not-a-cursor" {
		t.Errorf("invalid cursor: fetch %+v", f)
	}
}

// testRefreshWindow checks Request.Since, the decaying refresh: with a
// cursor, a fetch reads every post created since Since when Since reaches
// further back than the cursor, only the new posts otherwise, and its
// NextCursor never moves back.
func testRefreshWindow(t *testing.T, h Harness) {
	e := NewEnv(t, h, nil, func(c *platforms.Config) { c.MaxPostPages = 5 })
	ctx := t.Context()
	acct := e.Account(0)
	f, err := e.Fetch(ctx, e.Token(0), "")
	if err != nil {
		e.NoLeak(err)
		t.Fatal(err)
	}
	e.Clock.Advance(6 * time.Hour)
	f, err = e.Fetch(ctx, e.Token(0), f.NextCursor)
	if err != nil {
		e.NoLeak(err)
		t.Fatal(err)
	}
	cur := f.NextCursor
	newOnly := len(e.ParseAll(f))
	incrCalls := f.Calls

	e.Clock.Advance(time.Hour)
	now := e.Clock.Now()
	since := now.Add(-2 * 24 * time.Hour).Truncate(time.Second)
	all, _ := e.Sim.Posts(h.Platform, acct.ID, now, 0)
	want := map[string]bool{}
	var newest string
	for _, p := range all {
		if newest == "" {
			newest = p.ID
		}
		if p.CreatedAt.Before(since) {
			break
		}
		want[p.ID] = true
	}
	if len(want) <= newOnly+1 {
		t.Fatalf("the simulator published %d posts in two days, %d in the last hour: no window to test", len(want), newOnly)
	}
	f, err = e.FetchReq(ctx, e.Token(0), platforms.Request{Cursor: cur, Since: since})
	if err != nil {
		e.NoLeak(err)
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, p := range e.ParseAll(f) {
		got[p.ID] = true
		if !want[p.ID] {
			t.Errorf("read post %s (%v), created before Since %v", p.ID, p.CreatedAt, since)
		}
	}
	for id := range want {
		if !got[id] {
			t.Errorf("missed post %s of the refresh window", id)
		}
	}
	if f.NextCursor != cur {
		// No post is newer than cur's (the clock moved an hour, maybe
		// publishing one): the cursor moves only forward.
		g, err := e.Fetch(ctx, e.Token(0), f.NextCursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range e.ParseAll(g) {
			if p.ID != newest {
				t.Errorf("NextCursor %q after a refresh moved back: it reads %s again", f.NextCursor, p.ID)
			}
		}
	}
	if f.Calls < incrCalls {
		t.Errorf("a refresh of two days cost %d calls, an incremental read %d", f.Calls, incrCalls)
	}

	// Since after the cursor's post: the cursor alone.
	f, err = e.FetchReq(ctx, e.Token(0), platforms.Request{Cursor: cur, Since: now})
	if err != nil {
		e.NoLeak(err)
		t.Fatal(err)
	}
	for _, p := range e.ParseAll(f) {
		if p.CreatedAt.Before(since) || !want[p.ID] {
			t.Errorf("Since after the cursor: read %s (%v)", p.ID, p.CreatedAt)
		}
	}
	if n := len(e.ParseAll(f)); n >= len(want) {
		t.Errorf("Since after the cursor read %d posts, the whole window (%d)", n, len(want))
	}
}

func testRateLimit(t *testing.T, h Harness, rc RateLimitCase) {
	e := NewEnv(t, h, rc.Sim, func(c *platforms.Config) { c.MaxPostPages = 1 })
	ctx := t.Context()
	if rc.Faults != nil {
		if err := e.Sim.SetFaults(h.Platform, *rc.Faults); err != nil {
			t.Fatal(err)
		}
	}
	tok := e.Token(0)
	var (
		f   *platforms.Fetch
		err error
	)
	for range 50 {
		if f, err = e.Fetch(ctx, tok, ""); err != nil {
			break
		}
		e.Clock.Advance(time.Second)
	}
	pe := e.ExpectError(err, platforms.Throttled)
	now := e.Clock.Now()
	if !pe.RetryAfter.After(now) || pe.RetryAfter.After(now.Add(25*time.Hour)) {
		t.Errorf("RetryAfter %v, want after the simulator's now %v and within a day", pe.RetryAfter, now)
	}
	if pe.Limit == platforms.Unknown() {
		t.Error("the throttled error's Limit is unknown")
	}
	if f == nil || f.Calls < 1 {
		t.Errorf("throttled fetch %+v: want the calls made counted", f)
	}
	st := e.Sim.Stats().Platforms[h.Platform]
	if rc.Faults == nil && st.LimitBreaches == 0 {
		t.Error("the simulator saw no limit breach")
	}
	if rc.Check != nil {
		rc.Check(t, now, pe)
	}

	// RetryAfter is honest: then, the call goes through.
	if err := e.Sim.SetFaults(h.Platform, sim.Faults{}); err != nil {
		t.Fatal(err)
	}
	e.Clock.Set(pe.RetryAfter)
	if _, err := e.Fetch(ctx, e.Token(0), ""); err != nil {
		e.NoLeak(err)
		t.Errorf("Fetch at RetryAfter: %v", err)
	}
}

func testReauth(t *testing.T, h Harness) {
	e := NewEnv(t, h, nil, nil)
	ctx := t.Context()

	tok := e.Token(0)
	e.Sim.Revoke(tok.AccessToken)
	f, err := e.Fetch(ctx, tok, "")
	e.ExpectError(err, platforms.Reauth)
	if f == nil || f.Calls != 1 {
		t.Errorf("revoked token: fetch %+v, want 1 call", f)
	}

	tok = e.Token(1)
	e.Sim.SetFaults(h.Platform, sim.Faults{Revoke: sim.Fault{Next: 1}})
	_, err = e.Fetch(ctx, tok, "")
	e.ExpectError(err, platforms.Reauth)

	tok = e.Token(2)
	e.Clock.Set(tok.Expiry)
	_, err = e.Fetch(ctx, tok, "")
	e.ExpectError(err, platforms.Reauth)

	for _, tok := range []*oauth2.Token{nil, {}} {
		f, err = e.Fetch(ctx, tok, "")
		e.ExpectError(err, platforms.Reauth)
		if f == nil || f.Calls != 0 {
			t.Errorf("no token: fetch %+v, want no call", f)
		}
	}
}

func testPermission(t *testing.T, h Harness) {
	e := NewEnv(t, h, nil, nil)
	ctx := t.Context()
	cfg := e.Conn.OAuth2()
	if len(h.NarrowScopes) > 0 {
		cfg.Scopes = h.NarrowScopes
	} else {
		cfg.Scopes = cfg.Scopes[:1]
	}
	verifier := ""
	var opts []oauth2.AuthCodeOption
	if e.Conn.UsesPKCE() {
		verifier = oauth2.GenerateVerifier()
		opts = append(opts, oauth2.S256ChallengeOption(verifier))
	}
	code := e.Authorize(cfg, "state-narrow", sim.Consent{}, opts...).Query().Get("code")
	tok, err := e.Conn.Exchange(ctx, code, verifier)
	if err != nil {
		e.NoLeak(err)
		t.Fatalf("Exchange with scopes %v: %v", cfg.Scopes, err)
	}
	e.Remember(tok.AccessToken, tok.RefreshToken)
	e.Sim.ResetStats()
	f, err := e.Fetch(ctx, tok, "")
	e.ExpectError(err, platforms.Permission)
	if st := e.Sim.Stats().Platforms[h.Platform]; f == nil || int64(f.Calls) != st.Requests {
		t.Errorf("fetch %+v; the simulator saw %d requests", f, st.Requests)
	}
}

// baseline fetches once without faults and returns the calls it took.
func baseline(e *Env, tok *oauth2.Token) int {
	e.T.Helper()
	if err := e.Sim.SetFaults(e.H.Platform, sim.Faults{}); err != nil {
		e.T.Fatal(err)
	}
	f, err := e.Fetch(e.T.Context(), tok, "")
	if err != nil {
		e.NoLeak(err)
		e.T.Fatalf("Fetch: %v", err)
	}
	return f.Calls
}

// expectRetried asserts that one injected fault costs one more call and
// that an injected fault on every call fails with class after retries.
func expectRetried(t *testing.T, e *Env, once, always sim.Faults, class platforms.Class) *platforms.Error {
	t.Helper()
	ctx := t.Context()
	tok := e.Token(0)
	calls := baseline(e, tok)
	e.Sim.SetFaults(e.H.Platform, once)
	f, err := e.Fetch(ctx, tok, "")
	if err != nil {
		e.NoLeak(err)
		t.Fatalf("Fetch after one fault: %v", err)
	}
	if f.Calls != calls+1 {
		t.Errorf("one fault: %d calls, want %d", f.Calls, calls+1)
	}
	e.Sim.SetFaults(e.H.Platform, always)
	e.Sim.ResetStats()
	f, err = e.Fetch(ctx, tok, "")
	pe := e.ExpectError(err, class)
	if f == nil || f.Calls < 2 {
		t.Errorf("fault on every call: fetch %+v, want the call retried", f)
	} else if st := e.Sim.Stats().Platforms[e.H.Platform]; st.Requests != int64(f.Calls) {
		t.Errorf("Fetch counted %d calls, the simulator saw %d", f.Calls, st.Requests)
	}
	return pe
}

func testTransient(t *testing.T, h Harness) {
	e := NewEnv(t, h, nil, func(c *platforms.Config) { c.MaxPostPages = 1 })
	pe := expectRetried(t, e, sim.Faults{ServerError: sim.Fault{Next: 1}}, sim.Faults{ServerError: sim.Fault{Probability: 1}}, platforms.Transient)
	if pe.Status < 500 {
		t.Errorf("status %d, want 5xx", pe.Status)
	}
}

func testMalformed(t *testing.T, h Harness) {
	e := NewEnv(t, h, nil, func(c *platforms.Config) { c.MaxPostPages = 1 })
	expectRetried(t, e, sim.Faults{Malformed: sim.Fault{Next: 1}}, sim.Faults{Malformed: sim.Fault{Probability: 1}}, platforms.Transient)
	expectRetried(t, e, sim.Faults{Truncate: sim.Fault{Next: 1}}, sim.Faults{Truncate: sim.Fault{Probability: 1}}, platforms.Transient)
}

func testPermanent(t *testing.T, h Harness) {
	e := NewEnv(t, h, nil, nil)
	e.Sim.SetFaults(h.Platform, sim.Faults{BadRequest: sim.Fault{Probability: 1}})
	f, err := e.Fetch(t.Context(), e.Token(0), "")
	pe := e.ExpectError(err, platforms.Permanent)
	if f == nil || f.Calls != 1 {
		t.Errorf("fetch %+v, want one call, not retried", f)
	}
	if pe.Status < 400 || pe.Status > 499 {
		t.Errorf("status %d, want 4xx", pe.Status)
	}
}

func testCancellation(t *testing.T, h Harness) {
	e := NewEnv(t, h, nil, nil)
	e.Sim.SetFaults(h.Platform, sim.Faults{Slow: sim.Fault{Probability: 1}, SlowDelay: time.Minute})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	f, err := e.Fetch(ctx, e.Token(0), "")
	e.ExpectError(err, platforms.Transient)
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("returned after %v, long after the context's deadline", d)
	}
	if f == nil {
		t.Error("nil fetch")
	}
}

func testParsers(t *testing.T, h Harness) {
	e := NewEnv(t, h, nil, nil)
	for _, bad := range []string{``, `null`, `[]`, `"x"`, `{}`, `not json`, `{"data":`} {
		if a, err := e.Conn.ParseAccount([]byte(bad)); err == nil {
			t.Errorf("ParseAccount(%q) = %+v, want an error", bad, a)
		}
	}
	for _, bad := range []string{``, `null`, `[]`, `not json`, `{"data":[`} {
		if p, err := e.Conn.ParsePosts([]byte(bad)); err == nil {
			t.Errorf("ParsePosts(%q) = %+v, want an error", bad, p)
		}
	}
	if p, err := e.Conn.ParsePosts([]byte(`{"data":[]}`)); err != nil || len(p) != 0 {
		t.Errorf("ParsePosts(empty page) = %v, %v", p, err)
	}
}

// HTTPStatus is a Check helper: it asserts the throttled error's HTTP
// status.
func HTTPStatus(want int) func(*testing.T, time.Time, *platforms.Error) {
	return func(t *testing.T, _ time.Time, pe *platforms.Error) {
		t.Helper()
		if pe.Status != want {
			t.Errorf("status %d (%s), want %d", pe.Status, http.StatusText(pe.Status), want)
		}
	}
}
