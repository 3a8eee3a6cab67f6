// Package chsink is the sink that batches normalized events from Kafka into
// ClickHouse. It is a franz-go consumer group that commits offsets only
// after ClickHouse acknowledged the insert holding those records and a
// later recomputation of the rollups they touch, so a crash or an outage
// loses nothing; the tables are idempotent on each row's identity and the
// rollups are recomputed from the deduplicated rows, so the records re-read
// after a crash change no query answer.
//
// Inserts and rollup recomputations are decoupled: each batch is inserted
// as soon as it is due, and one goroutine recomputes the rollups of every
// batch inserted since its last recomputation, then commits their offsets.
// When an insert leaves the sink caught up (nothing read and not yet
// inserted) that is one recomputation right after it; while the sink has
// more to insert (a replay, a backlog) the recomputations, which cost
// ClickHouse far more than the inserts, run at most once per
// Config.RefreshInterval and cover many batches each (a group commit): a
// replay in time order touches each day bucket in many batches, and each
// recomputation of a day re-reads all of its hours. At most
// Config.MaxPendingBatches inserted batches wait for one.
//
// After each insert and each rollup recomputation, and before the offsets
// behind them are committed, the sink publishes a topics.AnalyticsChange
// for every user whose rows it wrote, so the API can drop the answers it
// cached for them.
//
// Batching follows ClickHouse's advice for inserts: large batches (a flush
// when Config.BatchRows rows or Config.BatchBytes bytes are buffered) and
// about one insert per second at steady state (Config.FlushInterval), with
// two exceptions: a record carrying the topics.HeaderUrgent header (a user
// waiting on a refresh) is flushed as soon as it is read, and the end of a
// backlog is flushed once nothing more arrives (Config.IdleFlush) rather
// than a whole FlushInterval after the last full batch.
//
// Writing overlaps reading: while one batch is written and committed, the
// next is read and decoded, and batches are committed in order. While
// ClickHouse is down or failing, the sink retries the batch in flight with
// exponential backoff and reads only until the next batch is full, so its
// memory stays bounded by two batches plus what franz-go buffers from one
// fetch per broker (Config.BatchBytes caps the fetch size).
package chsink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/topics"
)

// Store is where batches go. *clickhouse.DB implements it.
type Store interface {
	// Insert stores snapshots and posts, leaving the rollups they touch
	// to RefreshRollups. It must be idempotent: inserting rows again, in
	// part or in full, changes no query answer. An error means some, all
	// or none of the rows may have been stored; the sink then inserts the
	// same rows again.
	Insert(ctx context.Context, snaps []topics.AccountSnapshot, posts []topics.Post) error
	// RefreshRollups recomputes the rollups of every row stored by an
	// Insert that returned before the call. On error it must leave them
	// to the next call.
	RefreshRollups(ctx context.Context) error
}

// Config configures a Sink. Zero values take the stated defaults.
type Config struct {
	// Brokers to consume from. Required.
	Brokers []string
	// Store receives the batches. Required.
	Store Store
	// Group is the consumer group. Default topics.GroupSink.
	Group string
	// BatchRows flushes once this many records are buffered; a batch
	// never holds more, and the sink holds at most two batches (one being
	// written, one being read). Default 50,000.
	BatchRows int
	// BatchBytes flushes once this many record value bytes are buffered,
	// and caps the size of one fetch, so a batch holds at most about twice
	// this. Default 16 MiB.
	BatchBytes int
	// FlushInterval is the least time between two flushes that are not
	// forced by size, by an urgent record or by the end of a backlog
	// (IdleFlush); a buffered record waits at most this long. Default 1s
	// (ClickHouse's advice: about one insert per second per table).
	FlushInterval time.Duration
	// IdleFlush ends a backlog early: when the previous batch was handed
	// off full (BatchRows or BatchBytes), the next one is handed off as
	// soon as no record has arrived for IdleFlush, instead of waiting for
	// FlushInterval. The last, partial batch of a replay or a catch-up is
	// then inserted (and its rollups recomputed) IdleFlush after its last
	// record. A sink whose input stays below BatchRows records (and
	// BatchBytes) per FlushInterval never hands off a full batch, so it
	// still inserts about once per FlushInterval; after a backlog at most
	// one batch is handed off early. Default 200ms; negative: off.
	IdleFlush time.Duration
	// WriteTimeout bounds one write attempt. Default 60s.
	WriteTimeout time.Duration
	// MaxBackoff caps the wait between retries of a failed write; the
	// first wait is 100ms, doubling, with jitter. Default 30s. Retries go
	// on until the write succeeds or the sink is stopped.
	MaxBackoff time.Duration
	// MaxPendingBatches is the most inserted batches whose rollups wait
	// for a recomputation (and whose offsets wait for a commit); when it
	// is reached, the next insert waits for one. Default 16.
	MaxPendingBatches int
	// RefreshInterval is the least time between the starts of two rollup
	// recomputations while the sink has more to insert: an insert that
	// leaves records read and not yet inserted (a backlog, a replay)
	// lets its rollups wait until RefreshInterval has passed since the
	// previous recomputation began, so that one recomputation covers the
	// batches inserted meanwhile. An insert that leaves the sink caught
	// up, or whose batch holds an urgent record, is recomputed at once.
	// Until then the day, month and year rollups of the waiting batches
	// trail their hourly rows, and their offsets are not committed (a
	// restart reads them again). Default 5s.
	RefreshInterval time.Duration
	// ShutdownTimeout bounds the final flush when Run's context ends, and
	// the flush when partitions are revoked. Records not written in time
	// are not committed; whoever owns their partitions next reads them
	// again. Default 10s.
	ShutdownTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// ClientOptions are extra franz-go options (tests use them).
	ClientOptions []kgo.Opt
}

// Stats are the sink's counters since start.
type Stats struct {
	Flushes        int64 // successful inserts of a batch
	Refreshes      int64 // successful rollup recomputations, each followed by a commit
	Snapshots      int64 // snapshots written
	Posts          int64 // posts written
	DeadLetters    int64 // undecodable records sent to topics.DeadLetters
	FailedWrites   int64 // insert attempts that failed and were retried
	FailedRefresh  int64 // rollup recomputations, or the publishing of their changes, that failed and were retried
	CommitErrors   int64 // commits that failed after a successful recomputation
	Buffered       int64 // records read and not yet inserted, now
	MaxBuffered    int64 // the most records ever buffered at once
	PendingBatches int64 // batches inserted and not yet recomputed and committed, now
}

type counters struct {
	flushes, refreshes, snapshots, posts, deadLetters, failedWrites, failedRefresh, commitErrors,
	buffered, maxBuffered, pendingBatches atomic.Int64
}

type partition struct {
	topic string
	part  int32
}

// buffer holds what was read and not yet committed, with each row's source
// partition so that rows of revoked partitions can be dropped alone.
type buffer struct {
	snaps   []topics.AccountSnapshot
	snapsTP []partition
	posts   []topics.Post
	postsTP []partition
	dead    []*kgo.Record // dead letters not yet produced
	deadTP  []partition
	last    map[partition]*kgo.Record // highest record read per partition: what to commit
	records int                       // records read, written or not
	bytes   int
	urgent  bool
}

func (b *buffer) reset() {
	b.snaps, b.snapsTP, b.posts, b.postsTP = b.snaps[:0], b.snapsTP[:0], b.posts[:0], b.postsTP[:0]
	b.dead, b.deadTP = b.dead[:0], b.deadTP[:0]
	clear(b.last)
	b.records, b.bytes, b.urgent = 0, 0, false
}

// drop removes everything read from the given partitions.
func (b *buffer) drop(parts map[string][]int32) {
	gone := map[partition]bool{}
	for t, ps := range parts {
		for _, p := range ps {
			gone[partition{t, p}] = true
		}
	}
	b.snaps, b.snapsTP = filter(b.snaps, b.snapsTP, gone)
	b.posts, b.postsTP = filter(b.posts, b.postsTP, gone)
	b.dead, b.deadTP = filter(b.dead, b.deadTP, gone)
	for p := range gone {
		delete(b.last, p)
	}
	// The remaining count is approximate (skipped records of kept
	// partitions are not tracked one by one); it only drives flushing.
	b.records = len(b.snaps) + len(b.posts) + len(b.dead)
	if len(b.last) == 0 {
		b.reset()
	}
}

// users returns the distinct users of b's rows.
func (b *buffer) users() []string {
	seen := map[string]struct{}{}
	var out []string
	add := func(u string) {
		if _, ok := seen[u]; !ok {
			seen[u] = struct{}{}
			out = append(out, u)
		}
	}
	for i := range b.snaps {
		add(b.snaps[i].UserID)
	}
	for i := range b.posts {
		add(b.posts[i].UserID)
	}
	return out
}

func filter[T any](rows []T, tps []partition, gone map[partition]bool) ([]T, []partition) {
	n := 0
	for i := range rows {
		if !gone[tps[i]] {
			rows[n], tps[n] = rows[i], tps[i]
			n++
		}
	}
	return rows[:n], tps[:n]
}

// Sink consumes AccountSnapshots and Posts into a Store.
type Sink struct {
	cfg Config
	cl  *kgo.Client
	log *slog.Logger

	// decoded is the poll loop's (Run's goroutine only) reused slice of
	// decoded records, as long as the largest poll.
	decoded []decoded

	mu        sync.Mutex // guards buf, flight, spare, lastFlush, lastFull, lastRead and closing
	buf       *buffer    // the batch being read
	spare     *buffer    // an empty buffer to swap in at the next hand-off
	flight    *flight    // the batch being written, if any
	lastFlush time.Time  // when the last batch was handed off
	lastFull  bool       // whether it was handed off full (a backlog)
	lastRead  time.Time  // when the last poll returned records, or the last hand-off (idle counts from the later)
	closing   bool

	// pending are the highest records of the batches inserted and not
	// yet covered by a rollup recomputation: what the next commit
	// commits. Guarded by pmu (never held while waiting on I/O).
	pmu      sync.Mutex
	pending  map[partition]*kgo.Record
	pendingN int64 // batches pending offsets cover
	// pendingUsers are the users of the rows of those batches, whose
	// rollups the next recomputation changes.
	pendingUsers map[string]struct{}
	// refreshing is held (a one-slot semaphore) by whoever recomputes the
	// rollups and commits, so commits go out in order.
	refreshing chan struct{}
	kick       chan struct{} // wakes the rollup goroutine after an insert
	// refreshNow is set by an insert whose rollups should not wait for
	// RefreshInterval (the sink caught up, or an urgent record).
	refreshNow atomic.Bool
	// idle is set when the poll loop found the end of a backlog (see
	// backlogEnded) and cleared when records arrive.
	idle    atomic.Bool
	rollups sync.WaitGroup

	stats counters
}

// flight is one batch handed to a writer goroutine. Batches are written
// one at a time, in order, so commits never overtake an unwritten batch.
type flight struct {
	b    *buffer
	done chan struct{} // closed when the write and commit succeeded or were abandoned
	err  error         // nil when written and committed; set before done is closed
}

// finished reports whether f is done, without waiting.
func (f *flight) finished() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// New validates cfg and builds a Sink. It connects lazily; call Run.
func New(cfg Config) (*Sink, error) {
	sinkMetricsOnce()
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("chsink: no brokers")
	}
	if cfg.Store == nil {
		return nil, errors.New("chsink: no store")
	}
	if cfg.BatchRows < 0 || cfg.BatchBytes < 0 || cfg.FlushInterval < 0 || cfg.WriteTimeout < 0 ||
		cfg.MaxBackoff < 0 || cfg.ShutdownTimeout < 0 || cfg.MaxPendingBatches < 0 || cfg.RefreshInterval < 0 {
		return nil, errors.New("chsink: negative size or duration in config")
	}
	if cfg.Group == "" {
		cfg.Group = topics.GroupSink
	}
	if cfg.BatchRows == 0 {
		cfg.BatchRows = 50_000
	}
	if cfg.BatchBytes == 0 {
		cfg.BatchBytes = 16 << 20
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = time.Second
	}
	if cfg.IdleFlush == 0 {
		cfg.IdleFlush = 200 * time.Millisecond
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 60 * time.Second
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if cfg.MaxPendingBatches == 0 {
		cfg.MaxPendingBatches = 16
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Sink{cfg: cfg, log: cfg.Logger,
		buf: &buffer{last: map[partition]*kgo.Record{}}, spare: &buffer{last: map[partition]*kgo.Record{}},
		pending: map[partition]*kgo.Record{}, pendingUsers: map[string]struct{}{}, refreshing: make(chan struct{}, 1), kick: make(chan struct{}, 1)}
	opts := append([]kgo.Opt{
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(topics.AccountSnapshots, topics.Posts),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onLost),
		kgo.FetchMaxBytes(int32(min(cfg.BatchBytes, 64<<20))),
	}, cfg.ClientOptions...)
	cl, err := kafka.NewClient(cfg.Brokers, opts...)
	if err != nil {
		return nil, fmt.Errorf("chsink: %w", err)
	}
	s.cl = cl
	return s, nil
}

// Stats returns a snapshot of the counters. Safe for concurrent use; it
// never waits for a flush.
func (s *Sink) Stats() Stats {
	c := &s.stats
	return Stats{
		Flushes: c.flushes.Load(), Refreshes: c.refreshes.Load(), Snapshots: c.snapshots.Load(), Posts: c.posts.Load(),
		DeadLetters: c.deadLetters.Load(), FailedWrites: c.failedWrites.Load(), FailedRefresh: c.failedRefresh.Load(),
		CommitErrors: c.commitErrors.Load(), Buffered: c.buffered.Load(), MaxBuffered: c.maxBuffered.Load(),
		PendingBatches: c.pendingBatches.Load(),
	}
}

// Run consumes until ctx is cancelled, then makes a last attempt (bounded
// by Config.ShutdownTimeout) to write, recompute the rollups of and commit
// what it holds, leaves the group and closes the client. It returns nil
// after a cancellation; records it could not write are not committed, so
// the next owner of their partitions reads them again. Run must be called
// once.
func (s *Sink) Run(ctx context.Context) error {
	s.rollups.Add(1)
	go s.rollupLoop(ctx)
	defer s.close()
	s.mu.Lock()
	s.lastFlush = time.Now()
	s.mu.Unlock()
	for {
		pollCtx, cancel := s.pollContext(ctx)
		fetches := s.cl.PollRecords(pollCtx, s.room())
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
		recs := fetches.Records()
		s.decoded = decodeAll(recs, s.decoded)
		s.mu.Lock()
		for i, r := range recs {
			s.add(r, &s.decoded[i])
		}
		if len(recs) > 0 {
			s.lastRead = time.Now()
			s.idle.Store(false)
		}
		switch {
		case s.due():
			// Waits while the previous batch is still being written: no
			// more than two batches are ever held.
			s.handOff(ctx)
		case s.buf.records == 0 && s.idleFor():
			s.backlogEnded()
		}
		s.mu.Unlock()
		s.cl.AllowRebalance()
	}
}

// handOff waits for the batch in flight, if any, then starts writing the
// current batch in a new goroutine and starts a new one. It returns without
// handing off if ctx ends first. Called with mu held; releases it while
// waiting.
func (s *Sink) handOff(ctx context.Context) {
	if f := s.flight; f != nil {
		s.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
		}
		s.mu.Lock()
		if !f.finished() || f.err != nil {
			return // stopping: close() deals with both batches
		}
		s.spare, s.flight = f.b, nil
	}
	f := &flight{b: s.buf, done: make(chan struct{})}
	s.lastFull = s.full(s.buf)
	s.buf, s.spare, s.flight = s.spare, nil, f
	s.lastFlush = time.Now()
	s.lastRead = s.lastFlush // idle counts from now: nothing was read while waiting
	go func() {
		f.err = s.writeAndCommit(ctx, f.b)
		close(f.done)
	}()
}

// close waits for the batch in flight, retries it if it was abandoned, then
// writes the current batch, all within ShutdownTimeout, and closes the
// client (which leaves the group, calling onRevoked).
func (s *Sink) close() {
	s.rollups.Wait() // Run's context is done: the rollup goroutine returns
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	s.mu.Lock()
	err := s.drainFlight(ctx)
	if err == nil {
		err = s.writeAndCommit(ctx, s.buf)
	}
	// What was inserted is committed after a last recomputation, even if
	// a later batch could not be inserted.
	if rerr := s.refreshAndCommit(ctx); err == nil {
		err = rerr
	}
	if err != nil {
		s.log.Warn("chsink: final flush failed; the records will be read again", "err", err)
	}
	s.buf.reset() // written or not: nothing more is attempted
	s.stats.buffered.Store(0)
	s.closing = true
	s.mu.Unlock()
	s.cl.Close()
}

// drainFlight waits, within ctx, for the batch in flight and, if it was
// abandoned, writes it again. On success no batch is in flight. Called with
// mu held; releases it while waiting.
func (s *Sink) drainFlight(ctx context.Context) error {
	f := s.flight
	if f == nil {
		return nil
	}
	s.mu.Unlock()
	select {
	case <-f.done:
	case <-ctx.Done():
	}
	s.mu.Lock()
	if !f.finished() {
		return fmt.Errorf("chsink: batch in flight not written: %w", ctx.Err())
	}
	if f.err != nil {
		if err := s.writeAndCommit(ctx, f.b); err != nil {
			return err
		}
	}
	s.spare, s.flight = f.b, nil
	return nil
}

// room is how many records the next poll may return: the batch being read
// never holds more than BatchRows records.
func (s *Sink) room() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(1, s.cfg.BatchRows-s.buf.records)
}

// pollContext bounds a poll by when the batch is next due for a flush; an
// empty batch waits for records.
func (s *Sink) pollContext(ctx context.Context) (context.Context, context.CancelFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buf.records == 0 {
		if at, ok := s.idleAt(); ok {
			// A backlog ended on a full batch if nothing comes now.
			return pollUntil(ctx, at)
		}
		return context.WithCancel(ctx)
	}
	return pollUntil(ctx, s.dueAt())
}

// pollUntil bounds a poll by at, but lets it look at least a millisecond:
// franz-go returns at once, without the records it has buffered, from a
// poll whose context has already ended, and such a poll must not be taken
// for one that found nothing.
func pollUntil(ctx context.Context, at time.Time) (context.Context, context.CancelFunc) {
	if soonest := time.Now().Add(time.Millisecond); at.Before(soonest) {
		at = soonest
	}
	return context.WithDeadline(ctx, at)
}

// idleAt is when the sink counts as idle if nothing is read before: after
// a full batch, IdleFlush after the last record read; ok is false when the
// last hand-off was not full or IdleFlush is off. Called with mu held.
func (s *Sink) idleAt() (at time.Time, ok bool) {
	if !s.lastFull || s.cfg.IdleFlush <= 0 {
		return time.Time{}, false
	}
	return s.lastRead.Add(s.cfg.IdleFlush), true
}

// idleFor reports whether, after a full batch, nothing has been read for
// IdleFlush and nothing fetched waits to be read. Called with mu held.
func (s *Sink) idleFor() bool {
	at, ok := s.idleAt()
	return ok && !time.Now().Before(at) && s.cl.BufferedFetchRecords() == 0
}

// backlogEnded is called when nothing has arrived for IdleFlush after a
// full batch was handed off, and nothing is buffered: the sink has caught
// up, so the rollups of the batches inserted (and of the one in flight,
// once inserted) are recomputed at once rather than after RefreshInterval.
// Called with mu held.
func (s *Sink) backlogEnded() {
	s.lastFull = false
	s.idle.Store(true)
	s.refreshNow.Store(true)
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// dueAt is when the batch being read is due for a hand-off unless it
// fills first: FlushInterval after the last hand-off or, after a full
// one, IdleFlush after the last record read (if nothing fetched waits
// then), whichever is sooner. Called with mu held.
func (s *Sink) dueAt() time.Time {
	at := s.lastFlush.Add(s.cfg.FlushInterval)
	if idle, ok := s.idleAt(); ok && idle.Before(at) {
		at = idle
	}
	return at
}

// full reports whether b holds a full batch (BatchRows or BatchBytes).
func (s *Sink) full(b *buffer) bool {
	return b.records >= s.cfg.BatchRows || b.bytes >= s.cfg.BatchBytes
}

// decoded is one record's value: err, or the snapshot or post its topic
// holds (decoded in place: a poll's records are decoded into one reused
// slice, not allocated one by one).
type decoded struct {
	topic byte // 's' snapshot, 'p' post
	snap  topics.AccountSnapshot
	post  topics.Post
	err   error
}

// decodeMinChunk is the fewest records worth handing to another goroutine.
const decodeMinChunk = 1024

// decodeAll decodes recs, spreading large polls over GOMAXPROCS goroutines
// (JSON decoding is most of the sink's own CPU time).
// The results are in scratch (grown as needed), which is returned for the
// next call.
func decodeAll(recs []*kgo.Record, scratch []decoded) []decoded {
	out := slices.Grow(scratch[:0], len(recs))[:len(recs)]
	workers := min(runtime.GOMAXPROCS(0), len(recs)/decodeMinChunk)
	if workers <= 1 {
		for i, r := range recs {
			decode(r, &out[i])
		}
		return out
	}
	var wg sync.WaitGroup
	chunk := (len(recs) + workers - 1) / workers
	for lo := 0; lo < len(recs); lo += chunk {
		hi := min(lo+chunk, len(recs))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				decode(recs[i], &out[i])
			}
		}()
	}
	wg.Wait()
	return out
}

// decode decodes r into *d, whatever d held before.
func decode(r *kgo.Record, d *decoded) {
	d.topic, d.err = 0, nil
	switch r.Topic {
	case topics.AccountSnapshots:
		d.snap = topics.AccountSnapshot{}
		if d.err = topics.AccountSnapshotCodec.UnmarshalInto(r.Value, &d.snap); d.err == nil {
			d.topic = 's'
		}
	case topics.Posts:
		d.post = topics.Post{}
		if d.err = topics.PostCodec.UnmarshalInto(r.Value, &d.post); d.err == nil {
			d.topic = 'p'
		}
	default:
		d.err = fmt.Errorf("unexpected topic %q", r.Topic)
	}
}

// add puts r, decoded as d, into the buffer; undecodable records become
// dead letters. Called with mu held.
func (s *Sink) add(r *kgo.Record, d *decoded) {
	tp := partition{r.Topic, r.Partition}
	b := s.buf
	b.records++
	b.bytes += len(r.Value)
	if prev := b.last[tp]; prev == nil || prev.Offset < r.Offset {
		b.last[tp] = r
	}
	for _, h := range r.Headers {
		if h.Key == topics.HeaderUrgent {
			b.urgent = true
		}
	}
	switch {
	case d.err != nil:
		dl, encErr := topics.DeadLetterCodec.Marshal(&topics.DeadLetter{
			Reason: "chsink: " + d.err.Error(), SourceTopic: r.Topic, Partition: r.Partition,
			Offset: r.Offset, Key: string(r.Key), Value: r.Value, At: time.Now().UTC(),
		})
		if encErr == nil {
			b.dead, b.deadTP = append(b.dead, &kgo.Record{Topic: topics.DeadLetters, Key: r.Key, Value: dl}), append(b.deadTP, tp)
		}
	case d.topic == 's':
		b.snaps, b.snapsTP = append(b.snaps, d.snap), append(b.snapsTP, tp)
	case d.topic == 'p':
		b.posts, b.postsTP = append(b.posts, d.post), append(b.postsTP, tp)
	}
	n := s.stats.buffered.Add(1)
	if n > s.stats.maxBuffered.Load() {
		s.stats.maxBuffered.Store(n)
	}
}

// due reports whether the batch being read should be handed off now.
// Called with mu held.
func (s *Sink) due() bool {
	if s.buf.records == 0 {
		return false
	}
	return s.buf.urgent || s.full(s.buf) || !time.Now().Before(s.lastFlush.Add(s.cfg.FlushInterval)) || s.idleFor()
}

// writeAndCommit inserts b, retrying with backoff until it succeeds or ctx
// ends, then hands the offsets of every record b read to the rollup
// goroutine, which commits them after its next recomputation, and empties
// b. If Config.MaxPendingBatches inserted batches already wait for a
// recomputation, it first makes one itself. On error nothing is inserted
// or committed and b is kept. The caller owns b.
func (s *Sink) writeAndCommit(ctx context.Context, b *buffer) error {
	if b.records == 0 {
		return nil
	}
	s.pmu.Lock()
	full := s.pendingN >= int64(s.cfg.MaxPendingBatches)
	s.pmu.Unlock()
	if full {
		if err := s.refreshAndCommit(ctx); err != nil {
			return err
		}
	}
	users := b.users()
	err := s.retry(ctx, "write", &s.stats.failedWrites, func() error {
		start := time.Now()
		err := s.write(ctx, b, users)
		observeWrite(time.Since(start), err)
		return err
	})
	if err != nil {
		return err
	}
	s.pmu.Lock()
	for _, r := range b.last {
		s.addPending(r)
	}
	for _, u := range users {
		s.pendingUsers[u] = struct{}{}
	}
	s.pendingN++
	s.pmu.Unlock()
	s.stats.pendingBatches.Add(1)
	observeBatch(b)
	s.stats.flushes.Add(1)
	s.stats.snapshots.Add(int64(len(b.snaps)))
	s.stats.posts.Add(int64(len(b.posts)))
	// Caught up: nothing read and not inserted, nothing fetched and not
	// yet read, and either a batch that did not fill or nothing read for
	// IdleFlush since (a full batch is a backlog, even when the next
	// records are not fetched yet).
	caughtUp := s.stats.buffered.Add(-int64(b.records)) == 0 && (!s.full(b) || s.idle.Load()) &&
		s.cl.BufferedFetchRecords() == 0
	if b.urgent || caughtUp {
		s.refreshNow.Store(true)
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
	b.reset()
	return nil
}

// retry calls op until it succeeds or ctx ends, with exponential backoff
// and jitter between attempts, counting failures in failed.
func (s *Sink) retry(ctx context.Context, what string, failed *atomic.Int64, op func() error) error {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil {
			return nil
		}
		failed.Add(1)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		s.log.Warn("chsink: "+what+" failed; retrying", "attempt", attempt, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*2, s.cfg.MaxBackoff)
	}
}

// rollupLoop recomputes the rollups and commits after inserts, until ctx
// ends: at once after an insert that left the sink caught up or held an
// urgent record, otherwise once RefreshInterval has passed since the
// previous recomputation began. Inserts made while it waits or while a
// recomputation runs are covered together by the next one.
func (s *Sink) rollupLoop(ctx context.Context) {
	defer s.rollups.Done()
	// When the previous recomputation began; a sink that starts in a
	// backlog waits RefreshInterval for its first.
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		}
		if !s.coalesce(ctx, last) {
			return
		}
		last = time.Now()
		if err := s.refreshAndCommit(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("chsink: rollup recomputation failed", "err", err)
		}
	}
}

// coalesce waits until RefreshInterval has passed since last or an insert
// asks for a recomputation at once, whichever comes first. It returns
// false if ctx ended first.
func (s *Sink) coalesce(ctx context.Context, last time.Time) bool {
	for !s.refreshNow.Swap(false) {
		wait := time.Until(last.Add(s.cfg.RefreshInterval))
		if wait <= 0 {
			return true
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-s.kick: // another insert: look at refreshNow again
			t.Stop()
		case <-t.C:
			return true
		}
	}
	return true
}

// refreshAndCommit recomputes the rollups of every batch inserted so far,
// retrying until it succeeds or ctx ends, then commits those batches'
// offsets. On error nothing is committed and the offsets stay pending.
func (s *Sink) refreshAndCommit(ctx context.Context) error {
	select {
	case s.refreshing <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.refreshing }()
	// The offsets are taken before the recomputation starts, so every
	// batch they cover was inserted before it: the Store's contract.
	s.pmu.Lock()
	commit := make([]*kgo.Record, 0, len(s.pending))
	for _, r := range s.pending {
		commit = append(commit, r)
	}
	clear(s.pending)
	batches := s.pendingN
	s.pendingN = 0
	users := make([]string, 0, len(s.pendingUsers))
	for u := range s.pendingUsers {
		users = append(users, u)
	}
	clear(s.pendingUsers)
	s.pmu.Unlock()
	if len(commit) == 0 {
		return nil
	}
	err := s.retry(ctx, "rollup recomputation", &s.stats.failedRefresh, func() error {
		rctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
		defer cancel()
		if err := s.cfg.Store.RefreshRollups(rctx); err != nil {
			return fmt.Errorf("chsink: rollups: %w", err)
		}
		return nil
	})
	if err == nil {
		err = s.retry(ctx, "publishing changes", &s.stats.failedRefresh, func() error {
			return s.publishChanges(ctx, users, true)
		})
	}
	if err != nil {
		s.pmu.Lock()
		for _, r := range commit {
			s.addPending(r)
		}
		for _, u := range users {
			s.pendingUsers[u] = struct{}{}
		}
		s.pendingN += batches
		s.pmu.Unlock()
		return err
	}
	if err := s.cl.CommitRecords(ctx, commit...); err != nil {
		// The rows and rollups are written; if the commit is lost they
		// are read again and rewritten, which the tables absorb.
		s.stats.commitErrors.Add(1)
		s.log.Warn("chsink: commit failed", "err", err)
	}
	s.stats.pendingBatches.Add(-batches)
	s.stats.refreshes.Add(1)
	return nil
}

// publishChanges publishes a topics.AnalyticsChange for each of users
// (their rollups recomputed, or only their rows inserted) and returns once
// the brokers have them all.
func (s *Sink) publishChanges(ctx context.Context, users []string, rollups bool) error {
	if len(users) == 0 {
		return nil
	}
	at := time.Now().UTC()
	recs := make([]*kgo.Record, len(users))
	for i, u := range users {
		v, err := topics.AnalyticsChangeCodec.Marshal(&topics.AnalyticsChange{UserID: u, Rollups: rollups, At: at})
		if err != nil {
			return fmt.Errorf("chsink: changes: %w", err)
		}
		recs[i] = &kgo.Record{Topic: topics.AnalyticsChanges, Key: []byte(u), Value: v}
	}
	if err := s.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("chsink: changes: %w", err)
	}
	return nil
}

// addPending makes r the record to commit for its partition unless a later
// one is. Called with pmu held.
func (s *Sink) addPending(r *kgo.Record) {
	tp := partition{r.Topic, r.Partition}
	if prev := s.pending[tp]; prev == nil || prev.Offset < r.Offset {
		s.pending[tp] = r
	}
}

// write makes one attempt at writing b, whose rows belong to users, and
// publishing their changes.
func (s *Sink) write(ctx context.Context, b *buffer, users []string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	if len(b.snaps) > 0 || len(b.posts) > 0 {
		if err := s.cfg.Store.Insert(ctx, b.snaps, b.posts); err != nil {
			return fmt.Errorf("chsink: write: %w", err)
		}
		if err := s.publishChanges(ctx, users, false); err != nil {
			return err
		}
	}
	if len(b.dead) > 0 {
		if err := s.cl.ProduceSync(ctx, b.dead...).FirstErr(); err != nil {
			return fmt.Errorf("chsink: dead letters: %w", err)
		}
		s.stats.deadLetters.Add(int64(len(b.dead)))
		sinkMetricsOnce().deadLetters.Add(float64(len(b.dead)))
		b.dead, b.deadTP = b.dead[:0], b.deadTP[:0] // a retry of the write must not resend them
	}
	return nil
}

// onRevoked writes and commits what was read before partitions move to
// another member, so it need not redo the work: first the batch in flight,
// then the batch being read, within ShutdownTimeout. Rebalances are blocked
// while Run holds polled records, so this never races with add. If that
// fails, the revoked partitions' records are dropped uncommitted from the
// batch being read (their next owner reads them again) and the others are
// kept, still behind the batch in flight.
func (s *Sink) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.drainFlight(ctx)
	if err == nil {
		err = s.writeAndCommit(ctx, s.buf)
	}
	if rerr := s.refreshAndCommit(ctx); err == nil {
		err = rerr
	}
	if err != nil {
		s.log.Warn("chsink: flush on revoke failed; revoked partitions will be re-read", "err", err)
		s.dropFromCurrent(revoked)
	}
}

// onLost drops what the batch being read holds from partitions this member
// no longer owns: a commit for them would fail, and their new owner reads
// them again. A batch in flight finishes; its commit fails harmlessly.
func (s *Sink) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropFromCurrent(lost)
}

// dropFromCurrent drops parts from the batch being read, and their
// offsets from those waiting for a commit (the rows are inserted; their
// next owner inserts them again and recomputes their rollups). Called with
// mu held.
func (s *Sink) dropFromCurrent(parts map[string][]int32) {
	before := s.buf.records
	s.buf.drop(parts)
	s.stats.buffered.Add(int64(s.buf.records - before))
	s.pmu.Lock()
	for t, ps := range parts {
		for _, p := range ps {
			delete(s.pending, partition{t, p})
		}
	}
	s.pmu.Unlock()
}
