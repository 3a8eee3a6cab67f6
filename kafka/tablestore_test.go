package kafka_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lovoo/goka/storage"

	"github.com/pulsehq/pulse/kafka"
)

func mustTableStorage(t *testing.T, dir string, cfg kafka.TableStorageConfig) storage.Storage {
	t.Helper()
	b, err := kafka.TableStorage(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := b("tbl", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	return s
}

func mustGet(t *testing.T, s storage.Storage, key string) string {
	t.Helper()
	v, err := s.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	if v == nil {
		return "<nil>"
	}
	return string(v)
}

func TestTableStorageReadsItsWritesAndKeepsThem(t *testing.T) {
	dir := t.TempDir()
	s := mustTableStorage(t, dir, kafka.TableStorageConfig{FlushInterval: time.Hour})
	if off, err := s.GetOffset(-2); err != nil || off != -2 {
		t.Fatalf("offset of an empty table = %d, %v", off, err)
	}
	val := []byte("one")
	for _, err := range []error{s.Set("a", val), s.Set("b", []byte("two")), s.Delete("b"), s.Set("c", []byte("three")), s.SetOffset(41)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	val[0] = 'X' // the storage kept a copy
	if got := mustGet(t, s, "a") + mustGet(t, s, "b"); got != "one<nil>" {
		t.Fatalf("before a flush: %s", got)
	}
	if ok, _ := s.Has("b"); ok {
		t.Fatal("Has(deleted key)")
	}
	if off, _ := s.GetOffset(-2); off != 41 {
		t.Fatalf("offset %d", off)
	}
	it, err := s.Iterator() // writes what waits first
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for it.Next() {
		keys = append(keys, string(it.Key()))
	}
	it.Release()
	if fmt.Sprint(keys) != "[a c]" {
		t.Fatalf("iterated %v", keys)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustTableStorage(t, dir, kafka.TableStorageConfig{})
	defer s.Close()
	if got := mustGet(t, s, "a") + mustGet(t, s, "b") + mustGet(t, s, "c"); got != "one<nil>three" {
		t.Fatalf("after reopening: %s", got)
	}
	if off, _ := s.GetOffset(-2); off != 41 {
		t.Fatalf("offset after reopening %d", off)
	}
}

// TestTableStorageReadsGokasLayout: a state directory written by goka's
// LevelDB storage is read by TableStorage and the other way round.
func TestTableStorageReadsGokasLayout(t *testing.T) {
	dir := t.TempDir()
	g, err := storage.DefaultBuilder(dir)("tbl", 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = g.Open()
	_ = g.Set("k", []byte("from goka"))
	_ = g.MarkRecovered()
	_ = g.SetOffset(7)
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	s := mustTableStorage(t, dir, kafka.TableStorageConfig{})
	if off, _ := s.GetOffset(-2); off != 7 || mustGet(t, s, "k") != "from goka" {
		t.Fatalf("read goka's: offset %d, k=%s", off, mustGet(t, s, "k"))
	}
	_ = s.Set("k", []byte("from pulse"))
	_ = s.SetOffset(8)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	g, err = storage.DefaultBuilder(dir)("tbl", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	_ = g.Open()
	if off, _ := g.GetOffset(-2); off != 8 || mustGet(t, g, "k") != "from pulse" {
		t.Fatalf("goka read ours: offset %d, k=%s", off, mustGet(t, g, "k"))
	}
}

// copyDir copies a LevelDB directory while it is open: what a crash at
// that moment leaves on disk.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == "LOCK" {
			continue
		}
		in, err := os.Open(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(to, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		out.Close()
	}
}

// TestTableStorageCrashKeepsValuesWithTheirOffset: what a crash leaves is
// the table as of a batch, values and offset together, so goka catches it
// up from that offset; a batch is written when MaxPending keys wait.
func TestTableStorageCrashKeepsValuesWithTheirOffset(t *testing.T) {
	dir := t.TempDir()
	s := mustTableStorage(t, dir, kafka.TableStorageConfig{FlushInterval: time.Hour, MaxPending: 3})
	defer s.Close()
	_ = s.Set("a", []byte("1"))
	_ = s.SetOffset(10)
	if err := s.MarkRecovered(); err != nil { // a batch
		t.Fatal(err)
	}
	_ = s.Set("a", []byte("2"))
	_ = s.Set("b", []byte("2"))
	_ = s.SetOffset(12)
	check := func(wantA, wantB string, wantOff int64) {
		t.Helper()
		to := t.TempDir()
		copyDir(t, filepath.Join(dir, "tbl.0"), filepath.Join(to, "tbl.0"))
		c := mustTableStorage(t, to, kafka.TableStorageConfig{})
		defer c.Close()
		off, _ := c.GetOffset(-2)
		if a, b := mustGet(t, c, "a"), mustGet(t, c, "b"); a != wantA || b != wantB || off != wantOff {
			t.Fatalf("after a crash: a=%s b=%s offset %d, want %s %s %d", a, b, off, wantA, wantB, wantOff)
		}
	}
	check("1", "<nil>", 10)
	_ = s.Set("c", []byte("3")) // the third pending key: a batch
	check("2", "2", 12)
}
