package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/topics"
	"github.com/pulsehq/pulse/vault"
)

const (
	// stateBytes is the entropy of an OAuth state parameter.
	stateBytes = 32
	// maxPendingStates bounds the authorize requests in flight per session;
	// starting another drops the oldest.
	maxPendingStates = 10
)

var errNoState = errors.New("link request not found or already used")

// verifierAD binds a verifier ciphertext to its user and state.
func verifierAD(userID string, stateHash []byte) []byte {
	return []byte("pulse/oauth-verifier/v1\x00" + userID + "\x00" + hex.EncodeToString(stateHash))
}

// CreateOAuthState records an authorize request for platform, started by
// the session sessionID (a pulse.Session.ID) and expiring after ttl, and returns
// its state parameter: 32 random bytes, base64url-encoded without padding.
// Only the state's SHA-256 is stored, and the PKCE verifier, if not empty,
// is stored encrypted under the session user's data key (created on first
// use), so neither can be read from the database.
//
// A session has at most 10 requests in flight; creating another drops the
// oldest. Requests end with their session.
//
// It returns an EINVALID error if platform is empty or ttl is not positive,
// and an EUNAUTHORIZED error if the session does not exist or has expired.
// It requires a KeyWrapper (see WithKeyWrapper) when verifier is not empty.
func (db *DB) CreateOAuthState(ctx context.Context, sessionID string, platform topics.Platform, verifier string, ttl time.Duration) (string, error) {
	const op = "postgres.CreateOAuthState"
	switch {
	case platform == "":
		return "", errorf(pulse.EINVALID, op, "platform is empty")
	case ttl <= 0:
		return "", errorf(pulse.EINVALID, op, "state ttl must be positive, got %v", ttl)
	}
	sid, err := parseSessionID(sessionID)
	if err != nil {
		return "", translate(op, err)
	}
	raw := make([]byte, stateBytes)
	rand.Read(raw)
	state := base64.RawURLEncoding.EncodeToString(raw)
	hash := sha256.Sum256(raw)
	now := db.now()
	err = db.withTx(ctx, func(tx pgx.Tx) error {
		var uid string
		err := tx.QueryRow(ctx, "SELECT user_id FROM sessions WHERE id = $1 AND expires_at > $2 FOR SHARE",
			sid, now).Scan(&uid)
		if errors.Is(err, pgx.ErrNoRows) {
			return &pulse.Error{Code: pulse.EUNAUTHORIZED, Err: errNoSession}
		}
		if err != nil {
			return err
		}
		var enc []byte
		if verifier != "" {
			dek, err := db.dataKey(ctx, tx, uid, true)
			if err != nil {
				return err
			}
			enc, err = vault.Seal(dek, []byte(verifier), verifierAD(uid, hash[:]))
			clear(dek)
			if err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM oauth_states WHERE session_id = $1 AND (expires_at <= $2
				OR state_hash NOT IN (SELECT state_hash FROM oauth_states WHERE session_id = $1
					ORDER BY created_at DESC, state_hash LIMIT $3))`,
			sid, now, maxPendingStates-1); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO oauth_states
				(state_hash, session_id, user_id, platform, verifier_enc, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			hash[:], sid, uid, string(platform), enc, now, now.Add(ttl))
		return err
	})
	if err != nil {
		return "", translate(op, err)
	}
	return state, nil
}

// ConsumeOAuthState redeems the authorize request whose state parameter is
// state: it deletes the request and returns it, with the PKCE verifier
// decrypted. A state can be redeemed once; the deletion is atomic, so of
// concurrent callers exactly one gets it.
//
// The request is returned even if it has expired, so that the caller can
// tell the user why the link failed: the caller must check ExpiresAt, and
// that SessionID and UserID are those of the request's session, before
// acting on it.
//
// It returns an ENOTFOUND error for an unknown, already redeemed or malformed
// state, and an EINTERNAL error if the verifier cannot be decrypted.
func (db *DB) ConsumeOAuthState(ctx context.Context, state string) (pulse.OAuthState, error) {
	return db.consumeOAuthState(ctx, "postgres.ConsumeOAuthState", state, nil)
}

// RedeemOAuthState is ConsumeOAuthState for the session sessionID only: a
// request started in another session is left as it is (its owner can
// still complete it) and an EUNAUTHORIZED error returned, so a request
// from another browser cannot burn the owner's linking attempt.
func (db *DB) RedeemOAuthState(ctx context.Context, state, sessionID string) (pulse.OAuthState, error) {
	const op = "postgres.RedeemOAuthState"
	sid, err := hex.DecodeString(sessionID)
	if err != nil || len(sid) == 0 {
		return pulse.OAuthState{}, &pulse.Error{Code: pulse.EUNAUTHORIZED, Op: op, Err: errors.New("no session")}
	}
	return db.consumeOAuthState(ctx, op, state, sid)
}

// consumeOAuthState redeems state; with a non-nil sessionID only if the
// request belongs to that session.
func (db *DB) consumeOAuthState(ctx context.Context, op, state string, sessionID []byte) (pulse.OAuthState, error) {
	raw, err := base64.RawURLEncoding.DecodeString(state)
	if err != nil || len(raw) != stateBytes {
		return pulse.OAuthState{}, &pulse.Error{Code: pulse.ENOTFOUND, Op: op, Err: errNoState}
	}
	hash := sha256.Sum256(raw)
	var st pulse.OAuthState
	err = db.withTx(ctx, func(tx pgx.Tx) error {
		var (
			sid []byte
			enc []byte
		)
		err := tx.QueryRow(ctx, `DELETE FROM oauth_states WHERE state_hash = $1 AND ($2::bytea IS NULL OR session_id = $2)
			RETURNING session_id, user_id, platform, verifier_enc, created_at, expires_at`, hash[:], sessionID).
			Scan(&sid, &st.UserID, &st.Platform, &enc, &st.CreatedAt, &st.ExpiresAt)
		if errors.Is(err, pgx.ErrNoRows) {
			if sessionID != nil {
				var other bool
				if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM oauth_states WHERE state_hash = $1)`, hash[:]).Scan(&other); err != nil {
					return err
				}
				if other {
					return &pulse.Error{Code: pulse.EUNAUTHORIZED, Err: errors.New("state of another session")}
				}
			}
			return &pulse.Error{Code: pulse.ENOTFOUND, Err: errNoState}
		}
		if err != nil {
			return err
		}
		st.SessionID = hex.EncodeToString(sid)
		st.CreatedAt, st.ExpiresAt = st.CreatedAt.UTC(), st.ExpiresAt.UTC()
		if enc == nil {
			return nil
		}
		dek, err := db.dataKey(ctx, tx, st.UserID, false)
		if err != nil {
			return errorf(pulse.EINTERNAL, "", "data key of user %s: %w", st.UserID, err)
		}
		defer clear(dek)
		pt, err := vault.Open(dek, enc, verifierAD(st.UserID, hash[:]))
		if err != nil {
			return errorf(pulse.EINTERNAL, "", "decrypt verifier of user %s: %w", st.UserID, err)
		}
		st.Verifier = string(pt)
		return nil
	})
	if err != nil {
		return pulse.OAuthState{}, translate(op, err)
	}
	return st, nil
}
