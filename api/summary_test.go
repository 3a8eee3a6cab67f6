package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulsehq/pulse/api"
	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/topics"
)

// fakeNow stands in for the aggregator's view (api's own small interface).
type fakeNow struct {
	mu   sync.Mutex
	aggs map[string]*topics.UserAggregate
	subs map[string][]chan *topics.UserAggregate
}

func newFakeNow() *fakeNow {
	return &fakeNow{aggs: map[string]*topics.UserAggregate{}, subs: map[string][]chan *topics.UserAggregate{}}
}

func (f *fakeNow) Get(userID string) (*topics.UserAggregate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.aggs[userID]; ok {
		return a, nil
	}
	return &topics.UserAggregate{UserID: userID}, nil
}

func (f *fakeNow) Subscribe(userID string) (<-chan *topics.UserAggregate, func()) {
	ch := make(chan *topics.UserAggregate, 4)
	f.mu.Lock()
	f.subs[userID] = append(f.subs[userID], ch)
	f.mu.Unlock()
	return ch, func() {}
}

func (f *fakeNow) publish(a *topics.UserAggregate) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.aggs[a.UserID] = a
	for _, ch := range f.subs[a.UserID] {
		ch <- a
	}
}

func (f *fakeNow) subscribers(userID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs[userID])
}

func aggregate(userID string, followers int64) *topics.UserAggregate {
	return &topics.UserAggregate{UserID: userID, UpdatedAt: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Accounts: []topics.AccountAggregate{
		{LinkID: "l1", Platform: topics.X, AccountID: "1", Handle: "@a", Followers: followers, Delta24h: 5, EngagementRate: 0.25, Posts30d: 3},
		{LinkID: "l2", Platform: topics.Instagram, AccountID: "2", Handle: "b", Followers: 7},
	}}
}

type summaryResult struct {
	Summary struct {
		UpdatedAt *time.Time
		Accounts  []struct {
			Platform       string
			Handle         string
			Followers      int64
			Delta24h       int64
			EngagementRate float64
		}
	}
}

func TestSummaryIsScopedFilteredAndUnavailableWithoutView(t *testing.T) {
	now := newFakeNow()
	e := newEnv(t, func(c *api.Config) { c.Now = now })
	alice, bob := e.browser(t), e.browser(t)
	aliceID, _ := alice.signUp("alice@example.com")
	bob.signUp("bob@example.com")
	now.publish(aggregate(aliceID, 100))

	var got summaryResult
	alice.mustGraphQL(`{ summary { updatedAt accounts { platform handle followers delta24h engagementRate } } }`, nil, &got)
	if len(got.Summary.Accounts) != 2 || got.Summary.Accounts[0].Followers != 100 || got.Summary.Accounts[0].Delta24h != 5 ||
		got.Summary.Accounts[0].EngagementRate != 0.25 || got.Summary.UpdatedAt == nil {
		t.Fatalf("alice's summary = %+v", got)
	}
	got = summaryResult{}
	alice.mustGraphQL(`{ summary(platforms: [INSTAGRAM]) { accounts { platform handle followers } } }`, nil, &got)
	if len(got.Summary.Accounts) != 1 || got.Summary.Accounts[0].Platform != "INSTAGRAM" {
		t.Fatalf("filtered summary = %+v", got)
	}
	got = summaryResult{}
	bob.mustGraphQL(`{ summary { updatedAt accounts { handle } } }`, nil, &got)
	if len(got.Summary.Accounts) != 0 || got.Summary.UpdatedAt != nil {
		t.Fatalf("bob sees %+v", got)
	}

	noView := newEnv(t).browser(t)
	noView.signUp("carol@example.com")
	noView.wantGraphQLError(`{ summary { updatedAt } }`, nil, "UNAVAILABLE")
}

func TestSummarySubscriptionOverSSE(t *testing.T) {
	now := newFakeNow()
	e := newEnv(t, func(c *api.Config) { c.Now = now })
	b := e.browser(t)
	id, _ := b.signUp("sse@example.com")
	now.publish(aggregate(id, 100))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	body := `{"query":"subscription { summary(platforms: [X]) { accounts { handle followers } } }"}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+"/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Origin", e.srv.URL)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := bufio.NewScanner(resp.Body)
	next := func() summaryResult {
		t.Helper()
		for events.Scan() {
			line := events.Text()
			if !strings.HasPrefix(line, "data: ") {
				continue
			}
			var env struct{ Data summaryResult }
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &env); err != nil {
				t.Fatalf("event %q: %v", line, err)
			}
			return env.Data
		}
		t.Fatalf("stream ended: %v", events.Err())
		return summaryResult{}
	}
	first := next()
	if len(first.Summary.Accounts) != 1 || first.Summary.Accounts[0].Followers != 100 {
		t.Fatalf("first event = %+v", first)
	}
	testkit.Eventually(t, 10*time.Second, func() error {
		if now.subscribers(id) == 0 {
			return errors.New("the subscription has not subscribed to the view")
		}
		return nil
	})
	now.publish(aggregate(id, 123))
	if second := next(); len(second.Summary.Accounts) != 1 || second.Summary.Accounts[0].Followers != 123 {
		t.Fatalf("second event = %+v", second)
	}
}
