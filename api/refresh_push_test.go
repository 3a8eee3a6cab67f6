package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/api"
	"github.com/pulsehq/pulse/clickhouse/chtest"
	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/topics"
)

// TestSummarySubscriptionPushesRefreshJobs: the summary subscription
// carries the user's refresh jobs when asked for; a press through the REST
// form pushes the queued job at once (nothing was unfinished, so nothing
// polled), and each step the pipeline takes (fetching, processed, visible
// once ClickHouse has a later observation) is pushed without a query.
func TestSummarySubscriptionPushesRefreshJobs(t *testing.T) {
	ch := chtest.MustOpen(t)
	now := newFakeNow()
	e := newEnv(t, func(c *api.Config) { c.Now, c.Metrics = now, ch })
	b := e.browser(t)
	userID, token := b.signUp("push@example.com")
	ctx := t.Context()
	link, err := e.pg.UpsertLink(ctx, userID, topics.X, "x-1", "@ada", &oauth2.Token{AccessToken: "a", Expiry: time.Now().Add(time.Hour)}, "")
	if err != nil {
		t.Fatal(err)
	}
	now.publish(aggregate(userID, 100))

	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	body := `{"query":"subscription { summary { accounts { followers } refreshJobs { id linkId state } } }"}`
	req, _ := http.NewRequestWithContext(sctx, http.MethodPost, e.srv.URL+"/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Origin", e.srv.URL)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	type event struct {
		Summary struct {
			Accounts    []struct{ Followers int64 }
			RefreshJobs []struct{ ID, LinkID, State string }
		}
	}
	events := bufio.NewScanner(resp.Body)
	next := func() event {
		t.Helper()
		for events.Scan() {
			line := events.Text()
			if !strings.HasPrefix(line, "data: ") {
				continue
			}
			var env struct{ Data event }
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &env); err != nil {
				t.Fatalf("event %q: %v", line, err)
			}
			return env.Data
		}
		t.Fatalf("stream ended: %v", events.Err())
		return event{}
	}
	// state reads pushes until the job is in want; an unexpected state
	// fails (a push only comes when something changed).
	state := func(want string, allowed ...string) {
		t.Helper()
		for {
			ev := next()
			js := ev.Summary.RefreshJobs
			if len(js) != 1 || js[0].LinkID != link.ID {
				t.Fatalf("pushed jobs %+v; want the one press of %s", js, link.ID)
			}
			if js[0].State == want {
				return
			}
			if !strings.Contains(strings.Join(allowed, ","), js[0].State) {
				t.Fatalf("pushed state %s; want %s", js[0].State, want)
			}
		}
	}
	if first := next(); len(first.Summary.RefreshJobs) != 0 || len(first.Summary.Accounts) != 2 {
		t.Fatalf("first event %+v; want the summary and no job", first)
	}
	testkit.Eventually(t, 20*time.Second, func() error {
		if now.subscribers(userID) == 0 {
			return errors.New("the subscription has not subscribed to the view")
		}
		return nil
	})

	script := e.browser(t)
	script.bearer, script.origin = token, ""
	r := script.do(mustRequest(t, http.MethodPost, e.srv.URL+"/api/v1/refresh"))
	if r.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /api/v1/refresh: %d %s", r.StatusCode, r.body)
	}
	state("QUEUED")
	fetchAt := time.Now().UTC()
	if err := e.pg.JobsFetching(ctx, []string{link.ID}, fetchAt); err != nil {
		t.Fatal(err)
	}
	state("FETCHING")
	if err := e.pg.JobsFetched(ctx, []string{link.ID}, true, ""); err != nil {
		t.Fatal(err)
	}
	state("PROCESSED")
	obs := fetchAt.Add(300 * time.Millisecond)
	if err := ch.InsertSnapshots(ctx, []topics.AccountSnapshot{{V: topics.AccountSnapshotVersion, LinkID: link.ID, UserID: userID,
		Platform: topics.X, AccountID: "x-1", Handle: "@ada", Hour: obs.Truncate(time.Hour), ObservedAt: obs, Followers: 10,
		Version: obs.UnixMilli()}}); err != nil {
		t.Fatal(err)
	}
	state("VISIBLE")
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
