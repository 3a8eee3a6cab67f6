package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/vault"
)

// querier is what *pgx.Conn and pgx.Tx have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// dataKey returns the user's unwrapped data key. If the user has none and
// create is set, it generates one, wraps it with the KeyWrapper and stores
// it; concurrent creators converge on the first key stored: the INSERT's
// RETURNING yields the stored row whichever transaction wrote it, so no
// second read is needed (under READ COMMITTED it waits for the winner and
// returns its key; under REPEATABLE READ or SERIALIZABLE the loser gets a
// serialization failure, never a key that was not stored). The caller
// should clear the returned key when done. A missing user yields a NotFound
// error when creating and pgx.ErrNoRows otherwise.
func (db *DB) dataKey(ctx context.Context, q querier, userID string, create bool) ([]byte, error) {
	kw, err := db.keyWrapper()
	if err != nil {
		return nil, err
	}
	var (
		keyID   string
		wrapped []byte
	)
	err = q.QueryRow(ctx, "SELECT master_key_id, wrapped_key FROM data_keys WHERE user_id = $1", userID).Scan(&keyID, &wrapped)
	if errors.Is(err, pgx.ErrNoRows) && create {
		dek := vault.GenerateKey()
		ourID, ours, err := kw.Wrap(ctx, dek)
		if err != nil {
			return nil, fmt.Errorf("wrap data key: %w", err)
		}
		// DO UPDATE (a no-op write) rather than DO NOTHING, so that RETURNING
		// also answers when another transaction stored the key first.
		err = q.QueryRow(ctx, `INSERT INTO data_keys (user_id, master_key_id, wrapped_key, created_at)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (user_id) DO UPDATE SET user_id = data_keys.user_id
			RETURNING master_key_id, wrapped_key`, userID, ourID, ours, db.now()).Scan(&keyID, &wrapped)
		if err != nil {
			clear(dek)
			if pulse.ErrorCode(translate("", err)) == pulse.ENOTFOUND {
				return nil, &pulse.Error{Code: pulse.ENOTFOUND, Err: errors.New("user not found")}
			}
			return nil, fmt.Errorf("store data key: %w", err)
		}
		if keyID == ourID && bytes.Equal(wrapped, ours) {
			return dek, nil
		}
		clear(dek) // a concurrent transaction stored one first; use it
	} else if err != nil {
		return nil, err
	}
	dek, err := kw.Unwrap(ctx, keyID, wrapped)
	if err != nil {
		return nil, fmt.Errorf("unwrap data key of user %s: %w", userID, err)
	}
	return dek, nil
}

// currentKeyID returns the id of the master key kw wraps with: from its
// CurrentKeyID method if it has one (vault.Keyring does), otherwise by
// wrapping a throwaway key.
func currentKeyID(ctx context.Context, kw vault.KeyWrapper) (string, error) {
	if c, ok := kw.(interface{ CurrentKeyID() string }); ok {
		return c.CurrentKeyID(), nil
	}
	id, _, err := kw.Wrap(ctx, vault.GenerateKey())
	if err != nil {
		return "", fmt.Errorf("probe current master key: %w", err)
	}
	return id, nil
}

// RotateMasterKey re-wraps, under the KeyWrapper's current master key, every
// data key wrapped under another master key, and returns how many it
// re-wrapped. Token ciphertexts are untouched (they are under the data
// keys), so this is cheap and needs no downtime: keys are processed in
// batches, each in its own short transaction, and readers keep working
// throughout because the KeyWrapper still holds the old master key.
//
// Rotation procedure: deploy a KeyWrapper whose current key is new and which
// still holds the old one; call RotateMasterKey until it returns 0 with no
// error; then remove the old key from the configuration. Concurrent calls
// are safe and share the work (rows are claimed with SKIP LOCKED). On error
// the keys re-wrapped so far stay re-wrapped and the count includes them;
// calling again resumes.
func (db *DB) RotateMasterKey(ctx context.Context) (int, error) {
	const op = "postgres.RotateMasterKey"
	kw, err := db.keyWrapper()
	if err != nil {
		return 0, translate(op, err)
	}
	current, err := currentKeyID(ctx, kw)
	if err != nil {
		return 0, translate(op, err)
	}
	total := 0
	for {
		n, err := db.rotateBatch(ctx, kw, current)
		total += n
		if err != nil {
			return total, translate(op, err)
		}
		if n == 0 {
			return total, nil
		}
	}
}

// rotateBatch re-wraps up to db.rotateBatchSize data keys in one transaction.
func (db *DB) rotateBatch(ctx context.Context, kw vault.KeyWrapper, current string) (int, error) {
	var n int
	err := db.withTx(ctx, func(tx pgx.Tx) error {
		n = 0
		rows, err := tx.Query(ctx, `SELECT user_id, master_key_id, wrapped_key FROM data_keys
			WHERE master_key_id <> $1 ORDER BY user_id LIMIT $2 FOR UPDATE SKIP LOCKED`,
			current, db.rotateBatchSize)
		if err != nil {
			return err
		}
		type row struct {
			userID, keyID string
			wrapped       []byte
		}
		var batch []row
		var r row
		if _, err := pgx.ForEachRow(rows, []any{&r.userID, &r.keyID, &r.wrapped}, func() error {
			batch = append(batch, row{r.userID, r.keyID, append([]byte(nil), r.wrapped...)})
			return nil
		}); err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		userIDs := make([]string, len(batch))
		rewrapped := make([][]byte, len(batch))
		for i, r := range batch {
			dek, err := kw.Unwrap(ctx, r.keyID, r.wrapped)
			if err != nil {
				return fmt.Errorf("unwrap data key of user %s: %w", r.userID, err)
			}
			keyID, ct, err := kw.Wrap(ctx, dek)
			clear(dek)
			if err != nil {
				return fmt.Errorf("re-wrap data key of user %s: %w", r.userID, err)
			}
			if keyID != current {
				return fmt.Errorf("KeyWrapper wrapped under %q, expected current key %q", keyID, current)
			}
			userIDs[i], rewrapped[i] = r.userID, ct
		}
		tag, err := tx.Exec(ctx, `UPDATE data_keys AS d
			SET master_key_id = $1, wrapped_key = v.wrapped_key, rotated_at = $2
			FROM unnest($3::uuid[], $4::bytea[]) AS v(user_id, wrapped_key)
			WHERE d.user_id = v.user_id`, current, db.now(), userIDs, rewrapped)
		n = int(tag.RowsAffected())
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
