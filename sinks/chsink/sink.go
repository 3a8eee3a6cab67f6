// Package chsink is the sink that batches normalized events from Kafka into
// ClickHouse. It is a franz-go consumer group that commits offsets only
// after ClickHouse acknowledged the insert holding those records, so a crash
// or an outage loses nothing; the tables are idempotent on each row's
// identity, so the records re-read after a crash change no query answer.
package chsink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/topics"
)

// Store is where batches go. *clickhouse.DB implements it. Both methods must
// be idempotent on the rows' identities.
type Store interface {
	InsertSnapshots(ctx context.Context, snaps []topics.AccountSnapshot) error
	InsertPosts(ctx context.Context, posts []topics.Post) error
}

// Config configures a Sink.
type Config struct {
	// Brokers to consume from. Required.
	Brokers []string
	// Store receives the batches. Required.
	Store Store
	// Group is the consumer group. Default topics.GroupSink.
	Group string
	// BatchRows flushes once this many rows are buffered. Default 5000.
	BatchRows int
	// BatchBytes flushes once this many record bytes are buffered. Default
	// 8 MiB.
	BatchBytes int
	// FlushInterval flushes a non-empty buffer at least this often. Default
	// 1s (ClickHouse's advice: about one insert per second per table).
	FlushInterval time.Duration
	// MaxBackoff caps the wait between retries of a failed insert. Default
	// 30s. Retries go on until they succeed or the sink is stopped.
	MaxBackoff time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// ClientOptions are extra franz-go options (tests use them).
	ClientOptions []kgo.Opt
}

// Stats are the sink's counters since start.
type Stats struct {
	Flushes      int64
	Snapshots    int64
	Posts        int64
	DeadLetters  int64
	FailedWrites int64
}

// Sink consumes AccountSnapshots and Posts into a Store.
type Sink struct {
	cfg Config
	cl  *kgo.Client
	log *slog.Logger

	mu        sync.Mutex // guards the buffer and stats; held during a flush
	snaps     []topics.AccountSnapshot
	posts     []topics.Post
	dead      []*kgo.Record
	recs      []*kgo.Record // every buffered record, for the commit
	bytes     int
	lastFlush time.Time
	stats     Stats
}

// New validates cfg and builds a Sink. It connects lazily; call Run.
func New(cfg Config) (*Sink, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("chsink: no brokers")
	}
	if cfg.Store == nil {
		return nil, errors.New("chsink: no store")
	}
	if cfg.Group == "" {
		cfg.Group = topics.GroupSink
	}
	if cfg.BatchRows <= 0 {
		cfg.BatchRows = 5000
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = 8 << 20
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Sink{cfg: cfg, log: cfg.Logger, lastFlush: time.Now()}
	opts := append([]kgo.Opt{
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(topics.AccountSnapshots, topics.Posts),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(s.onRevoked),
		// Bounded memory: at most one poll's worth beyond the buffer.
		kgo.FetchMaxBytes(int32(min(cfg.BatchBytes, 64<<20))),
	}, cfg.ClientOptions...)
	cl, err := kafka.NewClient(cfg.Brokers, opts...)
	if err != nil {
		return nil, fmt.Errorf("chsink: %w", err)
	}
	s.cl = cl
	return s, nil
}

// Stats returns a snapshot of the counters. Safe for concurrent use.
func (s *Sink) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Run consumes until ctx is cancelled, then leaves the group and closes the
// client. Buffered records not yet written are not committed; the next
// owner of their partitions reads them again.
func (s *Sink) Run(ctx context.Context) error {
	defer s.cl.Close()
	for {
		pollCtx, cancel := context.WithTimeout(ctx, s.cfg.FlushInterval)
		fetches := s.cl.PollRecords(pollCtx, s.cfg.BatchRows)
		cancel()
		if ctx.Err() != nil {
			s.cl.AllowRebalance()
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				s.log.Warn("chsink: fetch error", "topic", t, "partition", p, "err", err)
			}
		})
		s.mu.Lock()
		fetches.EachRecord(s.add)
		var err error
		if s.due() {
			err = s.flush(ctx)
		}
		s.mu.Unlock()
		s.cl.AllowRebalance()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// add decodes r into the buffer; undecodable records become dead letters.
// Called with mu held.
func (s *Sink) add(r *kgo.Record) {
	s.recs = append(s.recs, r)
	s.bytes += len(r.Value)
	var err error
	switch r.Topic {
	case topics.AccountSnapshots:
		var v *topics.AccountSnapshot
		if v, err = topics.AccountSnapshotCodec.Unmarshal(r.Value); err == nil {
			s.snaps = append(s.snaps, *v)
		}
	case topics.Posts:
		var v *topics.Post
		if v, err = topics.PostCodec.Unmarshal(r.Value); err == nil {
			s.posts = append(s.posts, *v)
		}
	default:
		err = fmt.Errorf("unexpected topic %q", r.Topic)
	}
	if err != nil {
		dl, encErr := topics.DeadLetterCodec.Marshal(&topics.DeadLetter{
			Reason: "chsink: " + err.Error(), SourceTopic: r.Topic, Partition: r.Partition,
			Offset: r.Offset, Key: string(r.Key), Value: r.Value, At: time.Now().UTC(),
		})
		if encErr == nil {
			s.dead = append(s.dead, &kgo.Record{Topic: topics.DeadLetters, Key: r.Key, Value: dl})
		}
	}
}

func (s *Sink) due() bool {
	n := len(s.snaps) + len(s.posts) + len(s.dead)
	if n == 0 {
		// Nothing to write, but offsets of skipped records may still need
		// committing; that happens with the next flush.
		return len(s.recs) > 0 && time.Since(s.lastFlush) >= s.cfg.FlushInterval
	}
	return n >= s.cfg.BatchRows || s.bytes >= s.cfg.BatchBytes || time.Since(s.lastFlush) >= s.cfg.FlushInterval
}

// flush writes the buffer, retrying with backoff until it succeeds or ctx
// ends, then commits the buffered records' offsets. Called with mu held.
func (s *Sink) flush(ctx context.Context) error {
	if len(s.recs) == 0 {
		s.lastFlush = time.Now()
		return nil
	}
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := s.write(ctx)
		if err == nil {
			break
		}
		s.stats.FailedWrites++
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		s.log.Warn("chsink: write failed; retrying", "attempt", attempt, "rows", len(s.snaps)+len(s.posts), "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		backoff = min(backoff*2, s.cfg.MaxBackoff)
	}
	if err := s.cl.CommitRecords(ctx, s.recs...); err != nil {
		// The rows are written; if the commit is lost they are read again
		// and rewritten, which the tables absorb.
		s.log.Warn("chsink: commit failed", "err", err)
	}
	s.stats.Flushes++
	s.stats.Snapshots += int64(len(s.snaps))
	s.stats.Posts += int64(len(s.posts))
	s.snaps, s.posts, s.dead, s.recs = s.snaps[:0], s.posts[:0], s.dead[:0], s.recs[:0]
	s.bytes = 0
	s.lastFlush = time.Now()
	return nil
}

func (s *Sink) write(ctx context.Context) error {
	if err := s.cfg.Store.InsertSnapshots(ctx, s.snaps); err != nil {
		return err
	}
	if err := s.cfg.Store.InsertPosts(ctx, s.posts); err != nil {
		return err
	}
	if len(s.dead) > 0 {
		if err := s.cl.ProduceSync(ctx, s.dead...).FirstErr(); err != nil {
			return fmt.Errorf("chsink: dead letters: %w", err)
		}
		s.stats.DeadLetters += int64(len(s.dead))
		s.dead = s.dead[:0] // produced; a retry of the inserts must not resend them
	}
	return nil
}

// onRevoked flushes what was read from partitions this member is losing, so
// their next owner does not redo the work. Rebalances are blocked while Run
// holds polled records, so this never races with add.
func (s *Sink) onRevoked(ctx context.Context, _ *kgo.Client, _ map[string][]int32) {
	// Bounded: a ClickHouse outage must not hold a rebalance or shutdown.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.flush(ctx); err != nil {
		s.log.Warn("chsink: flush on revoke failed; records will be re-read", "err", err)
		s.snaps, s.posts, s.dead, s.recs, s.bytes = s.snaps[:0], s.posts[:0], s.dead[:0], s.recs[:0], 0
	}
}
