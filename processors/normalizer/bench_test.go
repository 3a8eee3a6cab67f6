package normalizer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/processors/normalizer"
	"github.com/pulsehq/pulse/topics"
)

// benchRecords raw payloads are produced into a fresh broker by each
// benchmark below, so the normalizer and a bare franz-go consumer read the
// same data in the same run.
const benchRecords = 50_000

func benchTopic(b *testing.B) *kafka.Goka {
	b.Helper()
	br, err := kafka.StartBroker(kafka.BrokerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(br.Close)
	repl, err := kafka.EnsureTopics(context.Background(), br.Addrs(), 0, kafka.PulseTopics()...)
	if err != nil {
		b.Fatal(err)
	}
	cl, err := kafka.NewClient(br.Addrs())
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	recs := make([]*kgo.Record, 0, benchRecords)
	for i := range benchRecords {
		key := fmt.Sprintf("link-%d", i%1000)
		recs = append(recs, &kgo.Record{Topic: topics.RawPayloads, Key: []byte(key),
			Value: raw(b, key, t0.Add(time.Duration(i)*time.Minute), xAccountBody("42", i))})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	return kafka.NewGoka(br.Addrs(), repl)
}

func totalEnd(b *testing.B, adm *kafka.Admin, topic string) int64 {
	b.Helper()
	ends, err := adm.EndOffsets(context.Background(), topic)
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, e := range ends {
		n += e
	}
	return n
}

// waitOutputs polls until topic holds want records: the processor has
// emitted one snapshot per input (offset commits lag behind by goka's
// commit interval, so they would time the interval, not the processor).
func waitOutputs(b *testing.B, adm *kafka.Admin, topic string, want int64) {
	b.Helper()
	testkit.Eventually(b, 5*time.Minute, func() error {
		if n := totalEnd(b, adm, topic); n < want {
			return fmt.Errorf("%s holds %d records, want %d", topic, n, want)
		}
		return nil
	})
}

// BenchmarkNormalizer measures the goka normalizer reading benchRecords raw
// payloads, normalizing them and emitting snapshots: from the moment the
// processor is ready (group joined, table recovered; that start-up, about
// a second on kfake, is not timed) until every snapshot is on its topic.
func BenchmarkNormalizer(b *testing.B) {
	g := benchTopic(b)
	adm, err := kafka.NewAdmin(g.Brokers)
	if err != nil {
		b.Fatal(err)
	}
	defer adm.Close()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		group := fmt.Sprintf("bench-normalizer-%d-%d", time.Now().UnixNano(), i)
		p, err := normalizer.New(normalizer.Config{Brokers: g.Brokers, Parsers: mustParsers(b), Group: goka.Group(group),
			Options: append(g.ProcessorOptions(), goka.WithStorageBuilder(storage.MemoryBuilder()), goka.WithLogger(quiet{}))})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		if err := p.WaitForReady(); err != nil {
			b.Fatal(err)
		}
		want := totalEnd(b, adm, topics.AccountSnapshots) + benchRecords
		b.StartTimer()
		waitOutputs(b, adm, topics.AccountSnapshots, want)
		b.StopTimer()
		cancel()
		<-done
	}
	b.ReportMetric(float64(benchRecords*b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkBareConsume is the baseline: a franz-go consumer group reading
// the same topic and decoding nothing, group join included.
func BenchmarkBareConsume(b *testing.B) {
	g := benchTopic(b)
	b.ResetTimer()
	for i := range b.N {
		cl, err := kafka.NewClient(g.Brokers, kgo.ConsumerGroup(fmt.Sprintf("bench-bare-%d-%d", time.Now().UnixNano(), i)),
			kgo.ConsumeTopics(topics.RawPayloads), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			b.Fatal(err)
		}
		for n := 0; n < benchRecords; {
			n += len(cl.PollFetches(context.Background()).Records())
		}
		cl.Close()
	}
	b.ReportMetric(float64(benchRecords*b.N)/b.Elapsed().Seconds(), "msgs/s")
}

type quiet struct{}

func (quiet) Print(...any)          {}
func (quiet) Println(...any)        {}
func (quiet) Printf(string, ...any) {}
