package linkedin

import (
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
)

const day = 24 * time.Hour

func TestExchangeAndRefreshLifetimes(t *testing.T) {
	e := newEnv(t, sim.Config{LinkedIn: sim.LinkedInConfig{Clients: map[string]string{testClient: testSecret}}}, nil)
	ctx := t.Context()
	code := e.authorize(2)
	tok, err := e.conn.Exchange(ctx, code, "")
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" || !tok.Expiry.Equal(simStart.Add(60*day)) || tok.Type() != "Bearer" {
		t.Fatalf("token %+v", tok)
	}
	if n, ok := seconds(tok.Extra("refresh_token_expires_in")); !ok || n != int64(365*day/time.Second) {
		t.Errorf("refresh_token_expires_in %v", tok.Extra("refresh_token_expires_in"))
	}
	if f, err := e.conn.Fetch(ctx, tok, platforms.Request{}); err != nil || f.AccountID != e.account(2).ID {
		t.Fatalf("fetch with the exchanged token: %v", err)
	}

	// After the access token expired, the refresh token still works; it
	// is not rotated, and the new token lives 60 days.
	e.clock.Advance(61 * day)
	if _, err := e.conn.Fetch(ctx, tok, platforms.Request{}); err == nil {
		t.Fatal("fetch with an expired access token succeeded")
	}
	nt, err := e.conn.Refresh(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if nt.RefreshToken != tok.RefreshToken || nt.AccessToken == tok.AccessToken || !nt.Expiry.Equal(e.clock.Now().Add(60*day)) {
		t.Errorf("refreshed %+v", nt)
	}
	if f, err := e.conn.Fetch(ctx, nt, platforms.Request{}); err != nil || f.AccountID != e.account(2).ID {
		t.Errorf("fetch with the refreshed token: %v", err)
	}

	// Near the end of the year, the access token expires with the refresh
	// token; after it, the member must authorize again.
	e.clock.Set(simStart.Add(340 * day))
	nt, err = e.conn.Refresh(ctx, nt)
	if err != nil || !nt.Expiry.Equal(simStart.Add(365*day)) {
		t.Errorf("refresh on day 340: %+v, %v", nt, err)
	}
	e.clock.Set(simStart.Add(365 * day))
	_, err = e.conn.Refresh(ctx, nt)
	platformError(t, err, platforms.Reauth, nt.RefreshToken, nt.AccessToken, testSecret)
}

func TestRefreshIssuedToken(t *testing.T) {
	// IssueToken's tokens (pulse dev) refresh the same way, their
	// refresh token expiring a year after they were issued.
	e := newEnv(t, sim.Config{}, nil)
	tok := e.token(0)
	e.clock.Set(simStart.Add(300 * day))
	nt, err := e.conn.Refresh(t.Context(), tok)
	if err != nil || !nt.Expiry.Equal(simStart.Add(360*day)) || nt.RefreshToken != tok.RefreshToken {
		t.Fatalf("refresh on day 300: %+v, %v", nt, err)
	}
	e.clock.Set(simStart.Add(366 * day))
	_, err = e.conn.Refresh(t.Context(), tok)
	platformError(t, err, platforms.Reauth, tok.RefreshToken)
}

func TestNoRefreshTokens(t *testing.T) {
	e := newEnv(t, sim.Config{LinkedIn: sim.LinkedInConfig{NoRefreshTokens: true}}, nil)
	tok, err := e.conn.Exchange(t.Context(), e.authorize(0), "")
	if err != nil || tok.RefreshToken != "" {
		t.Fatalf("exchange: %+v, %v", tok, err)
	}
	before := e.sim.Stats().Platforms[topics.LinkedIn].Endpoints[sim.LinkedInEndpointToken].Requests
	_, err = e.conn.Refresh(t.Context(), tok)
	platformError(t, err, platforms.Reauth)
	if after := e.sim.Stats().Platforms[topics.LinkedIn].Endpoints[sim.LinkedInEndpointToken].Requests; after != before {
		t.Errorf("Refresh without a refresh token called the token endpoint")
	}
}

func TestTokenErrors(t *testing.T) {
	e := newEnv(t, sim.Config{LinkedIn: sim.LinkedInConfig{Clients: map[string]string{testClient: testSecret}}}, nil)
	ctx := t.Context()

	// Wrong app credentials cannot be fixed by the member: Permanent, for
	// Refresh too, and the secret is not printed.
	wrong, _ := newTest(platforms.Config{
		BaseURL: e.conn.baseURL, AuthBaseURL: e.conn.authBaseURL, ClientID: testClient, ClientSecret: "wrong-secret-0123",
		RedirectURL: testRedirect, HTTPClient: e.ts.Client(),
	}, e.clock.Now)
	code := e.authorize(0)
	_, err := wrong.Exchange(ctx, code, "")
	pe := platformError(t, err, platforms.Permanent, code, "wrong-secret-0123")
	if pe.Status != 401 {
		t.Errorf("status %d", pe.Status)
	}
	tok := e.token(0)
	_, err = wrong.Refresh(ctx, tok)
	platformError(t, err, platforms.Permanent, tok.RefreshToken, "wrong-secret-0123")

	// A parse-only connector cannot call the token endpoint.
	c, _ := New(platforms.Config{})
	_, err = c.Exchange(ctx, "code-0123456789", "")
	platformError(t, err, platforms.Permanent)
	_, err = c.Refresh(ctx, tok)
	platformError(t, err, platforms.Permanent)
	_, err = e.conn.Refresh(ctx, nil)
	platformError(t, err, platforms.Reauth)
	_, err = e.conn.Refresh(ctx, &oauth2.Token{AccessToken: "only-access-0123"})
	platformError(t, err, platforms.Reauth)

	// A token endpoint that is not there is Permanent, not Reauth.
	lost, _ := newTest(platforms.Config{
		AuthBaseURL: e.ts.URL + "/nowhere", ClientID: testClient, ClientSecret: testSecret, HTTPClient: e.ts.Client(),
	}, e.clock.Now)
	_, err = lost.Refresh(ctx, tok)
	platformError(t, err, platforms.Permanent, tok.RefreshToken)
}
