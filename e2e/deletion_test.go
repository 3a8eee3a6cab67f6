package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/processors/aggregator"
	"github.com/pulsehq/pulse/processors/normalizer"
	"github.com/pulsehq/pulse/topics"
)

// tableState reads a compacted goka table topic from the start and returns
// the latest value of each key (nil for a tombstone).
func tableState(t *testing.T, brokers []string, topic string) map[string][]byte {
	t.Helper()
	cl, err := kafka.NewClient(brokers, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm, err := kafka.NewAdmin(brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ends, err := adm.EndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	for p, o := range ends {
		if o > 0 {
			want[p] = o
		}
	}
	out := map[string][]byte{}
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("read %s: %v (still waiting for %v)", topic, err, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			out[string(r.Key)] = r.Value
			if r.Offset+1 >= want[r.Partition] {
				delete(want, r.Partition)
			}
		})
	}
	return out
}

// TestDeletedUserIsForgottenByTheProcessors: after deleteAccount, the
// aggregator's table holds a tombstone for the user and the normalizer's a
// tombstone for their link, a view of the aggregator's table no longer
// knows the user, and another user's rows are untouched.
func TestDeletedUserIsForgottenByTheProcessors(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	observed := time.Now().UTC()
	p := startPipeline(t, func() time.Time { return observed })
	token, userID := p.mustSignUp(t, "forget@example.com")
	otherToken, otherID := p.mustSignUp(t, "keep@example.com")
	p.mustLink(userID, topics.X, p.sim.Accounts(topics.X)[0])
	p.mustLink(otherID, topics.X, p.sim.Accounts(topics.X)[1])

	type summary struct {
		Summary struct {
			Accounts []struct{ LinkID, Handle string }
		}
	}
	linkOf := func(token string) string {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			var s summary
			// Until the aggregator's view has caught up, summary says it
			// is not available yet: keep asking until the deadline.
			errs := p.tryGraphQL(t, token, `{ summary { accounts { linkId handle } } }`, nil, &s)
			if len(errs) == 0 && len(s.Summary.Accounts) == 1 {
				return s.Summary.Accounts[0].LinkID
			}
			if time.Now().After(deadline) {
				t.Fatalf("no account in the summary within 60s: %+v %v", s, errs)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	link, otherLink := linkOf(token), linkOf(otherToken)
	normTable, aggTable := string(normalizer.Group)+"-table", string(aggregator.Table)
	eventuallyTables := func(what string, ok func(norm, agg map[string][]byte) bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			norm, agg := tableState(t, p.brokers, normTable), tableState(t, p.brokers, aggTable)
			if ok(norm, agg) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 60s; normalizer table %d keys, aggregator table %d keys", what, len(norm), len(agg))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	present := func(m map[string][]byte, k string) bool { v, ok := m[k]; return ok && v != nil }
	tombstone := func(m map[string][]byte, k string) bool { v, ok := m[k]; return ok && v == nil }
	eventuallyTables("both users in both tables", func(norm, agg map[string][]byte) bool {
		return present(norm, link) && present(norm, otherLink) && present(agg, userID) && present(agg, otherID)
	})

	var deleted struct{ DeleteAccount bool }
	p.graphql(t, token, `mutation { deleteAccount(password: "correct horse battery") }`, nil, &deleted)
	if !deleted.DeleteAccount {
		t.Fatal("deleteAccount returned false")
	}
	eventuallyTables("tombstones for the deleted user only", func(norm, agg map[string][]byte) bool {
		return tombstone(norm, link) && tombstone(agg, userID) && present(norm, otherLink) && present(agg, otherID)
	})

	// A fresh view of the aggregator's table, as the API builds it.
	opts, release := kafka.NewGoka(p.brokers, 1).ViewOptions()
	v, err := aggregator.NewView(p.brokers, aggregator.ViewOptions{Options: opts, Release: release})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(60 * time.Second)
	for !v.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("view not ready within 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if agg, err := v.Get(userID); err != nil || len(agg.Accounts) != 0 || !agg.UpdatedAt.IsZero() {
		t.Fatalf("the view still knows the deleted user: %+v, %v", agg, err)
	}
	if agg, err := v.Get(otherID); err != nil || len(agg.Accounts) != 1 {
		t.Fatalf("the other user's aggregate: %+v, %v", agg, err)
	}
}

// TestDeletedUsersDeadLetteredLinkIsForgotten: a link whose payloads were
// all dead-lettered has a row in the normalizer's table but none in the
// aggregator's, which never saw a snapshot of it; deleting its user still
// tombstones that row (the purge names the user's links from PostgreSQL).
func TestDeletedUsersDeadLetteredLinkIsForgotten(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	now := time.Now().UTC()
	// No scheduler or fetcher: the link's only payload is the bad one.
	p := newPipeline(t, func() time.Time { return now }, func() time.Time { return now })
	p.startNormalizer()
	p.startAggregator()
	token, userID := p.mustSignUp(t, "dead@example.com")
	acct := p.sim.Accounts(topics.X)[0]
	l, err := p.pg.UpsertLink(t.Context(), userID, topics.X, acct.ID, acct.Handle,
		&oauth2.Token{AccessToken: "a", TokenType: "bearer", Expiry: now.Add(time.Hour)}, "read")
	if err != nil {
		t.Fatal(err)
	}
	bad, err := topics.RawPayloadCodec.Marshal(&topics.RawPayload{RequestID: "r1", LinkID: l.ID, UserID: userID,
		Platform: topics.X, AccountID: acct.ID, FetchedAt: now, Account: []byte("not json")})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kafka.NewClient(p.brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: topics.RawPayloads, Key: []byte(l.ID), Value: bad}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	normTable := string(normalizer.Group) + "-table"
	waitFor := func(what string, ok func(v []byte, found bool) bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			v, found := tableState(t, p.brokers, normTable)[l.ID]
			if ok(v, found) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 60s (row %q, found %v)", what, v, found)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitFor("the normalizer's row of the dead-lettered link", func(v []byte, found bool) bool {
		if !found || v == nil {
			return false
		}
		st, err := normalizer.StateCodec{}.Decode(v)
		return err == nil && st.(*normalizer.State).DeadLetters == 1
	})

	var deleted struct{ DeleteAccount bool }
	p.graphql(t, token, `mutation { deleteAccount(password: "correct horse battery") }`, nil, &deleted)
	if !deleted.DeleteAccount {
		t.Fatal("deleteAccount returned false")
	}
	waitFor("a tombstone for the dead-lettered link", func(v []byte, found bool) bool { return found && v == nil })
}
