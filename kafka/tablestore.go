package kafka

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/lovoo/goka/storage"
	"github.com/syndtr/goleveldb/leveldb"
	ldbiter "github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// TableStorageConfig configures TableStorage. Zero values take the stated
// defaults.
type TableStorageConfig struct {
	// FlushInterval is the longest a table write waits in memory before it
	// is written to LevelDB with the others. Default 1s.
	FlushInterval time.Duration
	// MaxPending writes a batch as soon as this many keys wait. Default
	// 10,000.
	MaxPending int
	// LevelDB are the options each partition's LevelDB is opened with.
	// Default nil: LevelDB's defaults.
	LevelDB *opt.Options
}

// offsetKey is where goka's LevelDB storage keeps a partition's table
// offset (a decimal string); TableStorage keeps it there too, so a state
// directory written by either is read by the other.
const offsetKey = "__offset"

// TableStorage returns a goka storage.Builder of LevelDB tables in dir,
// one per topic and partition as goka's storage.DefaultBuilder lays them
// out, that write in batches: goka's storage writes every Set and every
// table offset to LevelDB at once (two writes, each a write(2) to
// LevelDB's journal, per message a processor sets a value for). These
// keep the writes in memory and write them, with the table offset, in one
// LevelDB batch at least every FlushInterval, when MaxPending keys wait,
// when the partition is marked recovered and when it is closed. Reads see
// the writes at once.
//
// A crash loses at most the last FlushInterval of local writes, always
// with the table offset they came with: the local table is then as it was
// at an earlier offset, and goka catches it up from the table topic (the
// table's source of truth) as after any restart. Writes whose table
// record was never acknowledged are lost as with goka's storage: the
// input message that made them was not committed, so it is processed
// again.
func TableStorage(dir string, cfg TableStorageConfig) (storage.Builder, error) {
	if dir == "" {
		return nil, errors.New("kafka: table storage: no directory")
	}
	if cfg.FlushInterval < 0 || cfg.MaxPending < 0 {
		return nil, errors.New("kafka: table storage: negative interval or size")
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = time.Second
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = 10_000
	}
	return func(topic string, partition int32) (storage.Storage, error) {
		db, err := leveldb.OpenFile(filepath.Join(dir, fmt.Sprintf("%s.%d", topic, partition)), cfg.LevelDB)
		if err != nil {
			return nil, fmt.Errorf("kafka: table storage: open leveldb: %w", err)
		}
		return &tableStore{db: db, cfg: cfg, pending: map[string]pendingValue{}}, nil
	}, nil
}

type pendingValue struct {
	value   []byte
	deleted bool
}

// tableStore is a storage.Storage (safe for concurrent readers and one
// writer) over LevelDB with the writes buffered.
type tableStore struct {
	db  *leveldb.DB
	cfg TableStorageConfig

	mu      sync.RWMutex
	pending map[string]pendingValue // written, not yet in LevelDB
	// recent are the writes of the last batch, kept for reads: a
	// processor reads the keys it wrote lately.
	recent        map[string]pendingValue
	offset        int64
	offsetLoaded  bool // offset holds the stored or a newer offset
	offsetPending bool // offset is newer than LevelDB's
	err           error

	stop chan struct{}
	done chan struct{}
}

// Open implements storage.Storage: it starts the periodic flush.
func (s *tableStore) Open() error {
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.cfg.FlushInterval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.mu.Lock()
				_ = s.flushLocked() // kept in s.err: the next write returns it
				s.mu.Unlock()
			}
		}
	}()
	return nil
}

// Close implements storage.Storage: it writes what waits and closes
// LevelDB.
func (s *tableStore) Close() error {
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	s.mu.Lock()
	err := s.flushLocked()
	s.mu.Unlock()
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// flushLocked writes the pending values and offset in one batch. Called
// with mu held.
func (s *tableStore) flushLocked() error {
	if s.err != nil {
		return s.err
	}
	if len(s.pending) == 0 && !s.offsetPending {
		return nil
	}
	var b leveldb.Batch
	for k, v := range s.pending {
		if v.deleted {
			b.Delete([]byte(k))
		} else {
			b.Put([]byte(k), v.value)
		}
	}
	if s.offsetPending {
		b.Put([]byte(offsetKey), strconv.AppendInt(nil, s.offset, 10))
	}
	if err := s.db.Write(&b, nil); err != nil {
		s.err = fmt.Errorf("kafka: table storage: write batch: %w", err)
		return s.err
	}
	s.recent, s.pending = s.pending, make(map[string]pendingValue, len(s.pending))
	s.offsetPending = false
	return nil
}

// lookup finds key among the writes not yet read back from LevelDB.
// Called with mu held.
func (s *tableStore) lookup(key string) (pendingValue, bool) {
	if v, ok := s.pending[key]; ok {
		return v, true
	}
	v, ok := s.recent[key]
	return v, ok
}

// Has implements storage.Storage.
func (s *tableStore) Has(key string) (bool, error) {
	s.mu.RLock()
	v, ok := s.lookup(key)
	s.mu.RUnlock()
	if ok {
		return !v.deleted, nil
	}
	return s.db.Has([]byte(key), nil)
}

// Get implements storage.Storage; it returns nil for a missing key.
func (s *tableStore) Get(key string) ([]byte, error) {
	s.mu.RLock()
	v, ok := s.lookup(key)
	s.mu.RUnlock()
	if ok {
		if v.deleted {
			return nil, nil
		}
		return v.value, nil
	}
	value, err := s.db.Get([]byte(key), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kafka: table storage: get %s: %w", key, err)
	}
	return value, nil
}

// Set implements storage.Storage. It keeps a copy of value.
func (s *tableStore) Set(key string, value []byte) error {
	return s.write(key, pendingValue{value: append([]byte(nil), value...)})
}

// Delete implements storage.Storage.
func (s *tableStore) Delete(key string) error {
	return s.write(key, pendingValue{deleted: true})
}

func (s *tableStore) write(key string, v pendingValue) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.pending[key] = v
	if len(s.pending) >= s.cfg.MaxPending {
		return s.flushLocked()
	}
	return nil
}

// GetOffset implements storage.Storage: the newest offset set, else the
// stored one, else def.
func (s *tableStore) GetOffset(def int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.offsetLoaded {
		b, err := s.db.Get([]byte(offsetKey), nil)
		if errors.Is(err, leveldb.ErrNotFound) {
			return def, nil
		}
		if err != nil {
			return 0, fmt.Errorf("kafka: table storage: get offset: %w", err)
		}
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("kafka: table storage: decode offset %q: %w", b, err)
		}
		s.offset, s.offsetLoaded = n, true
	}
	return s.offset, nil
}

// SetOffset implements storage.Storage.
func (s *tableStore) SetOffset(offset int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.offset, s.offsetLoaded, s.offsetPending = offset, true, true
	return nil
}

// MarkRecovered implements storage.Storage: it writes what the recovery
// buffered.
func (s *tableStore) MarkRecovered() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flushLocked()
}

// Iterator implements storage.Storage: it writes what waits, then
// iterates over a snapshot of LevelDB.
func (s *tableStore) Iterator() (storage.Iterator, error) {
	return s.IteratorWithRange(nil, nil)
}

// IteratorWithRange implements storage.Storage, as goka's LevelDB storage
// does: [start, limit) when limit is set, else the keys prefixed by
// start.
func (s *tableStore) IteratorWithRange(start, limit []byte) (storage.Iterator, error) {
	s.mu.Lock()
	err := s.flushLocked()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var r *util.Range
	switch {
	case len(limit) > 0:
		r = &util.Range{Start: start, Limit: limit}
	case len(start) > 0:
		r = util.BytesPrefix(start)
	}
	return &tableIter{it: s.db.NewIterator(r, nil)}, nil
}

// tableIter skips the offset key.
type tableIter struct{ it ldbiter.Iterator }

func (i *tableIter) Next() bool {
	for i.it.Next() {
		if string(i.it.Key()) != offsetKey {
			return true
		}
	}
	return false
}
func (i *tableIter) Err() error             { return i.it.Error() }
func (i *tableIter) Key() []byte            { return i.it.Key() }
func (i *tableIter) Value() ([]byte, error) { return i.it.Value(), nil }
func (i *tableIter) Release()               { i.it.Release() }
func (i *tableIter) Seek(key []byte) bool   { return i.it.Seek(key) }
