package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/kafka"
)

func TestMain(m *testing.M) { testkit.WrapTestMain(m) }

func mustBroker(t *testing.T) []string {
	t.Helper()
	b, err := kafka.StartBroker(kafka.BrokerConfig{Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b.Addrs()
}

func mustClient(t *testing.T, brokers []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kafka.NewClient(brokers, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// consumeAll reads n records in group and commits them, then leaves.
func consumeAll(t *testing.T, brokers []string, group, topic string, n int) {
	t.Helper()
	cl, err := kafka.NewClient(brokers, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d", got, n)
		}
		got += len(fs.Records())
		if err := cl.CommitRecords(ctx, fs.Records()...); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPartitionerMatchesGoka(t *testing.T) {
	// Keys produced with franz-go must land where goka looks them up.
	cases := map[string]int32{}
	for _, k := range []string{"a", "link-1", "7f9c2ba4-e88f-4f9a-9b8f-0c1d2e3f4a5b", "user-42"} {
		cases[k] = gokaPartition(k, 6)
	}
	p := kafka.Partitioner().ForTopic("t")
	for k, want := range cases {
		if got := p.Partition(&kgo.Record{Key: []byte(k)}, 6); int32(got) != want {
			t.Errorf("key %q: partition %d, goka %d", k, got, want)
		}
	}
}

// gokaPartition mirrors goka's processor.go: its default hasher, then
// int32 modulo, negated when negative.
func gokaPartition(key string, n int32) int32 {
	h := goka.DefaultHasher()()
	h.Write([]byte(key))
	p := int32(h.Sum32()) % n
	if p < 0 {
		p = -p
	}
	return p
}

func TestResetGroupAndLag(t *testing.T) {
	brokers := mustBroker(t)
	ctx := context.Background()
	if _, err := kafka.EnsureTopics(ctx, brokers, 0, kafka.TopicSpec{Name: "events", Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	prod := mustClient(t, brokers)
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var recs []*kgo.Record
	for i := range 30 {
		recs = append(recs, &kgo.Record{Topic: "events", Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v"),
			Timestamp: base.Add(time.Duration(i) * time.Minute)})
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	consumeAll(t, brokers, "g", "events", 30)

	adm, err := kafka.NewAdmin(brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if lag, _, err := adm.Lag(ctx, "g"); err != nil || lag != 0 {
		t.Fatalf("lag after consuming = %d, %v", lag, err)
	}
	topics, err := adm.GroupTopics(ctx, "g")
	if err != nil || len(topics) != 1 || topics[0] != "events" {
		t.Fatalf("group topics = %v, %v", topics, err)
	}

	cases := []struct {
		to      string
		wantLag int64
	}{
		{"earliest", 30},
		{base.Add(20 * time.Minute).Format(time.RFC3339), 10}, // records 20..29
		{"0", 30},
		{"1000", 0}, // past the end: the end
	}
	for _, tc := range cases {
		target, err := kafka.ParseResetTarget(tc.to)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := adm.ResetGroup(ctx, "g", topics, target); err != nil {
			t.Fatalf("reset to %s: %v", tc.to, err)
		}
		if lag, _, err := adm.Lag(ctx, "g"); err != nil || lag != tc.wantLag {
			t.Errorf("reset to %s: lag %d, want %d (%v)", tc.to, lag, tc.wantLag, err)
		}
	}

	// A group with a live member is refused.
	live := mustClient(t, brokers, kgo.ConsumerGroup("g"), kgo.ConsumeTopics("events"))
	testkit.Eventually(t, 30*time.Second, func() error {
		live.PollFetches(ctxWithTimeout(t, 200*time.Millisecond))
		if _, members, err := adm.Lag(ctx, "g"); members == 0 {
			return fmt.Errorf("group g has no member yet (%v)", err)
		}
		return nil
	})
	target, _ := kafka.ParseResetTarget("earliest")
	if _, err := adm.ResetGroup(ctx, "g", topics, target); !errors.Is(err, kafka.ErrGroupActive) {
		t.Fatalf("reset of an active group: %v, want ErrGroupActive", err)
	}
}

func ctxWithTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestParseResetTarget(t *testing.T) {
	for _, bad := range []string{"", "-1", "latest", "2026-13-01T00:00:00Z"} {
		if _, err := kafka.ParseResetTarget(bad); err == nil {
			t.Errorf("ParseResetTarget(%q) accepted", bad)
		}
	}
}
