package kafka_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/topics"
)

// changeLog records what a kafka.Changes tells.
type changeLog struct {
	mu                    sync.Mutex
	following, lost       int
	changed               []string
	followingWhileChanged bool // every Changed came while following
}

func (l *changeLog) Following() { l.mu.Lock(); l.following++; l.mu.Unlock() }
func (l *changeLog) Lost()      { l.mu.Lock(); l.lost++; l.mu.Unlock() }
func (l *changeLog) Changed(u string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.changed = append(l.changed, u)
	if l.following <= l.lost {
		l.followingWhileChanged = false
	}
}

func (l *changeLog) state() (following, lost int, changed []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.following, l.lost, slices.Clone(l.changed)
}

func publishChange(t *testing.T, brokers []string, users ...string) {
	t.Helper()
	cl, err := kafka.NewClient(brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, u := range users {
		v, err := topics.AnalyticsChangeCodec.Marshal(&topics.AnalyticsChange{UserID: u, At: time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: topics.AnalyticsChanges, Key: []byte(u), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// runChanges runs a feed telling log until the returned stop is called.
func runChanges(t *testing.T, brokers []string, log *changeLog) (stop func()) {
	t.Helper()
	feed, err := kafka.NewChanges(kafka.ChangesConfig{Brokers: brokers, Listener: log, MaxBackoff: 200 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- feed.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		f, l, _ := log.state()
		if l < f || !log.followingWhileChanged {
			t.Fatalf("following %d, lost %d (a change told while not following: %v): want Lost after the last Following", f, l, !log.followingWhileChanged)
		}
	}
}

func eventuallyFollowing(t *testing.T, log *changeLog) {
	t.Helper()
	testkit.Eventually(t, 30*time.Second, func() error {
		if f, _, _ := log.state(); f != 1 {
			return fmt.Errorf("following %d times, want 1", f)
		}
		return nil
	})
}

// TestChangesWaitForTheirTopic: without the topic the feed keeps trying,
// telling Lost each time, and follows once the topic exists.
func TestChangesWaitForTheirTopic(t *testing.T) {
	b, err := kafka.StartBroker(kafka.BrokerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	log := &changeLog{followingWhileChanged: true}
	stop := runChanges(t, b.Addrs(), log)
	testkit.Eventually(t, 30*time.Second, func() error {
		if f, l, _ := log.state(); f != 0 || l < 2 {
			return fmt.Errorf("following %d, lost %d: want retries (lost) and no following", f, l)
		}
		return nil
	})
	if _, err := kafka.EnsureTopics(t.Context(), b.Addrs(), 1, kafka.PulseTopics()...); err != nil {
		t.Fatal(err)
	}
	eventuallyFollowing(t, log)
	stop()
}

// TestChangesFollowFromTheEnd: the feed tells every change published once
// it is following, none from before, and Lost when it stops.
func TestChangesFollowFromTheEnd(t *testing.T) {
	b, err := kafka.StartBroker(kafka.BrokerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := kafka.EnsureTopics(t.Context(), b.Addrs(), 1, kafka.PulseTopics()...); err != nil {
		t.Fatal(err)
	}
	publishChange(t, b.Addrs(), "before-1", "before-2")
	log := &changeLog{followingWhileChanged: true}
	stop := runChanges(t, b.Addrs(), log)
	eventuallyFollowing(t, log)
	publishChange(t, b.Addrs(), "u1", "u2", "u1")
	testkit.Eventually(t, 30*time.Second, func() error {
		_, _, got := log.state()
		slices.Sort(got)
		if !slices.Equal(got, []string{"u1", "u1", "u2"}) {
			return fmt.Errorf("told %v, want u1 twice and u2 (nothing from before)", got)
		}
		return nil
	})
	stop()
}
