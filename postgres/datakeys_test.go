package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/topics"
	"github.com/pulsehq/pulse/vault"
)

func TestRotateMasterKey(t *testing.T) {
	t.Parallel()
	k1, k2 := vault.GenerateKey(), vault.GenerateKey()
	ring := func(current string, keys map[string][]byte) *vault.Keyring {
		kr, err := vault.NewKeyring(current, keys)
		if err != nil {
			t.Fatal(err)
		}
		return kr
	}
	db := mustOpenTest(t, WithKeyWrapper(ring("k1", map[string][]byte{"k1": k1})))
	db.rotateBatchSize = 2 // exercise several batches

	var links []pulse.Link
	for i := range 5 {
		u := mustCreateUser(t, db, fmt.Sprintf("user%d@example.com", i))
		links = append(links, mustUpsertLink(t, db, u.ID, topics.X, "1"), mustUpsertLink(t, db, u.ID, topics.Facebook, "2"))
	}

	// Deploy k2 as current, keeping k1 to read existing keys.
	during := *db
	during.kw = ring("k2", map[string][]byte{"k1": k1, "k2": k2})
	n, err := during.RotateMasterKey(t.Context())
	if err != nil || n != 5 {
		t.Fatalf("RotateMasterKey = %d, %v; want 5", n, err)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM data_keys WHERE master_key_id = 'k2' AND rotated_at IS NOT NULL"); n != 5 {
		t.Fatalf("%d data keys under k2, want 5", n)
	}
	if n, err := during.RotateMasterKey(t.Context()); err != nil || n != 0 {
		t.Fatalf("second RotateMasterKey = %d, %v; want 0", n, err)
	}

	// k1 retired: everything still decrypts.
	after := *db
	after.kw = ring("k2", map[string][]byte{"k2": k2})
	for _, l := range links {
		tok, _, err := after.LinkToken(t.Context(), l.ID)
		if err != nil || tok.AccessToken != testToken(l.UserID+l.AccountID).AccessToken {
			t.Fatalf("LinkToken(%s) after rotation = %v, %v", l.ID, tok, err)
		}
	}
	// ...and the old ring alone no longer can.
	_, _, err = db.LinkToken(t.Context(), links[0].ID)
	wantCode(t, err, pulse.EINTERNAL)
}

// probeWrapper is a KeyWrapper without CurrentKeyID, like a KMS client.
type probeWrapper struct{ kr *vault.Keyring }

func (p probeWrapper) Wrap(ctx context.Context, pt []byte) (string, []byte, error) {
	return p.kr.Wrap(ctx, pt)
}

func (p probeWrapper) Unwrap(ctx context.Context, id string, ct []byte) ([]byte, error) {
	return p.kr.Unwrap(ctx, id, ct)
}

func TestRotateMasterKeyConcurrentWithProbe(t *testing.T) {
	t.Parallel()
	k1, k2 := vault.GenerateKey(), vault.GenerateKey()
	old, _ := vault.NewKeyring("k1", map[string][]byte{"k1": k1})
	db := mustOpenTest(t, WithKeyWrapper(old))
	db.rotateBatchSize = 3
	for i := range 20 {
		u := mustCreateUser(t, db, fmt.Sprintf("user%d@example.com", i))
		mustUpsertLink(t, db, u.ID, topics.X, "1")
	}
	newRing, _ := vault.NewKeyring("k2", map[string][]byte{"k1": k1, "k2": k2})
	rot := *db
	rot.kw = probeWrapper{newRing}

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
	)
	for range 3 {
		wg.Go(func() {
			n, err := rot.RotateMasterKey(t.Context())
			if err != nil {
				t.Errorf("RotateMasterKey: %v", err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	// Locked rows are skipped by concurrent rotators, so finish with one
	// more pass, as the procedure prescribes.
	n, err := rot.RotateMasterKey(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if total+n != 20 {
		t.Fatalf("re-wrapped %d keys in total, want 20", total+n)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM data_keys WHERE master_key_id <> 'k2'"); n != 0 {
		t.Fatalf("%d data keys not under k2", n)
	}
}

func TestRotateMasterKeyUnknownOldKey(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	u := mustCreateUser(t, db, "ada@example.com")
	mustUpsertLink(t, db, u.ID, topics.X, "1")
	other := *db
	other.kw, _ = vault.NewKeyring("k9", map[string][]byte{"k9": vault.GenerateKey()})
	n, err := other.RotateMasterKey(t.Context())
	if n != 0 {
		t.Fatalf("RotateMasterKey = %d, want 0", n)
	}
	wantCode(t, err, pulse.EINTERNAL)
}

func TestNoKeyWrapper(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	db.kw = nil
	u := mustCreateUser(t, db, "ada@example.com")
	_, err := db.UpsertLink(t.Context(), u.ID, topics.X, "1", "", testToken("a"), "")
	wantCode(t, err, pulse.EINTERNAL)
	_, err = db.RotateMasterKey(t.Context())
	wantCode(t, err, pulse.EINTERNAL)
}

func TestConcurrentFirstUseCreatesOneDataKey(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	u := mustCreateUser(t, db, "ada@example.com")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if _, err := db.UpsertLink(t.Context(), u.ID, topics.X, fmt.Sprint(i), "", testToken(fmt.Sprint(i)), ""); err != nil {
				t.Errorf("UpsertLink: %v", err)
			}
		})
	}
	wg.Wait()
	if n := queryInt(t, db, "SELECT count(*) FROM data_keys"); n != 1 {
		t.Fatalf("%d data keys, want 1", n)
	}
	links, err := db.Links(t.Context(), u.ID)
	if err != nil || len(links) != 8 {
		t.Fatalf("Links = %d, %v", len(links), err)
	}
	for _, l := range links {
		if _, _, err := db.LinkToken(t.Context(), l.ID); err != nil {
			t.Fatalf("LinkToken: %v", err)
		}
	}
}

// TestDataKeyConcurrentCreate creates one user's first data key from two
// transactions at once: the second blocks on the first's uncommitted row
// and, once the first commits, must return the key the first stored (or an
// error), never a key of its own that was not stored: tokens encrypted
// under such a key could never be read again.
func TestDataKeyConcurrentCreate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// wrap the second transaction's querier.
		wrap func(querier) querier
	}{
		{"two transactions", func(q querier) querier { return q }},
		// A read after the lost race fails (a dropped connection, a
		// cancelled context): its error must reach the caller.
		{"failing read after the insert", func(q querier) querier { return &failingReads{querier: q, after: 1} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := mustOpenTest(t)
			u := mustCreateUser(t, db, "race@example.com")
			ctx := t.Context()

			tx1, err := db.pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx1.Rollback(context.Background())
			k1, err := db.dataKey(ctx, tx1, u.ID, true)
			if err != nil {
				t.Fatalf("dataKey in tx1: %v", err)
			}

			tx2, err := db.pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx2.Rollback(context.Background())
			type result struct {
				key []byte
				err error
			}
			done := make(chan result, 1)
			go func() {
				k, err := db.dataKey(ctx, tc.wrap(tx2), u.ID, true)
				done <- result{k, err}
			}()

			// Commit tx1 only once tx2's INSERT waits on tx1's row, so tx2
			// loses the race rather than seeing the committed key first.
			deadline := time.Now().Add(10 * time.Second)
			for queryInt(t, db, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock'`) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("tx2 never waited on tx1's data key row")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := tx1.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			r := <-done
			if r.err == nil && !bytes.Equal(r.key, k1) {
				t.Fatal("tx2 got a data key that was never stored")
			}
			if tc.name == "two transactions" && r.err != nil {
				t.Fatalf("dataKey in tx2 after losing the race: %v", r.err)
			}
			if n := queryInt(t, db, "SELECT count(*) FROM data_keys WHERE user_id = $1", u.ID); n != 1 {
				t.Fatalf("%d data keys stored, want 1", n)
			}
		})
	}
}

// failingReads fails every QueryRow after the first `after` ones.
type failingReads struct {
	querier
	after, n int
}

func (f *failingReads) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	f.n++
	if f.n > f.after && !strings.HasPrefix(strings.TrimSpace(sql), "INSERT") {
		return errRow{errors.New("connection reset")}
	}
	return f.querier.QueryRow(ctx, sql, args...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
