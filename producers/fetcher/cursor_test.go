package fetcher_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulsehq/pulse"
	_ "github.com/pulsehq/pulse/platforms/facebook"
	_ "github.com/pulsehq/pulse/platforms/linkedin"
	"github.com/pulsehq/pulse/topics"
)

// fetchWith asks for a fetch of the harness's link from cursor, re-reading
// refreshDays days, and returns its payload's post ids and its outcome.
func (h *harness) fetchWith(t *testing.T, id, cursor string, refreshDays int) (*topics.RawPayload, []string, *topics.FetchOutcome) {
	t.Helper()
	b, _ := topics.FetchRequestCodec.Marshal(&topics.FetchRequest{ID: id, LinkID: h.link.ID, UserID: h.link.UserID, Platform: h.plat,
		Reason: topics.ReasonScheduled, RequestedAt: h.now, AccountID: h.link.AccountID, PostsSince: cursor, RefreshDays: refreshDays})
	h.request(t, b)
	raw, err := topics.RawPayloadCodec.Unmarshal(h.next(t, topics.RawPayloads).Value)
	if err != nil {
		t.Fatal(err)
	}
	out, err := topics.FetchOutcomeCodec.Unmarshal(h.next(t, topics.FetchOutcomes).Value)
	if err != nil || out.RequestID != id || out.Outcome != topics.OutcomeOK {
		t.Fatalf("outcome %+v (%v)", out, err)
	}
	var ids []string
	for _, page := range raw.PostPages {
		posts, err := h.conn.ParsePosts(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range posts {
			if !slices.Contains(ids, p.ID) {
				ids = append(ids, p.ID)
			}
		}
	}
	return raw, ids, out
}

// posts returns the simulator's posts of the link's account created after
// from (inclusive when incl), newest first.
func (h *harness) simPosts(t *testing.T, from time.Time, incl bool) []string {
	t.Helper()
	all, err := h.sim.Posts(h.plat, h.link.AccountID, h.now, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range all {
		if p.CreatedAt.Before(from) || !incl && p.CreatedAt.Equal(from) {
			break
		}
		out = append(out, p.ID)
	}
	return out
}

// postsState is the link's posts state in PostgreSQL, as the scheduler
// claims it.
func (h *harness) postsState(t *testing.T) pulse.PostsState {
	t.Helper()
	due, err := h.db.ClaimDue(context.Background(), h.plat, h.now.Add(24*365*time.Hour), 1, time.Nanosecond)
	if err != nil || len(due) != 1 {
		t.Fatalf("claim: %v (%v)", due, err)
	}
	return due[0].Posts
}

// On every platform, against the simulator: a first fetch reads the
// default window and records the cursor on the link; a second fetch from
// the cursor reads exactly the new posts (and perhaps the cursor's own
// again), in fewer calls, and the outcome says so; a fetch with a refresh
// window re-reads every post of its days and records the re-read.
func TestCursorReadsOnlyNewPostsInFewerCalls(t *testing.T) {
	for _, p := range []topics.Platform{topics.X, topics.Facebook, topics.Instagram, topics.LinkedIn} {
		t.Run(string(p), func(t *testing.T) {
			h := newHarnessFor(t, p, nil)
			raw, full, out := h.fetchWith(t, "r1", "", 0)
			if raw.PostsIncremental || out.Incremental || out.RefreshDays != topics.RecentDays || out.NextCursor == "" || len(full) == 0 {
				t.Fatalf("full read: incremental %v/%v, refresh %d, cursor %q, %d posts", raw.PostsIncremental, out.Incremental, out.RefreshDays, out.NextCursor, len(full))
			}
			st := h.postsState(t)
			if st.Cursor != out.NextCursor || !st.MonthAt.Equal(h.now.Truncate(time.Microsecond)) {
				t.Fatalf("link's posts state %+v after the full read (cursor %q)", st, out.NextCursor)
			}
			fullCalls, boundary := out.Calls, full[0]
			boundaryPosts := h.simPosts(t, h.now.Add(-24*365*time.Hour), true)
			if boundaryPosts[0] != boundary {
				t.Fatalf("full read's newest post %s, the simulator's %s", boundary, boundaryPosts[0])
			}

			h.now = h.now.Add(20 * time.Hour)
			raw, got, out := h.fetchWith(t, "r2", st.Cursor, 0)
			want := h.simPosts(t, time.Time{}, true)
			want = want[:slices.Index(want, boundary)]
			if len(want) == 0 {
				t.Fatal("the simulator published nothing in 20 hours")
			}
			got = slices.DeleteFunc(got, func(id string) bool { return id == boundary })
			if !slices.Equal(got, want) {
				t.Fatalf("incremental read: posts %v, want the new ones %v", got, want)
			}
			if !raw.PostsIncremental || !out.Incremental || out.RefreshDays != 0 || out.NextCursor == st.Cursor {
				t.Fatalf("incremental read: incremental %v/%v, refresh %d, cursor %q (was %q)", raw.PostsIncremental, out.Incremental, out.RefreshDays, out.NextCursor, st.Cursor)
			}
			if out.Calls >= fullCalls {
				t.Fatalf("incremental read cost %d calls, the full read %d", out.Calls, fullCalls)
			}
			t.Logf("%s: calls per fetch: full %d, incremental %d", p, fullCalls, out.Calls)
			st2 := h.postsState(t)
			if st2.Cursor != out.NextCursor || !st2.MonthAt.Equal(st.MonthAt) || !st2.WeekAt.Equal(st.WeekAt) {
				t.Fatalf("link's posts state %+v after the incremental read", st2)
			}

			h.now = h.now.Add(time.Hour)
			raw, got, out = h.fetchWith(t, "r3", st2.Cursor, 2)
			want = h.simPosts(t, h.now.Add(-48*time.Hour).Truncate(time.Second), true)
			if !raw.PostsIncremental || out.RefreshDays != 2 {
				t.Fatalf("refresh read: incremental %v, refresh %d", raw.PostsIncremental, out.RefreshDays)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("a 2-day re-read read %v, want the 2 days' posts %v", got, want)
			}
			h.now = h.now.Add(time.Hour)
			if _, _, out = h.fetchWith(t, "r4", st2.Cursor, 7); out.RefreshDays != 7 {
				t.Fatalf("7-day re-read: outcome %+v", out)
			}
			if st3 := h.postsState(t); !st3.WeekAt.Equal(h.now.Truncate(time.Microsecond)) || !st3.MonthAt.Equal(st.MonthAt) {
				t.Fatalf("link's posts state %+v after a 7-day re-read", st3)
			}
		})
	}
}

// The calls are counted by how the fetch read its posts: calls per fetch
// from the cursor below a full read's, for operators.
func TestCallsPerFetchAreExportedByRead(t *testing.T) {
	h := newHarness(t)
	before := callsByRead(t)
	_, _, out := h.fetchWith(t, "r1", "", 0)
	h.now = h.now.Add(3 * time.Hour)
	_, _, out2 := h.fetchWith(t, "r2", out.NextCursor, 0)
	after := callsByRead(t)
	for read, want := range map[string][2]float64{"full": {float64(out.Calls), 1}, "new": {float64(out2.Calls), 1}} {
		got := [2]float64{after[read][0] - before[read][0], after[read][1] - before[read][1]}
		if got != want {
			t.Errorf("%s reads: %v calls and fetches counted, want %v", read, got, want)
		}
	}
}

// callsByRead returns the X series of pulse_fetch_calls_total and
// pulse_fetch_reads_total by read.
func callsByRead(t *testing.T) map[string][2]float64 {
	t.Helper()
	fams, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][2]float64{}
	for _, f := range fams {
		i := slices.Index([]string{"pulse_fetch_calls_total", "pulse_fetch_reads_total"}, f.GetName())
		if i < 0 {
			continue
		}
		for _, m := range f.GetMetric() {
			var plat, read string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "platform":
					plat = l.GetValue()
				case "read":
					read = l.GetValue()
				}
			}
			if plat == string(topics.X) {
				v := out[read]
				v[i] = m.GetCounter().GetValue()
				out[read] = v
			}
		}
	}
	return out
}
