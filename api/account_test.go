package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/api"
	"github.com/pulsehq/pulse/clickhouse/chtest"
	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/postgres"
	"github.com/pulsehq/pulse/topics"
)

const deleteAccount = `mutation($pw: String!) { deleteAccount(password: $pw) }`

func TestDeleteAccountShredsKeysRowsAndAnalytics(t *testing.T) {
	t.Parallel()
	ch := chtest.MustOpen(t)
	e := newEnv(t, func(c *api.Config) { c.Metrics = ch }) // ch is also the purger
	ada := e.browser(t)
	adaID, adaBearer := ada.signUp("ada@example.com")
	ada.link(0)
	bob := e.browser(t)
	bobID, _ := bob.signUp("bob@example.com")
	bob.link(0)
	links, err := e.pg.Links(t.Context(), adaID)
	if err != nil || len(links) != 1 {
		t.Fatal(links, err)
	}
	tok, _, err := e.pg.LinkToken(t.Context(), links[0].ID)
	if err != nil {
		t.Fatal(err)
	}

	hour := time.Now().UTC().Truncate(time.Hour)
	var snaps []topics.AccountSnapshot
	for _, u := range []string{adaID, bobID} {
		snaps = append(snaps, topics.AccountSnapshot{LinkID: "l-" + u, UserID: u, Platform: topics.X, AccountID: "1",
			Handle: "@a", Hour: hour, ObservedAt: hour, Followers: 42, Version: 1})
	}
	if err := ch.InsertSnapshots(t.Context(), snaps); err != nil {
		t.Fatal(err)
	}
	points := func(user string) int {
		pts, err := ch.Series(context.Background(), pulse.SeriesQuery{UserID: user, Grain: pulse.GrainHour, From: hour, To: hour.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return len(pts)
	}
	const metrics = `query($from: Time!, $to: Time!) { metrics(grain: HOUR, from: $from, to: $to) { accountId points { followers } } }`
	var m struct{ Metrics []struct{ AccountID string } }
	ada.mustGraphQL(metrics, map[string]any{"from": hour, "to": hour.Add(time.Hour)}, &m)
	if len(m.Metrics) != 1 {
		t.Fatalf("metrics before deletion = %+v", m)
	}

	// A wrong password is refused and deletes nothing.
	ada.wantGraphQLError(deleteAccount, map[string]any{"pw": "not my password"}, "FORBIDDEN")
	var out struct{ DeleteAccount bool }
	ada.mustGraphQL(deleteAccount, map[string]any{"pw": testPassword}, &out)
	if !out.DeleteAccount {
		t.Fatal("deleteAccount = false")
	}

	// Gone: sessions (cookie and bearer), credentials, links and token.
	var me meResult
	ada.mustGraphQL(meQuery, nil, &me)
	if me.Me != nil {
		t.Fatal("cookie session survived the deletion")
	}
	client := e.browser(t)
	client.bearer, client.origin = adaBearer, ""
	client.wantGraphQLError(linksQuery, nil, "UNAUTHENTICATED")
	if r := ada.login("ada@example.com", testPassword); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("login after deletion: %d", r.StatusCode)
	}
	if _, err := e.pg.User(t.Context(), adaID); pulse.ErrorCode(err) != pulse.ENOTFOUND {
		t.Fatalf("user after deletion: %v", err)
	}
	if _, _, err := e.pg.LinkToken(t.Context(), links[0].ID); pulse.ErrorCode(err) != pulse.ENOTFOUND {
		t.Fatalf("link token after deletion: %v", err)
	}
	// Analytics: ALTER TABLE ... DELETE is a ClickHouse mutation, which may
	// complete after the statement returns.
	testkit.Eventually(t, 30*time.Second, func() error {
		if n := points(adaID); n != 0 {
			return fmt.Errorf("the deleted user's analytics are still there: %d points", n)
		}
		return nil
	})
	if points(bobID) != 1 {
		t.Fatal("another user's analytics were deleted")
	}
	if got := bob.links(); got["X"] != "ACTIVE/1" {
		t.Fatalf("bob's links = %v", got)
	}
	// The first purge pass is done; the second waits an hour for rows that
	// were still in the pipeline.
	if due, err := e.pg.ClaimPurges(t.Context(), time.Now().Add(10*time.Minute), 10, time.Minute); err != nil || len(due) != 0 {
		t.Fatalf("purges due within the hour = %+v, %v", due, err)
	}
	due, err := e.pg.ClaimPurges(t.Context(), time.Now().Add(postgres.PurgeRepeatDelay+time.Minute), 10, time.Minute)
	if err != nil || len(due) != 1 || due[0].UserID != adaID {
		t.Fatalf("second pass = %+v, %v", due, err)
	}
	e.assertNoSecrets(t, testPassword, "not my password", tok.AccessToken, tok.RefreshToken, adaBearer)
}

// brokenPurger is an analytics store that is down.
type brokenPurger struct{}

func (brokenPurger) Purge(context.Context, pulse.PurgeRequest) error {
	return errors.New("clickhouse: dial tcp 127.0.0.1:9000: connection refused")
}

func TestDeleteAccountQueuesFailedPurge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *api.Config) { c.Purger = brokenPurger{} })
	b := e.browser(t)
	id, _ := b.signUp("ada@example.com")
	var out struct{ DeleteAccount bool }
	b.mustGraphQL(deleteAccount, map[string]any{"pw": testPassword}, &out)
	if !out.DeleteAccount {
		t.Fatal("deleteAccount = false")
	}
	if _, err := e.pg.User(t.Context(), id); pulse.ErrorCode(err) != pulse.ENOTFOUND {
		t.Fatalf("user after deletion: %v", err)
	}
	// Left for the refresher, after the deleting caller's lease.
	due, err := e.pg.ClaimPurges(t.Context(), time.Now().Add(postgres.PurgeClaimLease+time.Second), 10, time.Minute)
	if err != nil || len(due) != 1 || due[0].UserID != id || !strings.Contains(due[0].LastError, "connection refused") {
		t.Fatalf("pending purges = %+v, %v", due, err)
	}
}

func TestDeleteAccountWithoutPurgerQueuesPurge(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // noMetrics cannot purge
	b := e.browser(t)
	id, _ := b.signUp("ada@example.com")
	b.mustGraphQL(deleteAccount, map[string]any{"pw": testPassword}, nil)
	due, err := e.pg.ClaimPurges(t.Context(), time.Now().Add(postgres.PurgeClaimLease+time.Second), 10, time.Minute)
	if err != nil || len(due) != 1 || due[0].UserID != id {
		t.Fatalf("pending purges = %+v, %v", due, err)
	}
}

func TestDeleteAccountIsThrottled(t *testing.T) {
	t.Parallel()
	lim := pulse.LoginLimits{Window: time.Hour, FreeFailures: 1, Backoff: time.Hour, MaxBackoff: time.Hour, PerClient: 100}
	e := newEnv(t, func(c *api.Config) { c.LoginLimits = lim })
	b := e.browser(t)
	b.signUp("ada@example.com")
	for range 2 {
		b.wantGraphQLError(deleteAccount, map[string]any{"pw": "guess 12345"}, "FORBIDDEN")
	}
	b.wantGraphQLError(deleteAccount, map[string]any{"pw": testPassword}, "THROTTLED")
	b.wantGraphQLError(`mutation { deleteAccount(password: "x") }`, nil, "THROTTLED")
	anon := e.browser(t)
	anon.wantGraphQLError(deleteAccount, map[string]any{"pw": testPassword}, "UNAUTHENTICATED")
	var me meResult
	b.mustGraphQL(meQuery, nil, &me)
	if me.Me == nil {
		t.Fatal("throttled deletion deleted the user")
	}
}
