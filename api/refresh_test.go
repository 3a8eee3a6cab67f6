package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/api"
	"github.com/pulsehq/pulse/clickhouse/chtest"
	"github.com/pulsehq/pulse/topics"
)

type jobsResult struct {
	ID, LinkID, State string
	Reason            *string
	RunAt             *time.Time
}

// TestRefreshJobsOverGraphQLAndREST: a press returns a queued job (a
// second press the same one; a link needing re-auth a deferred one with
// the reason), the job follows the pipeline's progress, and becomes
// VISIBLE once ClickHouse has an observation made after its fetch began.
// POST /api/v1/refresh does the same for scripts; GET answers 405.
func TestRefreshJobsOverGraphQLAndREST(t *testing.T) {
	ch := chtest.MustOpen(t)
	e := newEnv(t, func(c *api.Config) { c.Metrics = ch })
	b := e.browser(t)
	userID, token := b.signUp("jobs@example.com")
	ctx := t.Context()
	tok := &oauth2.Token{AccessToken: "a", Expiry: time.Now().Add(time.Hour)}
	xLink, err := e.pg.UpsertLink(ctx, userID, topics.X, "x-1", "@ada", tok, "")
	if err != nil {
		t.Fatal(err)
	}
	igLink, err := e.pg.UpsertLink(ctx, userID, topics.Instagram, "ig-1", "ada", tok, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.pg.MarkLinkStatus(ctx, igLink.ID, pulse.LinkNeedsReauth, "token revoked"); err != nil {
		t.Fatal(err)
	}

	var started struct{ StartRefresh []jobsResult }
	b.mustGraphQL(`mutation { startRefresh { id linkId state reason runAt } }`, nil, &started)
	byLink := map[string]jobsResult{}
	for _, j := range started.StartRefresh {
		byLink[j.LinkID] = j
	}
	if x := byLink[xLink.ID]; x.State != "QUEUED" || x.Reason != nil {
		t.Fatalf("X job %+v, want QUEUED", x)
	}
	if ig := byLink[igLink.ID]; ig.State != "DEFERRED" || ig.Reason == nil || !strings.HasPrefix(*ig.Reason, "needs re-auth") {
		t.Fatalf("Instagram job %+v, want DEFERRED for re-auth", ig)
	}

	// Scripts: POST with a bearer token and no body; the same unfinished jobs.
	script := e.browser(t)
	script.bearer, script.origin = token, ""
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v1/refresh", nil)
	r := script.do(req)
	var rest struct {
		Jobs []struct{ ID, LinkID, State, Reason string }
	}
	r.json(t, &rest)
	if r.StatusCode != http.StatusAccepted || len(rest.Jobs) != 2 {
		t.Fatalf("POST /api/v1/refresh: %d %s", r.StatusCode, r.body)
	}
	for _, j := range rest.Jobs {
		if j.ID != byLink[j.LinkID].ID {
			t.Errorf("REST press made job %s, want the unfinished %s", j.ID, byLink[j.LinkID].ID)
		}
	}
	if r := script.get("/api/v1/refresh"); r.StatusCode != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "POST" ||
		!strings.Contains(string(r.body), "POST /api/v1/refresh") {
		t.Errorf("GET /api/v1/refresh: %d %s", r.StatusCode, r.body)
	}
	if r := script.get("/api/v1/refresh/" + userID); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/v1/refresh/{user}: %d", r.StatusCode)
	}
	// A cookie session must send JSON (no cross-site form posts).
	req, _ = http.NewRequest(http.MethodPost, e.srv.URL+"/api/v1/refresh", strings.NewReader("linkId=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := b.do(req); r.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("form POST: %d, want 415", r.StatusCode)
	}
	anon := e.browser(t)
	if r := anon.postJSON("/api/v1/refresh", map[string]string{}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous POST: %d, want 401", r.StatusCode)
	}

	state := func() string {
		t.Helper()
		var got struct{ RefreshJobs []jobsResult }
		b.mustGraphQL(`{ refreshJobs { id linkId state reason runAt } }`, nil, &got)
		for _, j := range got.RefreshJobs {
			if j.LinkID == xLink.ID {
				return j.State
			}
		}
		return ""
	}
	// The scheduler's and fetcher's steps.
	fetchAt := time.Now().UTC()
	if err := e.pg.JobsFetching(ctx, []string{xLink.ID}, fetchAt); err != nil {
		t.Fatal(err)
	}
	if s := state(); s != "FETCHING" {
		t.Fatalf("state %s, want FETCHING", s)
	}
	if err := e.pg.JobsFetched(ctx, []string{xLink.ID}, true, ""); err != nil {
		t.Fatal(err)
	}
	// An observation from before the fetch does not make it visible.
	snap := func(obs time.Time) topics.AccountSnapshot {
		return topics.AccountSnapshot{V: topics.AccountSnapshotVersion, LinkID: xLink.ID, UserID: userID, Platform: topics.X,
			AccountID: "x-1", Handle: "@ada", Hour: obs.Truncate(time.Hour), ObservedAt: obs, Followers: 10, Version: obs.UnixMilli()}
	}
	if err := ch.InsertSnapshots(ctx, []topics.AccountSnapshot{snap(fetchAt.Add(-time.Minute))}); err != nil {
		t.Fatal(err)
	}
	if s := state(); s != "PROCESSED" {
		t.Fatalf("state %s, want PROCESSED", s)
	}
	if err := ch.InsertSnapshots(ctx, []topics.AccountSnapshot{snap(fetchAt.Add(300 * time.Millisecond))}); err != nil {
		t.Fatal(err)
	}
	if s := state(); s != "VISIBLE" {
		t.Fatalf("state %s, want VISIBLE", s)
	}
	// Finished: the next press starts a new job.
	var again struct{ StartRefresh []jobsResult }
	b.mustGraphQL(`mutation($id: ID) { startRefresh(linkId: $id) { id state } }`, map[string]any{"id": xLink.ID}, &again)
	if len(again.StartRefresh) != 1 || again.StartRefresh[0].ID == byLink[xLink.ID].ID || again.StartRefresh[0].State != "QUEUED" {
		t.Fatalf("a press after a visible job: %+v", again)
	}
	// Another user's link is not found.
	other := e.browser(t)
	other.signUp("other@example.com")
	other.wantGraphQLError(`mutation($id: ID) { startRefresh(linkId: $id) { id } }`, map[string]any{"id": xLink.ID}, "NOT_FOUND")
	var none struct{ RefreshJobs []jobsResult }
	other.mustGraphQL(`{ refreshJobs { id } }`, nil, &none)
	if len(none.RefreshJobs) != 0 {
		t.Errorf("another user sees %d jobs", len(none.RefreshJobs))
	}
}
