// Package clickhouse is Pulse's OLAP store: hourly account metrics, posts and
// their rollups in ClickHouse. It owns the schema (embedded, versioned
// migrations) and every query; clickhouse-go types do not leave it.
//
// The SQL runs on ClickHouse 18.16 (the only server on the CI machines) and
// on current releases: no DateTime64, TTL, window functions or JSON
// functions, batches always name their columns, and newer features (column
// codecs) are in migrations gated on the server version. TestSQLOnCurrentClickHouse
// checks every statement on ClickHouse 26 through chDB when CHDB_LIB_PATH
// names libchdb.so. docs/olap.md describes the schema and why the rollups
// are exact under duplicate inserts.
package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pulsehq/pulse"
)

// DefaultURL is where `make run` starts ClickHouse.
const DefaultURL = "clickhouse://127.0.0.1:9000/pulse"

// DB is a connection pool to one ClickHouse database. Safe for concurrent
// use.
type DB struct {
	conn     driver.Conn
	database string
	// queryTimeout is the max_execution_time of every read query.
	queryTimeout time.Duration
	cluster      string // cluster mode (cluster.go) when set
	// stale holds the rollup buckets of the rows Insert stored, until
	// RefreshRollups recomputes them.
	stale staleBuckets
}

// Option configures Open.
type Option func(*DB)

// DefaultMaxConns is the connection pool's size (open and idle) unless the
// URL sets max_open_conns or max_idle_conns.
const DefaultMaxConns = 24

// DefaultQueryTimeout is the server-side time limit of read queries.
const DefaultQueryTimeout = 10 * time.Second

// WithQueryTimeout sets the server-side time limit of each read query
// (the API's metrics and feed): ClickHouse stops a query running longer
// (max_execution_time, whole seconds, at least 1) and it fails. Default
// DefaultQueryTimeout. Purges, inserts and migrations are not limited.
func WithQueryTimeout(d time.Duration) Option {
	return func(db *DB) { db.queryTimeout = d }
}

// Open connects to the database named in url (clickhouse://host:port/db),
// creating the database if it does not exist. It does not migrate. A
// "cluster" query parameter (clickhouse://host:9000/pulse?cluster=pulse)
// selects cluster mode: the database is created ON CLUSTER and Migrate
// builds replicated tables behind Distributed ones (see cluster.go).
func Open(ctx context.Context, rawURL string, opts ...Option) (*DB, error) {
	db := &DB{queryTimeout: DefaultQueryTimeout}
	for _, o := range opts {
		o(db)
	}
	if db.queryTimeout < time.Second {
		return nil, fmt.Errorf("clickhouse: open: query timeout %v is below one second", db.queryTimeout)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: open: parse url: %w", err)
	}
	q := u.Query()
	cluster := q.Get("cluster")
	q.Del("cluster")
	u.RawQuery = q.Encode()
	database := strings.TrimPrefix(u.Path, "/")
	if database == "" {
		database = "default"
	}
	if cluster != "" && (!identRE.MatchString(cluster) || !identRE.MatchString(database)) {
		return nil, fmt.Errorf("clickhouse: open: cluster mode needs plain identifiers, got cluster %q database %q", cluster, database)
	}
	create := "CREATE DATABASE IF NOT EXISTS " + quoteIdent(database)
	if cluster != "" {
		create += " ON CLUSTER " + cluster
	}
	// Connect to "default" first so a missing database can be created.
	admin := *u
	admin.Path = "/default"
	if err := withConn(ctx, admin.String(), func(c driver.Conn) error {
		return c.Exec(ctx, create)
	}); err != nil {
		return nil, fmt.Errorf("clickhouse: open: create database: %w", err)
	}
	conn, err := dial(ctx, u.String())
	if err != nil {
		return nil, fmt.Errorf("clickhouse: open: %w", err)
	}
	db.conn, db.database, db.cluster = conn, database, cluster
	return db, nil
}

// Cluster returns the cluster named in the URL; empty on one server.
func (db *DB) Cluster() string { return db.cluster }

func dial(ctx context.Context, rawURL string) (driver.Conn, error) {
	opts, err := ch.ParseDSN(rawURL)
	if err != nil {
		return nil, err
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 5 * time.Second
	}
	// The driver's pool defaults to 5 idle of at most 10 connections: an
	// API serving a few concurrent requests (three statements each) then
	// closes and redials connections on every burst. Keep as many idle as
	// may be open, unless the URL says otherwise (max_open_conns,
	// max_idle_conns).
	if opts.MaxOpenConns == 0 {
		opts.MaxOpenConns = DefaultMaxConns
	}
	if opts.MaxIdleConns == 0 {
		opts.MaxIdleConns = opts.MaxOpenConns
	}
	// A debug=true URL parameter turns on the driver's legacy logging to
	// stdout, which prints queries; keep it off. Only the deprecated field
	// does that (Logger is the structured replacement, unset here).
	//lint:ignore SA1019 the deprecated field is the only way to force legacy debug output off
	opts.Debug = false
	conn, err := ch.Open(opts)
	if err != nil {
		return nil, err
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

func withConn(ctx context.Context, rawURL string, fn func(driver.Conn) error) error {
	c, err := dial(ctx, rawURL)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

// Close closes the pool.
func (db *DB) Close() error { return db.conn.Close() }

// Database returns the database name.
func (db *DB) Database() string { return db.database }

// Ping checks the server answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.conn.Ping(ctx); err != nil {
		return fmt.Errorf("clickhouse: ping: %w", translate(err))
	}
	return nil
}

// ServerVersion returns the server's major and minor version.
func (db *DB) ServerVersion() (major, minor int, err error) {
	v, err := db.conn.ServerVersion()
	if err != nil {
		return 0, 0, fmt.Errorf("clickhouse: server version: %w", translate(err))
	}
	return int(v.Version.Major), int(v.Version.Minor), nil
}

// ErrUnavailable reports that the server could not be reached or timed out;
// retrying later may succeed.
var ErrUnavailable = errors.New("clickhouse: unavailable")

// translate maps driver errors to coded *pulse.Errors: a server-side
// exception becomes EINTERNAL with its code and message (no driver type);
// a connection failure becomes EUNAVAILABLE wrapping ErrUnavailable; a
// cancellation stays itself, so errors.Is(err, context.Canceled) holds.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var exc *ch.Exception
	if errors.As(err, &exc) {
		return &pulse.Error{Code: pulse.EINTERNAL, Err: fmt.Errorf("code %d: %s", exc.Code, exc.Message)}
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return &pulse.Error{Code: pulse.EUNAVAILABLE, Err: fmt.Errorf("%w: %v", ErrUnavailable, err)}
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
