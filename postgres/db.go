// Package postgres stores Pulse's users, sessions, data keys and linked
// social accounts in PostgreSQL. It implements the stores the components
// declare over package pulse's domain types (pulse.User, pulse.Link,
// pulse.Session, ...).
//
// It is the only package that talks to PostgreSQL: driver (pgx) types do not
// appear in its API, and every error it returns is a *pulse.Error carrying
// one of the codes ENOTFOUND, ECONFLICT, EINVALID, EUNAUTHORIZED or
// EINTERNAL: translate turns driver errors into them.
//
// OAuth tokens are encrypted at rest with per-user data keys, themselves
// wrapped by a master key through a vault.KeyWrapper (see package vault and
// WithKeyWrapper).
//
// Scheduling: *DB is the scheduler's Store. ClaimDue claims due platform
// accounts with all their active links, leasing them (moving their next
// fetch out by a lease) in the same statement that selects them; after
// emitting, the scheduler calls Reschedule with the next fetch time; an
// account whose claimer dies becomes due again when the lease runs out. The
// API's refresh button calls RequestRefresh, which makes links due now
// (debounced per link) and flags them (pulse.Link.RefreshRequested) until
// Reschedule serves the request; a trigger notifies Watch, which wakes the
// scheduler.
//
// Accounts: CreateUser and Authenticate keep argon2id password hashes;
// RequestSignUp and VerifySignUp create users once their address is
// verified; sessions (CreateSession, Session) store only their token's
// SHA-256. AdmitLogin and LoginSucceeded throttle sign-ins (a backoff per
// account, a cap per network) and AdmitAttempt counts other attempts,
// in the login_attempts table, so the limits hold across API replicas.
//
// Linking: CreateOAuthState records an authorize request bound to the
// session that starts it (state stored as a hash, PKCE verifier encrypted);
// ConsumeOAuthState redeems it exactly once; UpsertLink stores the result.
//
// Token lifecycle: the refresher claims links whose token is about to
// expire with ClaimExpiringLinks (a lease, like ClaimDue), stores the
// renewed token with UpdateLinkToken, or marks the link needs_reauth with
// MarkLinkStatusIfUnchanged, which the scheduler then skips.
//
// Deletion: DeleteUser crypto-shreds the user's data key, deletes their
// rows and, in the same transaction, enqueues a purge of their analytics
// rows elsewhere (ClaimPurges, PurgeDone, PurgeFailed), so a deletion is
// never half done. DeleteExpired reclaims expired rows.
//
// Setup: CreateDatabase creates the database if needed, Open connects (a
// pgxpool connection pool behind the scenes) and Migrate brings the schema
// up to date.
package postgres

import (
	"context"
	"errors"
	"math"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/vault"
)

// DB is a handle to Pulse's PostgreSQL database, backed by a connection
// pool. It is safe for concurrent use. Create it with Open and release it
// with Close.
type DB struct {
	pool *pgxpool.Pool
	kw   vault.KeyWrapper
	// now returns the time written to and compared against timestamps
	// (truncated to PostgreSQL's microsecond precision). Tests replace it.
	now func() time.Time
	// rotateBatchSize is how many data keys RotateMasterKey re-wraps per
	// transaction.
	rotateBatchSize int
}

// Option configures Open.
type Option func(*options)

type options struct {
	kw       vault.KeyWrapper
	maxConns int // 0: from the connection string
}

// WithKeyWrapper sets the KeyWrapper that wraps per-user data keys. It is
// required for the link-token methods (UpsertLink, LinkToken,
// UpdateLinkToken) and RotateMasterKey, which fail with an EINTERNAL error
// without one; users and sessions work without it.
func WithKeyWrapper(kw vault.KeyWrapper) Option {
	return func(o *options) { o.kw = kw }
}

// WithMaxConns caps the number of open connections. It overrides a
// pool_max_conns parameter in the connection string; without either, the
// cap is max(4, GOMAXPROCS). Values below 1 are ignored.
func WithMaxConns(n int) Option {
	return func(o *options) {
		if n >= 1 {
			o.maxConns = n
		}
	}
}

// Open connects to the database at url, a PostgreSQL URL or key=value
// connection string (e.g. "postgres://user@host:5432/pulse?sslmode=disable").
// Connection-pool parameters in url (pool_max_conns, pool_max_conn_lifetime,
// pool_max_conn_idle_time, pool_health_check_period, ...) are honored.
// It verifies connectivity before returning but does not migrate; call
// Migrate. It returns an EINVALID error for a malformed url and an Internal
// error when the server cannot be reached.
func Open(ctx context.Context, url string, opts ...Option) (*DB, error) {
	const op = "postgres.Open"
	cfg, err := parsePoolConfig(url)
	if err != nil {
		return nil, errorf(pulse.EINVALID, op, "parse connection string: %s", err)
	}
	return openConfig(ctx, op, cfg, opts...)
}

// sqlDuplicateDatabase is the SQLSTATE of CREATE DATABASE for a name in use.
const sqlDuplicateDatabase = "42P04"

// CreateDatabase creates the database named in url (see Open) unless it
// already exists. It connects to the server's "postgres" maintenance
// database with the same user, host, port and other settings, so that role
// needs the CREATEDB privilege only when the database is missing. Creating
// a database that another caller creates concurrently succeeds.
//
// A url naming no database means the user's name, as for Open. It returns
// an EINVALID error for a malformed url and an EINTERNAL error when the server
// cannot be reached or refuses.
func CreateDatabase(ctx context.Context, url string) error {
	const op = "postgres.CreateDatabase"
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return errorf(pulse.EINVALID, op, "parse connection string: %s", err)
	}
	name := cfg.Database
	if name == "" {
		name = cfg.User // PostgreSQL's default, which Open would connect to
	}
	cfg.Database = "postgres"
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return translate(op, err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx) // best effort: nothing more to do with it
	}()
	var exists bool
	if err := c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
		name).Scan(&exists); err != nil {
		return translate(op, err)
	}
	if exists {
		return nil
	}
	_, err = c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		// A concurrent creator won. PostgreSQL reports it as
		// duplicate_database, or as a unique violation on pg_database's name
		// index when both passed the name check at once.
		if pgErr.Code == sqlDuplicateDatabase || pgErr.Code == sqlUniqueViolation {
			return nil
		}
	}
	return translate(op, err)
}

// parsePoolConfig parses url into a pool configuration whose default
// MaxConns (when url has no pool_max_conns) is max(4, GOMAXPROCS), which,
// unlike pgxpool's NumCPU-based default, follows container CPU limits.
func parsePoolConfig(url string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	// pgxpool.ParseConfig removes the pool_* parameters it consumed, so ask
	// a plain parse whether the cap was set explicitly.
	if cc, err := pgx.ParseConfig(url); err == nil {
		if _, ok := cc.RuntimeParams["pool_max_conns"]; !ok {
			cfg.MaxConns = int32(max(4, runtime.GOMAXPROCS(0)))
		}
	}
	return cfg, nil
}

// openConfig opens a DB on a copy of cfg, which must come from
// pgxpool.ParseConfig (or a Copy of such a config).
func openConfig(ctx context.Context, op string, cfg *pgxpool.Config, opts ...Option) (*DB, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	cfg = cfg.Copy()
	if o.maxConns > 0 {
		cfg.MaxConns = int32(min(o.maxConns, math.MaxInt32))
	}
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, translate(op, err)
	}
	db := &DB{
		pool:            p,
		kw:              o.kw,
		now:             func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
		rotateBatchSize: 100,
	}
	if err := db.withConn(ctx, func(c *pgx.Conn) error { return c.Ping(ctx) }); err != nil {
		db.Close()
		return nil, translate(op, err)
	}
	return db, nil
}

// Close closes the connections, waiting for those in use to be released.
// Calls on a closed DB fail with an EINTERNAL error. Close is idempotent.
func (db *DB) Close() {
	db.pool.Close()
}

// withConn runs fn with a pooled connection. The connection goes back to
// the pool afterwards, unless fn left it closed, busy or inside a
// transaction, in which case the pool discards it.
func (db *DB) withConn(ctx context.Context, fn func(*pgx.Conn) error) error {
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	return fn(c.Conn())
}

// withTx runs fn in a transaction, committing if fn returns nil and rolling
// back otherwise.
func (db *DB) withTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return db.withConn(ctx, func(c *pgx.Conn) error {
		return pgx.BeginFunc(ctx, c, fn)
	})
}

// keyWrapper returns the configured KeyWrapper or an EINTERNAL error.
func (db *DB) keyWrapper() (vault.KeyWrapper, error) {
	if db.kw == nil {
		return nil, &pulse.Error{Code: pulse.EINTERNAL, Err: errors.New("no KeyWrapper configured (use WithKeyWrapper)")}
	}
	return db.kw, nil
}

// Ping checks the database answers (readiness).
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return translate("postgres.Ping", err)
	}
	return nil
}
