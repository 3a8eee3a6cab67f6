package fetcher_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/postgres"
	"github.com/pulsehq/pulse/postgres/pgtest"
	"github.com/pulsehq/pulse/producers/fetcher"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"

	_ "github.com/pulsehq/pulse/platforms/instagram"
	_ "github.com/pulsehq/pulse/platforms/x"
)

func TestMain(m *testing.M) { testkit.WrapTestMain(m) }

type harness struct {
	brokers []string
	db      *postgres.DB
	sim     *sim.Server
	link    pulse.Link
	prod    *kgo.Client
	out     *kgo.Client
	seen    map[string][]*kgo.Record // read from out, not yet taken by next
	now     time.Time
	plat    topics.Platform
	conn    platforms.Connector
}

func newHarness(t *testing.T) *harness { return newHarnessFor(t, topics.X, nil) }

// newHarnessFor is newHarness for an account of platform p, on a simulator
// configured by simCfg (when not nil).
func newHarnessFor(t *testing.T, p topics.Platform, simCfg func(*sim.Config)) *harness {
	t.Helper()
	ctx := context.Background()
	b, err := kafka.StartBroker(kafka.BrokerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	h := &harness{brokers: b.Addrs(), db: pgtest.MustOpen(t), now: time.Now().UTC(), seen: map[string][]*kgo.Record{}, plat: p}
	if _, err := kafka.EnsureTopics(ctx, h.brokers, 0, kafka.PulseTopics()...); err != nil {
		t.Fatal(err)
	}
	sc := sim.Config{Seed: 3, Clock: func() time.Time { return h.now }}
	if simCfg != nil {
		simCfg(&sc)
	}
	h.sim, err = sim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h.sim.Handler())
	t.Cleanup(srv.Close)
	conn, err := platforms.New(p, platforms.Config{BaseURL: sim.BaseURL(srv.URL, p), AuthBaseURL: sim.BaseURL(srv.URL, p), ClientID: "c"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := h.db.CreateUser(ctx, "fetch@example.com", "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	acct := h.sim.Accounts(p)[0]
	access, refresh, expiry, err := h.sim.IssueToken(p, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	h.link, err = h.db.UpsertLink(ctx, u.ID, p, acct.ID, acct.Handle, &oauth2.Token{AccessToken: access, RefreshToken: refresh, Expiry: expiry}, "")
	if err != nil {
		t.Fatal(err)
	}
	h.conn = conn
	f, err := fetcher.New(fetcher.Config{Brokers: h.brokers, Links: h.db, Clock: func() time.Time { return h.now },
		Connectors: map[topics.Platform]platforms.Connector{p: conn}})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	if h.prod, err = kafka.NewClient(h.brokers); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.prod.Close)
	if h.out, err = kafka.NewClient(h.brokers, kgo.ConsumeTopics(topics.RawPayloads, topics.FetchOutcomes, topics.DeadLetters),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.out.Close)
	return h
}

func (h *harness) request(t *testing.T, value []byte) {
	t.Helper()
	if err := h.prod.ProduceSync(context.Background(), &kgo.Record{Topic: topics.FetchRequests, Key: []byte(h.link.ID), Value: value}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) fetchRequest(t *testing.T, id string) {
	t.Helper()
	h.fetchRequestFor(t, id, topics.ReasonScheduled)
}

func (h *harness) fetchRequestFor(t *testing.T, id string, reason topics.Reason) {
	t.Helper()
	b, _ := topics.FetchRequestCodec.Marshal(&topics.FetchRequest{ID: id, LinkID: h.link.ID, UserID: h.link.UserID, Platform: h.plat, Reason: reason, RequestedAt: h.now})
	h.request(t, b)
}

// next waits for the next record on topic. Records of other topics read
// meanwhile are kept for later calls: the topics are read together and
// their order across topics is not defined.
func (h *harness) next(t *testing.T, topic string) *kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(h.seen[topic]) == 0 {
		fs := h.out.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("no record on %s within 30s", topic)
		}
		fs.EachRecord(func(r *kgo.Record) { h.seen[r.Topic] = append(h.seen[r.Topic], r) })
	}
	r := h.seen[topic][0]
	h.seen[topic] = h.seen[topic][1:]
	return r
}

func TestFetchPublishesPayloadAndOutcome(t *testing.T) {
	h := newHarness(t)
	h.fetchRequest(t, "r1")
	raw, err := topics.RawPayloadCodec.Unmarshal(h.next(t, topics.RawPayloads).Value)
	if err != nil {
		t.Fatal(err)
	}
	if raw.RequestID != "r1" || raw.LinkID != h.link.ID || raw.UserID != h.link.UserID || len(raw.Account) == 0 || len(raw.PostPages) == 0 || !raw.FetchedAt.Equal(h.now) {
		t.Fatalf("raw payload = %+v", raw)
	}
	out, err := topics.FetchOutcomeCodec.Unmarshal(h.next(t, topics.FetchOutcomes).Value)
	if err != nil {
		t.Fatal(err)
	}
	if out.Outcome != topics.OutcomeOK || out.Calls < 2 || out.Remaining < 0 {
		t.Fatalf("outcome = %+v", out)
	}
	// The X simulator's x-rate-limit-* headers travel in the outcome, per
	// endpoint, for the scheduler.
	if len(out.Usage) != 2 || out.Usage[0].Name != "users/me" || out.Usage[0].Scope != topics.LimitScopeAccount ||
		out.Usage[0].Remaining != sim.DefaultXUsersMeLimit-1 || out.Usage[0].Reset.IsZero() || out.Usage[1].Name != "users/:id/tweets" {
		t.Fatalf("outcome usage = %+v", out.Usage)
	}
	l, err := h.db.LinkByID(context.Background(), h.link.ID)
	if err != nil || !l.LastFetchedAt.Equal(h.now.Truncate(time.Microsecond)) {
		t.Fatalf("last fetched = %v (%v), want %v", l.LastFetchedAt, err, h.now)
	}
}

func TestRevokedTokenMarksLinkNeedsReauth(t *testing.T) {
	h := newHarness(t)
	if err := h.sim.SetFaults(topics.X, sim.Faults{Revoke: sim.Fault{Next: 1}}); err != nil {
		t.Fatal(err)
	}
	h.fetchRequest(t, "r1")
	out, err := topics.FetchOutcomeCodec.Unmarshal(h.next(t, topics.FetchOutcomes).Value)
	if err != nil {
		t.Fatal(err)
	}
	if out.Outcome != topics.OutcomeReauth {
		t.Fatalf("outcome = %+v, want reauth_needed", out)
	}
	l, err := h.db.LinkByID(context.Background(), h.link.ID)
	if err != nil || l.Status != pulse.LinkNeedsReauth || l.StatusReason == "" {
		t.Fatalf("link = %+v, %v", l, err)
	}
}

func TestThrottledFetchReportsRetryAfter(t *testing.T) {
	h := newHarness(t)
	if err := h.sim.SetFaults(topics.X, sim.Faults{RateLimit: sim.Fault{Next: 1}}); err != nil {
		t.Fatal(err)
	}
	h.fetchRequest(t, "r1")
	out, err := topics.FetchOutcomeCodec.Unmarshal(h.next(t, topics.FetchOutcomes).Value)
	if err != nil {
		t.Fatal(err)
	}
	// X's limits on user tokens are per user: the outcome names the account.
	if out.Outcome != topics.OutcomeThrottled || !out.RetryAfter.After(h.now) || out.LimitScope != topics.LimitScopeAccount ||
		out.AccountID != h.link.AccountID {
		t.Fatalf("outcome = %+v, want throttled with a retry time, on the account's limit", out)
	}
}

// TestSharedAccountFetchIsDeliveredToEveryLink: one fetch of an account
// several users linked publishes the result for each of their links.
func TestSharedAccountFetchIsDeliveredToEveryLink(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	u, err := h.db.CreateUser(ctx, "other@example.com", "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	other, err := h.db.UpsertLink(ctx, u.ID, topics.X, h.link.AccountID, h.link.Handle, &oauth2.Token{AccessToken: "unused"}, "")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := topics.FetchRequestCodec.Marshal(&topics.FetchRequest{ID: "r1", LinkID: h.link.ID, UserID: h.link.UserID, Platform: topics.X,
		Reason: topics.ReasonScheduled, RequestedAt: h.now, AccountID: h.link.AccountID,
		AlsoFor: []topics.LinkRef{{LinkID: other.ID, UserID: u.ID}}})
	h.request(t, b)
	got := map[string]string{} // link → user
	for range 2 {
		raw, err := topics.RawPayloadCodec.Unmarshal(h.next(t, topics.RawPayloads).Value)
		if err != nil {
			t.Fatal(err)
		}
		if raw.RequestID != "r1" || len(raw.Account) == 0 {
			t.Fatalf("raw payload = %+v", raw)
		}
		got[raw.LinkID] = raw.UserID
	}
	if got[h.link.ID] != h.link.UserID || got[other.ID] != u.ID {
		t.Fatalf("payloads went to %v", got)
	}
	out, err := topics.FetchOutcomeCodec.Unmarshal(h.next(t, topics.FetchOutcomes).Value)
	if err != nil || out.Outcome != topics.OutcomeOK || out.PostPages < 1 {
		t.Fatalf("outcome = %+v (%v)", out, err)
	}
	if calls := h.sim.Stats().Platforms[topics.X].Requests; calls != int64(out.Calls) {
		t.Fatalf("the simulator saw %d calls, the fetch reports %d: want one fetch", calls, out.Calls)
	}
	for _, id := range []string{h.link.ID, other.ID} {
		if l, err := h.db.LinkByID(ctx, id); err != nil || l.LastFetchedAt.IsZero() {
			t.Fatalf("link %s last fetched %v (%v)", id, l.LastFetchedAt, err)
		}
	}
}

func TestMalformedRequestIsDeadLettered(t *testing.T) {
	h := newHarness(t)
	h.request(t, []byte("{not json"))
	d, err := topics.DeadLetterCodec.Unmarshal(h.next(t, topics.DeadLetters).Value)
	if err != nil {
		t.Fatal(err)
	}
	if d.SourceTopic != topics.FetchRequests || string(d.Value) != "{not json" {
		t.Fatalf("dead letter = %+v", d)
	}
	// The fetcher goes on: the next request is served.
	h.fetchRequest(t, "r2")
	if out, err := topics.FetchOutcomeCodec.Unmarshal(h.next(t, topics.FetchOutcomes).Value); err != nil || out.RequestID != "r2" || out.Outcome != topics.OutcomeOK {
		t.Fatalf("outcome after the dead letter = %+v, %v", out, err)
	}
}

func TestExpiringTokenIsRefreshedFirst(t *testing.T) {
	h := newHarness(t)
	before, _, err := h.db.LinkToken(context.Background(), h.link.ID)
	if err != nil {
		t.Fatal(err)
	}
	h.now = before.Expiry.Add(-time.Minute) // within RefreshBefore (5 minutes)
	h.fetchRequest(t, "r1")
	if out, err := topics.FetchOutcomeCodec.Unmarshal(h.next(t, topics.FetchOutcomes).Value); err != nil || out.Outcome != topics.OutcomeOK {
		t.Fatalf("outcome = %+v, %v", out, err)
	}
	after, _, err := h.db.LinkToken(context.Background(), h.link.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.AccessToken == before.AccessToken || after.RefreshToken == before.RefreshToken || !after.Expiry.After(before.Expiry) {
		t.Fatalf("token was not refreshed: expiry %v → %v", before.Expiry, after.Expiry)
	}
}

func TestOnDemandPayloadIsMarkedUrgent(t *testing.T) {
	h := newHarness(t)
	h.fetchRequestFor(t, "r1", topics.ReasonScheduled)
	h.fetchRequestFor(t, "r2", topics.ReasonOnDemand)
	// The fetcher may serve the two requests in either order; match each
	// payload to its request by id.
	want := map[string]string{"r1": "", "r2": "1"}
	for range 2 {
		r := h.next(t, topics.RawPayloads)
		p, err := topics.RawPayloadCodec.Unmarshal(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, hd := range r.Headers {
			if hd.Key == topics.HeaderUrgent {
				got = string(hd.Value)
			}
		}
		w, ok := want[p.RequestID]
		if !ok {
			t.Fatalf("payload for request %q, want r1 or r2 once each", p.RequestID)
		}
		delete(want, p.RequestID)
		if got != w {
			t.Fatalf("request %s: urgent header %q, want %q", p.RequestID, got, w)
		}
	}
}

// TestRetiredMetricIsSkippedAndCounted: Instagram no longer serves a metric
// the connector asks for; the fetch succeeds, its payload carries the other
// insights, and its outcome counts the skipped metric.
func TestRetiredMetricIsSkippedAndCounted(t *testing.T) {
	h := newHarnessFor(t, topics.Instagram, func(c *sim.Config) { c.Instagram.RetiredMetrics = []string{"profile_views"} })
	h.fetchRequestFor(t, "r-retired", topics.ReasonInitial)
	out, err := topics.FetchOutcomeCodec.Unmarshal(h.next(t, topics.FetchOutcomes).Value)
	if err != nil {
		t.Fatal(err)
	}
	if out.Outcome != topics.OutcomeOK || len(out.SkippedMetrics) != 1 || out.SkippedMetrics[0] != "profile_views" {
		t.Fatalf("outcome %+v, want ok with profile_views skipped", out)
	}
	raw, err := topics.RawPayloadCodec.Unmarshal(h.next(t, topics.RawPayloads).Value)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw.Insights) != 1 || !strings.Contains(string(raw.Insights[0]), `"reach"`) || strings.Contains(string(raw.Insights[0]), "profile_views") {
		t.Fatalf("insights %s, want reach and no profile_views", raw.Insights)
	}
}

// TestSkipPostsReadsTheAccountOnly: a request that skips its posts (X's
// monthly post cap) reads the account alone, marks the payload so the
// normalizer keeps the recent posts' numbers, and reports no posts read;
// a full fetch reports the posts it read.
func TestSkipPostsReadsTheAccountOnly(t *testing.T) {
	h := newHarness(t)
	b, _ := topics.FetchRequestCodec.Marshal(&topics.FetchRequest{ID: "r1", LinkID: h.link.ID, UserID: h.link.UserID, Platform: topics.X,
		Reason: topics.ReasonScheduled, RequestedAt: h.now, AccountID: h.link.AccountID, SkipPosts: true})
	h.request(t, b)
	raw, err := topics.RawPayloadCodec.Unmarshal(h.next(t, topics.RawPayloads).Value)
	if err != nil || !raw.PostsSkipped || len(raw.PostPages) != 0 || len(raw.Account) == 0 {
		t.Fatalf("raw payload = %+v (%v)", raw, err)
	}
	out, err := topics.FetchOutcomeCodec.Unmarshal(h.next(t, topics.FetchOutcomes).Value)
	if err != nil || out.Outcome != topics.OutcomeOK || out.Calls != 1 || out.PostPages != 0 || out.PostsRead != 0 {
		t.Fatalf("outcome = %+v (%v)", out, err)
	}
	h.fetchRequest(t, "r2")
	if raw, err := topics.RawPayloadCodec.Unmarshal(h.next(t, topics.RawPayloads).Value); err != nil || raw.PostsSkipped || len(raw.PostPages) == 0 {
		t.Fatalf("full fetch payload = %+v (%v)", raw, err)
	}
	if out, err := topics.FetchOutcomeCodec.Unmarshal(h.next(t, topics.FetchOutcomes).Value); err != nil || out.PostsRead < 1 {
		t.Fatalf("full fetch outcome = %+v (%v)", out, err)
	}
}
