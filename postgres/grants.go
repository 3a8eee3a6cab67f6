package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/topics"
	"github.com/pulsehq/pulse/vault"
)

func grantAD(userID, grantID, field string) []byte {
	return []byte("pulse/link-grant/v1\x00" + userID + "\x00" + grantID + "\x00" + field)
}

// CreateLinkGrant stores a grant covering accounts, with tok encrypted
// under the user's data key, for the user to choose from within ttl. It
// returns an Invalid error without accounts (or with more than
// pulse.MaxGrantAccounts), a token or a positive ttl, and a NotFound error for
// an unknown user.
func (db *DB) CreateLinkGrant(ctx context.Context, userID string, platform topics.Platform, accounts []pulse.GrantAccount, tok *oauth2.Token, scopes string, ttl time.Duration) (pulse.LinkGrant, error) {
	const op = "postgres.CreateLinkGrant"
	switch {
	case platform == "":
		return pulse.LinkGrant{}, errorf(pulse.EINVALID, op, "platform is empty")
	case len(accounts) == 0 || len(accounts) > pulse.MaxGrantAccounts:
		return pulse.LinkGrant{}, errorf(pulse.EINVALID, op, "a grant lists 1 to %d accounts, not %d", pulse.MaxGrantAccounts, len(accounts))
	case ttl <= 0:
		return pulse.LinkGrant{}, errorf(pulse.EINVALID, op, "grant ttl must be positive, got %v", ttl)
	}
	if err := validateToken(tok); err != nil {
		return pulse.LinkGrant{}, &pulse.Error{Code: pulse.EINVALID, Op: op, Err: err}
	}
	for _, a := range accounts {
		if a.ID == "" {
			return pulse.LinkGrant{}, errorf(pulse.EINVALID, op, "account id is empty")
		}
	}
	uid, err := parseID(userID, "user")
	if err != nil {
		return pulse.LinkGrant{}, translate(op, err)
	}
	g := pulse.LinkGrant{ID: uuid.NewString(), UserID: uid, Platform: platform, Accounts: slices.Clone(accounts)}
	js, err := json.Marshal(accounts)
	if err != nil {
		return pulse.LinkGrant{}, errorf(pulse.EINTERNAL, op, "encode accounts: %w", err)
	}
	err = db.withTx(ctx, func(tx pgx.Tx) error {
		dek, err := db.dataKey(ctx, tx, uid, true)
		if err != nil {
			return err
		}
		defer clear(dek)
		access, err := vault.Seal(dek, []byte(tok.AccessToken), grantAD(uid, g.ID, fieldAccessToken))
		if err != nil {
			return err
		}
		var refresh []byte
		if tok.RefreshToken != "" {
			if refresh, err = vault.Seal(dek, []byte(tok.RefreshToken), grantAD(uid, g.ID, fieldRefreshToken)); err != nil {
				return err
			}
		}
		var expiry *time.Time
		if !tok.Expiry.IsZero() {
			e := tok.Expiry.UTC()
			expiry = &e
		}
		now := db.now()
		g.CreatedAt, g.ExpiresAt = now, now.Add(ttl)
		_, err = tx.Exec(ctx, `INSERT INTO link_grants (id, user_id, platform, accounts, access_token_enc, refresh_token_enc,
				token_type, token_expires_at, scopes, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			g.ID, uid, platform, js, access, refresh, tok.TokenType, expiry, scopes, g.CreatedAt, g.ExpiresAt)
		return err
	})
	if err != nil {
		return pulse.LinkGrant{}, translate(op, err)
	}
	return g, nil
}

// LinkGrant returns the user's unexpired grant grantID, or a NotFound
// error (also for another user's grant).
func (db *DB) LinkGrant(ctx context.Context, userID, grantID string) (pulse.LinkGrant, error) {
	const op = "postgres.LinkGrant"
	uid, err := parseID(userID, "grant")
	if err != nil {
		return pulse.LinkGrant{}, translate(op, err)
	}
	gid, err := parseID(grantID, "grant")
	if err != nil {
		return pulse.LinkGrant{}, translate(op, err)
	}
	var g pulse.LinkGrant
	err = db.withConn(ctx, func(c *pgx.Conn) error {
		var js []byte
		if err := c.QueryRow(ctx, `SELECT id, user_id, platform, accounts, created_at, expires_at FROM link_grants
			WHERE id = $1 AND user_id = $2 AND expires_at > $3`, gid, uid, db.now()).
			Scan(&g.ID, &g.UserID, &g.Platform, &js, &g.CreatedAt, &g.ExpiresAt); err != nil {
			return err
		}
		return json.Unmarshal(js, &g.Accounts)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return pulse.LinkGrant{}, errorf(pulse.ENOTFOUND, op, "grant not found or expired")
	}
	if err != nil {
		return pulse.LinkGrant{}, translate(op, err)
	}
	g.CreatedAt, g.ExpiresAt = g.CreatedAt.UTC(), g.ExpiresAt.UTC()
	return g, nil
}

// RedeemLinkGrant links each of accountIDs, accounts the user's unexpired
// grant grantID covers, as its own link with the grant's token (see
// UpsertLink), and deletes the grant: it is used once. It returns the
// links in the order asked. It returns a NotFound error for an unknown,
// expired, used or foreign grant, and an Invalid error, linking nothing,
// when accountIDs is empty or names an account the grant does not cover.
func (db *DB) RedeemLinkGrant(ctx context.Context, userID, grantID string, accountIDs []string) ([]pulse.Link, error) {
	const op = "postgres.RedeemLinkGrant"
	g, err := db.LinkGrant(ctx, userID, grantID)
	if err != nil {
		return nil, err
	}
	if len(accountIDs) == 0 {
		return nil, errorf(pulse.EINVALID, op, "choose at least one account")
	}
	handles := map[string]string{}
	for _, a := range g.Accounts {
		handles[a.ID] = a.Handle
	}
	for _, id := range accountIDs {
		if _, ok := handles[id]; !ok {
			return nil, errorf(pulse.EINVALID, op, "account %q is not part of this grant", id)
		}
	}
	kw, err := db.keyWrapper()
	if err != nil {
		return nil, translate(op, err)
	}
	var (
		access, refresh   []byte
		tokenType, scopes string
		expiry            *time.Time
		masterKeyID       string
		wrappedKey        []byte
	)
	// Take the grant: of two concurrent redemptions, one wins.
	err = db.withConn(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `DELETE FROM link_grants g USING data_keys d
			WHERE g.id = $1 AND g.user_id = $2 AND g.expires_at > $3 AND d.user_id = g.user_id
			RETURNING g.access_token_enc, g.refresh_token_enc, g.token_type, g.token_expires_at, g.scopes, d.master_key_id, d.wrapped_key`,
			g.ID, g.UserID, db.now()).Scan(&access, &refresh, &tokenType, &expiry, &scopes, &masterKeyID, &wrappedKey)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errorf(pulse.ENOTFOUND, op, "grant not found or expired")
	}
	if err != nil {
		return nil, translate(op, err)
	}
	dek, err := kw.Unwrap(ctx, masterKeyID, wrappedKey)
	if err != nil {
		return nil, errorf(pulse.EINTERNAL, op, "unwrap data key of user %s: %w", g.UserID, err)
	}
	defer clear(dek)
	tok := &oauth2.Token{TokenType: tokenType}
	if expiry != nil {
		tok.Expiry = expiry.UTC()
	}
	pt, err := vault.Open(dek, access, grantAD(g.UserID, g.ID, fieldAccessToken))
	if err != nil {
		return nil, errorf(pulse.EINTERNAL, op, "decrypt access token of grant %s: %w", g.ID, err)
	}
	tok.AccessToken = string(pt)
	if refresh != nil {
		pt, err := vault.Open(dek, refresh, grantAD(g.UserID, g.ID, fieldRefreshToken))
		if err != nil {
			return nil, errorf(pulse.EINTERNAL, op, "decrypt refresh token of grant %s: %w", g.ID, err)
		}
		tok.RefreshToken = string(pt)
	}
	var links []pulse.Link
	for _, id := range accountIDs {
		l, err := db.UpsertLink(ctx, g.UserID, g.Platform, id, handles[id], tok, scopes)
		if err != nil {
			return links, err
		}
		links = append(links, l)
	}
	return links, nil
}
