package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/topics"
	"github.com/pulsehq/pulse/vault"
)

// Fields encrypted in links rows; part of the ciphertexts' associated data.
const (
	fieldAccessToken  = "access_token"
	fieldRefreshToken = "refresh_token"
)

// tokenAD binds a token ciphertext to its user, link and column, so a
// ciphertext copied to another row or column fails to decrypt.
func tokenAD(userID, linkID, field string) []byte {
	return []byte("pulse/link-token/v1\x00" + userID + "\x00" + linkID + "\x00" + field)
}

// linkColumns are the columns scanned by scanLink, for a table aliased l.
const linkColumns = `l.id, l.user_id, l.platform, l.account_id, l.handle, l.status,
	l.status_reason, l.status_at, l.expires_at, l.scopes, l.created_at, l.updated_at,
	l.last_fetched_at, l.next_fetch_at,
	COALESCE(l.refresh_requested_at > COALESCE(l.refresh_served_at, '-infinity'), false)`

// scanLink scans linkColumns followed by extra destinations.
func scanLink(row pgx.Row, extra ...any) (pulse.Link, error) {
	var (
		l                      pulse.Link
		expiresAt, lastFetched *time.Time
	)
	dest := append([]any{&l.ID, &l.UserID, &l.Platform, &l.AccountID, &l.Handle, &l.Status,
		&l.StatusReason, &l.StatusAt, &expiresAt, &l.Scopes, &l.CreatedAt, &l.UpdatedAt,
		&lastFetched, &l.NextFetchAt, &l.RefreshRequested}, extra...)
	if err := row.Scan(dest...); err != nil {
		return pulse.Link{}, err
	}
	if expiresAt != nil {
		l.ExpiresAt = expiresAt.UTC()
	}
	if lastFetched != nil {
		l.LastFetchedAt = lastFetched.UTC()
	}
	l.StatusAt, l.CreatedAt, l.UpdatedAt, l.NextFetchAt =
		l.StatusAt.UTC(), l.CreatedAt.UTC(), l.UpdatedAt.UTC(), l.NextFetchAt.UTC()
	return l, nil
}

// encryptedToken is a token's sealed form, ready for the links row.
type encryptedToken struct {
	access, refresh []byte // refresh is nil when the token has none
	tokenType       string
	expiry          *time.Time
}

func encryptToken(dek []byte, userID, linkID string, tok *oauth2.Token) (encryptedToken, error) {
	var (
		et  = encryptedToken{tokenType: tok.TokenType}
		err error
	)
	et.access, err = vault.Seal(dek, []byte(tok.AccessToken), tokenAD(userID, linkID, fieldAccessToken))
	if err != nil {
		return encryptedToken{}, err
	}
	if tok.RefreshToken != "" {
		et.refresh, err = vault.Seal(dek, []byte(tok.RefreshToken), tokenAD(userID, linkID, fieldRefreshToken))
		if err != nil {
			return encryptedToken{}, err
		}
	}
	if !tok.Expiry.IsZero() {
		t := tok.Expiry.UTC()
		et.expiry = &t
	}
	return et, nil
}

func validateToken(tok *oauth2.Token) error {
	if tok == nil || tok.AccessToken == "" {
		return errors.New("token has no access token")
	}
	return nil
}

// UpsertLink links the user's account accountID on platform, or relinks it
// if already linked, storing tok's access and refresh tokens encrypted
// under the user's data key (created on first use). A relinked account
// keeps its id, becomes active again and is due for fetching immediately; if
// tok has no refresh token, a previously stored one is kept.
//
// It returns an EINVALID error if platform or accountID is empty or tok has no
// access token, and an ENOTFOUND error if the user does not exist. It requires
// a KeyWrapper (see WithKeyWrapper).
func (db *DB) UpsertLink(ctx context.Context, userID string, platform topics.Platform, accountID, handle string, tok *oauth2.Token, scopes string) (pulse.Link, error) {
	const op = "postgres.UpsertLink"
	switch {
	case platform == "":
		return pulse.Link{}, errorf(pulse.EINVALID, op, "platform is empty")
	case accountID == "":
		return pulse.Link{}, errorf(pulse.EINVALID, op, "account id is empty")
	}
	if err := validateToken(tok); err != nil {
		return pulse.Link{}, &pulse.Error{Code: pulse.EINVALID, Op: op, Err: err}
	}
	uid, err := parseID(userID, "user")
	if err != nil {
		return pulse.Link{}, translate(op, err)
	}
	var link pulse.Link
	err = db.withTx(ctx, func(tx pgx.Tx) error {
		dek, err := db.dataKey(ctx, tx, uid, true)
		if err != nil {
			return err
		}
		defer clear(dek)
		now := db.now()
		// Claim the row first, so the ciphertexts can be bound to its id. A
		// new row holds an empty placeholder until the UPDATE below, within
		// this transaction; an existing row is locked and keeps its id.
		var linkID string
		if err := tx.QueryRow(ctx, `INSERT INTO links AS l
				(id, user_id, platform, account_id, access_token_enc, status_at, created_at, updated_at)
			VALUES ($1, $2, $3, $4, '', $5, $5, $5)
			ON CONFLICT (user_id, platform, account_id) DO UPDATE SET updated_at = l.updated_at
			RETURNING l.id`, uuid.NewString(), uid, platform, accountID, now).Scan(&linkID); err != nil {
			return err
		}
		et, err := encryptToken(dek, uid, linkID, tok)
		if err != nil {
			return err
		}
		link, err = scanLink(tx.QueryRow(ctx, `UPDATE links AS l SET
				handle = $2,
				status = 'active',
				status_reason = '',
				status_at = CASE WHEN l.status = 'active' THEN l.status_at ELSE $3 END,
				access_token_enc = $4,
				refresh_token_enc = COALESCE($5, l.refresh_token_enc),
				token_type = $6,
				expires_at = $7,
				scopes = $8,
				updated_at = $3,
				next_fetch_at = $3,
				refresh_claimed_until = NULL
			WHERE l.id = $1
			RETURNING `+linkColumns,
			linkID, handle, now, et.access, et.refresh, et.tokenType, et.expiry, scopes))
		return err
	})
	if err != nil {
		return pulse.Link{}, translate(op, err)
	}
	return link, nil
}

// Links returns the user's links, oldest first. A user without links (or
// an unknown user) has none.
func (db *DB) Links(ctx context.Context, userID string) ([]pulse.Link, error) {
	const op = "postgres.Links"
	uid, err := parseID(userID, "user")
	if err != nil {
		return nil, translate(op, err)
	}
	links, err := db.queryLinks(ctx, `SELECT `+linkColumns+` FROM links l
		WHERE l.user_id = $1 ORDER BY l.created_at, l.id`, uid)
	return links, translate(op, err)
}

// Link returns the user's link with the given id. It returns a NotFound
// error if there is no such link or it belongs to another user.
func (db *DB) Link(ctx context.Context, userID, linkID string) (pulse.Link, error) {
	const op = "postgres.Link"
	uid, err := parseID(userID, "link")
	if err != nil {
		return pulse.Link{}, translate(op, err)
	}
	lid, err := parseID(linkID, "link")
	if err != nil {
		return pulse.Link{}, translate(op, err)
	}
	var l pulse.Link
	err = db.withConn(ctx, func(c *pgx.Conn) (err error) {
		l, err = scanLink(c.QueryRow(ctx, `SELECT `+linkColumns+` FROM links l
			WHERE l.id = $1 AND l.user_id = $2`, lid, uid))
		return err
	})
	return l, translateLink(op, err)
}

// LinkByID returns the link with the given id, whoever owns it, or a
// ENOTFOUND error. It is for internal callers such as the fetcher; API
// handlers must use Link, which checks ownership.
func (db *DB) LinkByID(ctx context.Context, linkID string) (pulse.Link, error) {
	const op = "postgres.LinkByID"
	lid, err := parseID(linkID, "link")
	if err != nil {
		return pulse.Link{}, translate(op, err)
	}
	var l pulse.Link
	err = db.withConn(ctx, func(c *pgx.Conn) (err error) {
		l, err = scanLink(c.QueryRow(ctx, `SELECT `+linkColumns+` FROM links l WHERE l.id = $1`, lid))
		return err
	})
	return l, translateLink(op, err)
}

// LinkToken returns the link's decrypted OAuth token together with the
// link. It returns an ENOTFOUND error if the link does not exist and an
// EINTERNAL error if the token cannot be decrypted (no KeyWrapper, master key
// missing from it, or ciphertext not authentic for this row). It is for
// internal callers; the token must never reach an API response or a log.
func (db *DB) LinkToken(ctx context.Context, linkID string) (*oauth2.Token, pulse.Link, error) {
	const op = "postgres.LinkToken"
	lid, err := parseID(linkID, "link")
	if err != nil {
		return nil, pulse.Link{}, translate(op, err)
	}
	kw, err := db.keyWrapper()
	if err != nil {
		return nil, pulse.Link{}, translate(op, err)
	}
	var (
		l                      pulse.Link
		access, refresh        []byte
		tokenType, masterKeyID string
		wrappedKey             []byte
	)
	err = db.withConn(ctx, func(c *pgx.Conn) (err error) {
		l, err = scanLink(c.QueryRow(ctx, `SELECT `+linkColumns+`,
				l.access_token_enc, l.refresh_token_enc, l.token_type, d.master_key_id, d.wrapped_key
			FROM links l JOIN data_keys d ON d.user_id = l.user_id
			WHERE l.id = $1`, lid),
			&access, &refresh, &tokenType, &masterKeyID, &wrappedKey)
		return err
	})
	if err != nil {
		return nil, pulse.Link{}, translateLink(op, err)
	}
	dek, err := kw.Unwrap(ctx, masterKeyID, wrappedKey)
	if err != nil {
		return nil, pulse.Link{}, errorf(pulse.EINTERNAL, op, "unwrap data key of user %s: %w", l.UserID, err)
	}
	defer clear(dek)
	tok := &oauth2.Token{TokenType: tokenType, Expiry: l.ExpiresAt}
	pt, err := vault.Open(dek, access, tokenAD(l.UserID, l.ID, fieldAccessToken))
	if err != nil {
		return nil, pulse.Link{}, errorf(pulse.EINTERNAL, op, "decrypt access token of link %s: %w", l.ID, err)
	}
	tok.AccessToken = string(pt)
	if refresh != nil {
		pt, err := vault.Open(dek, refresh, tokenAD(l.UserID, l.ID, fieldRefreshToken))
		if err != nil {
			return nil, pulse.Link{}, errorf(pulse.EINTERNAL, op, "decrypt refresh token of link %s: %w", l.ID, err)
		}
		tok.RefreshToken = string(pt)
	}
	return tok, l, nil
}

// UpdateLinkToken stores a refreshed token for the link. If tok has no
// refresh token the stored one is kept (token endpoints often omit it on
// refresh). The link's status is unchanged; a ClaimExpiringLinks lease on
// it ends. It returns an EINVALID error if tok has no access token and a
// ENOTFOUND error if the link does not exist.
func (db *DB) UpdateLinkToken(ctx context.Context, linkID string, tok *oauth2.Token) error {
	const op = "postgres.UpdateLinkToken"
	if err := validateToken(tok); err != nil {
		return &pulse.Error{Code: pulse.EINVALID, Op: op, Err: err}
	}
	lid, err := parseID(linkID, "link")
	if err != nil {
		return translate(op, err)
	}
	err = db.withTx(ctx, func(tx pgx.Tx) error {
		var uid string
		if err := tx.QueryRow(ctx, "SELECT user_id FROM links WHERE id = $1 FOR UPDATE", lid).Scan(&uid); err != nil {
			return err
		}
		dek, err := db.dataKey(ctx, tx, uid, true)
		if err != nil {
			return err
		}
		defer clear(dek)
		et, err := encryptToken(dek, uid, lid, tok)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE links SET
				access_token_enc = $2,
				refresh_token_enc = COALESCE($3, refresh_token_enc),
				token_type = $4,
				expires_at = $5,
				updated_at = $6,
				refresh_claimed_until = NULL
			WHERE id = $1`, lid, et.access, et.refresh, et.tokenType, et.expiry, db.now())
		return err
	})
	return translateLink(op, err)
}

// MarkLinkStatus sets the link's status and the reason for it (shown to the
// user, so it must not contain secrets). StatusAt changes only when the
// status does. It returns an EINVALID error for an unknown status and a
// ENOTFOUND error if the link does not exist.
func (db *DB) MarkLinkStatus(ctx context.Context, linkID string, status pulse.LinkStatus, reason string) error {
	const op = "postgres.MarkLinkStatus"
	if !status.Valid() {
		return errorf(pulse.EINVALID, op, "unknown link status %q", status)
	}
	return db.updateLink(ctx, op, linkID, `UPDATE links AS l SET
			status = $2,
			status_reason = $3,
			status_at = CASE WHEN l.status = $2 THEN l.status_at ELSE $4 END,
			updated_at = $4
		WHERE l.id = $1`, string(status), reason, db.now())
}

// DeleteLink unlinks the user's account, deleting its stored tokens. It
// returns an ENOTFOUND error if there is no such link or it belongs to
// another user. Revoking the tokens at the platform is the caller's job.
func (db *DB) DeleteLink(ctx context.Context, userID, linkID string) error {
	const op = "postgres.DeleteLink"
	uid, err := parseID(userID, "link")
	if err != nil {
		return translate(op, err)
	}
	return db.updateLink(ctx, op, linkID, "DELETE FROM links WHERE id = $1 AND user_id = $2", uid)
}

// updateLink executes sql with the parsed linkID as $1 followed by args,
// and reports an ENOTFOUND error if it affected no row.
func (db *DB) updateLink(ctx context.Context, op, linkID, sql string, args ...any) error {
	lid, err := parseID(linkID, "link")
	if err != nil {
		return translate(op, err)
	}
	err = db.withConn(ctx, func(c *pgx.Conn) error {
		tag, err := c.Exec(ctx, sql, append([]any{lid}, args...)...)
		if err == nil && tag.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		return err
	})
	return translateLink(op, err)
}

func (db *DB) queryLinks(ctx context.Context, sql string, args ...any) ([]pulse.Link, error) {
	var links []pulse.Link
	err := db.withConn(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		links, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (pulse.Link, error) {
			return scanLink(row)
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("query links: %w", err)
	}
	return links, nil
}

// translateLink is translate with "link not found" for missing rows.
func translateLink(op string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return errorf(pulse.ENOTFOUND, op, "link not found")
	}
	return translate(op, err)
}
