package aggregator_test

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
	"github.com/pulsehq/pulse/processors/aggregator"
	"github.com/pulsehq/pulse/topics"
)

// TestViewServesAggregatesFromKafka runs the processor on a kfake broker and
// reads the table back through a View, as the API does.
func TestViewServesAggregatesFromKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and a goka group")
	}
	b, err := kafka.StartBroker(kafka.BrokerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	repl, err := kafka.EnsureTopics(ctx, b.Addrs(), 0, kafka.PulseTopics()...)
	if err != nil {
		t.Fatal(err)
	}
	g := kafka.NewGoka(b.Addrs(), repl)
	p, err := aggregator.New(aggregator.Config{Brokers: g.Brokers, Options: append(g.ProcessorOptions(), goka.WithStorageBuilder(storage.MemoryBuilder()))})
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithCancel(ctx)
	pdone := make(chan error, 1)
	go func() { pdone <- p.Run(pctx) }()
	defer func() { pcancel(); <-pdone }()

	cl, err := kafka.NewClient(g.Brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx,
		&kgo.Record{Topic: topics.AccountSnapshots, Key: []byte("link-a"), Value: snapshot("u1", "link-a", t0, 100)},
		&kgo.Record{Topic: topics.AccountSnapshots, Key: []byte("link-b"), Value: snapshot("u1", "link-b", t0, 7)},
		&kgo.Record{Topic: topics.AccountSnapshots, Key: []byte("link-a"), Value: snapshot("u1", "link-a", t0.Add(24*time.Hour), 130)},
		&kgo.Record{Topic: topics.AccountSnapshots, Key: []byte("link-z"), Value: snapshot("u2", "link-z", t0, 5)},
	).FirstErr(); err != nil {
		t.Fatal(err)
	}

	opts, release := g.ViewOptions()
	v, err := aggregator.NewView(g.Brokers, aggregator.ViewOptions{Options: opts, Release: release})
	if err != nil {
		t.Fatal(err)
	}
	vctx, vcancel := context.WithCancel(ctx)
	vdone := make(chan error, 1)
	go func() { vdone <- v.Run(vctx) }()
	defer func() {
		vcancel()
		if err := <-vdone; err != nil {
			t.Error(err)
		}
	}()
	var agg *topics.UserAggregate
	testkit.Eventually(t, time.Minute, func() (err error) {
		agg, err = v.Get("u1")
		if err == nil && (len(agg.Accounts) != 2 || agg.Accounts[0].Followers != 130) {
			err = fmt.Errorf("view serves u1's aggregate as %+v", agg)
		}
		return err
	})
	if a := agg.Accounts[0]; a.LinkID != "link-a" || a.Delta24h != 30 || agg.Accounts[1].Followers != 7 {
		t.Fatalf("aggregate = %+v", agg)
	}
	if agg, err := v.Get("nobody"); err != nil || len(agg.Accounts) != 0 {
		t.Fatalf("unknown user: %+v, %v", agg, err)
	}

	// A subscriber hears about the next change.
	updates, unsubscribe := v.Subscribe("u1")
	defer unsubscribe()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topics.AccountSnapshots, Key: []byte("link-b"),
		Value: snapshot("u1", "link-b", t0.Add(time.Hour), 9)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case agg := <-updates:
		if agg.UserID != "u1" || len(agg.Accounts) != 2 || agg.Accounts[1].Followers != 9 {
			t.Fatalf("update = %+v", agg)
		}
	case <-ctx.Done():
		t.Fatal("no update within the deadline")
	}
}
