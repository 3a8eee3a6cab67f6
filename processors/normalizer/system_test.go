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

// mustBroker starts an in-memory kfake broker with Pulse's topics.
func mustBroker(t *testing.T) *kafka.Goka {
	t.Helper()
	b, err := kafka.StartBroker(kafka.BrokerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	repl, err := kafka.EnsureTopics(ctx, b.Addrs(), 0, kafka.PulseTopics()...)
	if err != nil {
		t.Fatal(err)
	}
	return kafka.NewGoka(b.Addrs(), repl)
}

func mustProduce(t *testing.T, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

type runningProcessor struct {
	cancel context.CancelFunc
	done   chan error
}

func startProcessor(t *testing.T, g *kafka.Goka, local storage.Builder) *runningProcessor {
	t.Helper()
	opts := append(g.ProcessorOptions(), goka.WithStorageBuilder(local))
	p, err := normalizer.New(normalizer.Config{Brokers: g.Brokers, Parsers: mustParsers(t), Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rp := &runningProcessor{cancel: cancel, done: make(chan error, 1)}
	go func() { rp.done <- normalizer.Run(ctx, p) }()
	return rp
}

func (rp *runningProcessor) stop(t *testing.T) {
	t.Helper()
	rp.cancel()
	select {
	case err := <-rp.done:
		if err != nil {
			t.Fatalf("processor: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("processor did not stop within 60s")
	}
}

// snapshotCollector reads the snapshot topic from the start.
type snapshotCollector struct {
	cl  *kgo.Client
	got []topics.AccountSnapshot
}

// waitFor reads until n snapshots were seen in total or the deadline hits.
func (c *snapshotCollector) waitFor(t *testing.T, n int, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for len(c.got) < n {
		fs := c.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("saw %d snapshots within %v, want %d", len(c.got), d, n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			s, err := topics.AccountSnapshotCodec.Unmarshal(r.Value)
			if err != nil {
				t.Fatalf("bad snapshot: %v", err)
			}
			c.got = append(c.got, *s)
		})
	}
}

func TestProcessorRestartRecoversTable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and rebalances a goka group twice")
	}
	restartScenario(t, storage.MemoryBuilder())
}

// TestProcessorRestartKeepsLocalTable is the same with the table kept in
// a state directory (kafka.TableStorage, as `pulse processor` with a
// state dir): the second instance reads the first one's local table and
// what the table topic holds after it.
func TestProcessorRestartKeepsLocalTable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and rebalances a goka group twice")
	}
	local, err := kafka.TableStorage(t.TempDir(), kafka.TableStorageConfig{})
	if err != nil {
		t.Fatal(err)
	}
	restartScenario(t, local)
}

func restartScenario(t *testing.T, local storage.Builder) {
	g := mustBroker(t)
	prod, err := kafka.NewClient(g.Brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	cons, err := kafka.NewClient(g.Brokers, kgo.ConsumeTopics(topics.AccountSnapshots), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	col := &snapshotCollector{cl: cons}

	const links, perPhase = 8, 5
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	payload := func(link, i int) *kgo.Record {
		key := fmt.Sprintf("link-%d", link)
		at := t0.Add(time.Duration(i) * time.Hour)
		return &kgo.Record{Topic: topics.RawPayloads, Key: []byte(key),
			Value: raw(t, key, at, xAccountBody("42", 1000*link+i))}
	}
	var phase1, phase2 []*kgo.Record
	for l := range links {
		for i := range perPhase {
			phase1 = append(phase1, payload(l, i))
			phase2 = append(phase2, payload(l, perPhase+i))
		}
	}
	phase2 = append(phase2, payload(0, 2), payload(1, perPhase+1)) // redeliveries

	mustProduce(t, prod, phase1...)
	p1 := startProcessor(t, g, local)
	col.waitFor(t, len(phase1), 90*time.Second)
	p1.stop(t)

	mustProduce(t, prod, phase2...)
	p2 := startProcessor(t, g, local)
	col.waitFor(t, len(phase1)+len(phase2), 90*time.Second)

	// Outputs: exactly one snapshot per input, none re-emitted by the restart.
	if len(col.got) != len(phase1)+len(phase2) {
		t.Fatalf("got %d snapshots, want %d", len(col.got), len(phase1)+len(phase2))
	}
	seen := map[string]int{}
	for _, s := range col.got {
		seen[fmt.Sprintf("%s@%d=%d", s.LinkID, s.Version, s.Followers)]++
	}
	for l := range links {
		for i := range 2 * perPhase {
			k := fmt.Sprintf("link-%d@%d=%d", l, t0.Add(time.Duration(i)*time.Hour).UnixMilli(), 1000*l+i)
			want := 1
			if (l == 0 && i == 2) || (l == 1 && i == perPhase+1) {
				want = 2
			}
			if seen[k] != want {
				t.Errorf("snapshot %s seen %d times, want %d", k, seen[k], want)
			}
		}
	}

	// Table: the second instance recovered the first one's counts.
	p2.stop(t)
	vopts, release := g.ViewOptions()
	view, err := goka.NewView(g.Brokers, goka.GroupTable(normalizer.Group), normalizer.StateCodec{},
		append(vopts, goka.WithViewStorageBuilder(storage.MemoryBuilder()))...)
	if err != nil {
		t.Fatal(err)
	}
	vctx, vcancel := context.WithCancel(context.Background())
	vdone := make(chan error, 1)
	go func() { vdone <- view.Run(vctx) }()
	defer func() { vcancel(); <-vdone; release() }()
	testkit.Eventually(t, 30*time.Second, func() error {
		if st := view.CurrentState(); st != goka.ViewStateRunning {
			return fmt.Errorf("view state %v, want running", st)
		}
		return nil
	})
	for l := range links {
		v, err := view.Get(fmt.Sprintf("link-%d", l))
		if err != nil || v == nil {
			t.Fatalf("link-%d: %v %v", l, v, err)
		}
		st := v.(*normalizer.State)
		last := 2*perPhase - 1
		if st.Payloads != 2*perPhase || st.Followers != int64(1000*l+last) || st.Version != t0.Add(time.Duration(last)*time.Hour).UnixMilli() {
			t.Errorf("link-%d state = %+v, want %d payloads, followers %d", l, st, 2*perPhase, 1000*l+last)
		}
	}
}
