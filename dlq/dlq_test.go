package dlq_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsehq/pulse/dlq"
	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/topics"
)

func TestMain(m *testing.M) { testkit.WrapTestMain(m) }

func TestRedriveOnceAndList(t *testing.T) {
	b, err := kafka.StartBroker(kafka.BrokerConfig{Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	brokers := b.Addrs()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := kafka.EnsureTopics(ctx, brokers, 0, kafka.TopicSpec{Name: topics.DeadLetters}, kafka.TopicSpec{Name: topics.RawPayloads}); err != nil {
		t.Fatal(err)
	}
	cl, err := kafka.NewClient(brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	dead := func(i int, source, reason string) *kgo.Record {
		v, _ := topics.DeadLetterCodec.Marshal(&topics.DeadLetter{Reason: reason, SourceTopic: source, Key: fmt.Sprintf("k%d", i),
			Value: fmt.Appendf(nil, "original-%d", i), At: time.Now()})
		return &kgo.Record{Topic: topics.DeadLetters, Key: fmt.Appendf(nil, "k%d", i), Value: v}
	}
	if err := cl.ProduceSync(ctx, dead(1, topics.RawPayloads, "parse x account: eof"), dead(2, topics.Posts, "other"),
		dead(3, topics.RawPayloads, "parse x posts: bad")).FirstErr(); err != nil {
		t.Fatal(err)
	}

	var listed int
	if err := dlq.List(ctx, brokers, dlq.Filter{}, func(dlq.Letter) { listed++ }); err != nil || listed != 3 {
		t.Fatalf("list: %d letters, %v", listed, err)
	}
	f := dlq.Filter{Reason: "parse", SourceTopic: topics.RawPayloads}
	if n, err := dlq.Redrive(ctx, brokers, f, true, nil); err != nil || n != 2 {
		t.Fatalf("dry run: %d, %v", n, err)
	}
	if n, err := dlq.Redrive(ctx, brokers, f, false, nil); err != nil || n != 2 {
		t.Fatalf("redrive: %d, %v", n, err)
	}
	if n, err := dlq.Redrive(ctx, brokers, f, false, nil); err != nil || n != 0 {
		t.Fatalf("second redrive: %d, %v (want 0: already redriven)", n, err)
	}
	if err := cl.ProduceSync(ctx, dead(4, topics.RawPayloads, "parse again")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if n, err := dlq.Redrive(ctx, brokers, f, false, nil); err != nil || n != 1 {
		t.Fatalf("redrive of a new dead letter: %d, %v", n, err)
	}

	// The source topic got exactly the three originals, with their keys.
	got := map[string]string{}
	rd, err := kafka.NewClient(brokers, kgo.ConsumeTopics(topics.RawPayloads), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for len(got) < 3 && ctx.Err() == nil {
		rd.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if len(r.Headers) != 1 || r.Headers[0].Key != dlq.RedrivenHeader {
				t.Errorf("record without redrive header: %+v", r.Headers)
			}
			if _, dup := got[string(r.Key)]; dup {
				t.Errorf("key %s redriven twice", r.Key)
			}
			got[string(r.Key)] = string(r.Value)
		})
	}
	want := map[string]string{"k1": "original-1", "k3": "original-3", "k4": "original-4"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("redriven = %v, want %v", got, want)
	}
}
