package sql

import (
	"context"
	sqldb "database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

	"github.com/atrium-id/atrium/storage"
)

// Dialects.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Store implements every store interface of package storage.
type Store struct {
	db *sqldb.DB
	// wdb is the connection writes go through. For SQLite it is one
	// connection, so writers queue in Go instead of polling SQLite's
	// busy handler (which sleeps in steps and collapses throughput under
	// contention); for PostgreSQL it is db.
	wdb     *sqldb.DB
	dialect string
	now     func() time.Time
	// bound caches queries rewritten to PostgreSQL's $n placeholders.
	bound sync.Map
	// reads and writes cache prepared statements on db and wdb: SQLite
	// would otherwise parse and plan every query, a third of the CPU of
	// reading a user.
	reads, writes stmtCache
}

// stmtCache holds prepared statements by query text.
type stmtCache struct {
	m   sync.Map // query -> *sqldb.Stmt
	off bool     // PostgreSQL: pgx caches statements per connection itself
}

// get returns the statement for q prepared on db, preparing it the first
// time; nil if it cannot be prepared (the caller then runs q unprepared,
// and reports its error) or if c is off.
func (c *stmtCache) get(ctx context.Context, db *sqldb.DB, q string) *sqldb.Stmt {
	if c.off {
		return nil
	}
	if v, ok := c.m.Load(q); ok {
		return v.(*sqldb.Stmt)
	}
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	if v, loaded := c.m.LoadOrStore(q, st); loaded {
		st.Close()
		return v.(*sqldb.Stmt)
	}
	return st
}

// lookup returns the statement for q if it is already prepared.
func (c *stmtCache) lookup(q string) *sqldb.Stmt {
	if v, ok := c.m.Load(q); ok {
		return v.(*sqldb.Stmt)
	}
	return nil
}

func (c *stmtCache) close() {
	c.m.Range(func(_, v any) bool {
		v.(*sqldb.Stmt).Close()
		return true
	})
}

// queryRow runs a query for one row on the read pool, prepared once.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sqldb.Row {
	q = s.rebind(q)
	if st := s.reads.get(ctx, s.db, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.db.QueryRowContext(ctx, q, args...)
}

// query runs a query on the read pool, prepared once.
func (s *Store) query(ctx context.Context, q string, args ...any) (*sqldb.Rows, error) {
	q = s.rebind(q)
	if st := s.reads.get(ctx, s.db, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.db.QueryContext(ctx, q, args...)
}

var (
	_ storage.ClientStore     = (*Store)(nil)
	_ storage.UserStore       = (*Store)(nil)
	_ storage.CredentialStore = (*Store)(nil)
	_ storage.AuditStore      = (*Store)(nil)
	_ storage.IdentityStore   = (*Store)(nil)
	_ storage.ConsentStore    = (*Store)(nil)
	_ storage.KeyStore        = (*Store)(nil)
	_ storage.SessionStore    = (*Store)(nil)
	_ storage.TokenStore      = (*Store)(nil)
	_ storage.CounterStore    = (*Store)(nil)
	_ storage.StateStore      = (*Store)(nil)
)

// Option configures Open.
type Option func(*options)

type options struct {
	now     func() time.Time
	migrate bool
}

// WithClock sets the clock expiry is judged by (time.Now by default).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithoutMigrations opens the store without bringing the schema up to date.
func WithoutMigrations() Option { return func(o *options) { o.migrate = false } }

// Open opens the store named by dsn: a postgres:// or postgresql:// URL for
// PostgreSQL, anything else is a SQLite database file (created if absent).
// It applies pending migrations unless WithoutMigrations is given.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	o := options{now: time.Now, migrate: true}
	for _, opt := range opts {
		opt(&o)
	}
	s := &Store{now: o.now}
	var err error
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		s.dialect = Postgres
		s.reads.off, s.writes.off = true, true
		s.db, err = sqldb.Open("pgx", dsn)
		if err != nil {
			return nil, err
		}
		s.db.SetMaxOpenConns(32)
		s.db.SetMaxIdleConns(32)
		s.db.SetConnMaxIdleTime(5 * time.Minute)
		s.wdb = s.db
	} else {
		if dsn == "" {
			return nil, errors.New("empty SQLite database path")
		}
		s.dialect = SQLite
		s.db, err = sqldb.Open("sqlite", sqliteDSN(dsn))
		if err != nil {
			return nil, err
		}
		// WAL lets readers run beside the one writer; keep enough
		// connections for concurrent reads without thrashing the cache.
		s.db.SetMaxOpenConns(16)
		s.db.SetMaxIdleConns(16)
		s.db.SetConnMaxIdleTime(0)
		if s.wdb, err = sqldb.Open("sqlite", sqliteDSN(dsn)); err != nil {
			s.db.Close()
			return nil, err
		}
		s.wdb.SetMaxOpenConns(1)
		s.wdb.SetMaxIdleConns(1)
		s.wdb.SetConnMaxIdleTime(0)
	}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("connect: %w", redactErr(err, dsn))
	}
	if o.migrate {
		if err := s.Migrate(ctx); err != nil {
			s.Close()
			return nil, fmt.Errorf("migrate: %w", err)
		}
	}
	return s, nil
}

// sqliteDSN turns a file path into a modernc.org/sqlite DSN: WAL journal,
// a busy timeout so concurrent writers wait instead of failing, and
// immediate transactions so a read-then-write transaction cannot deadlock.
func sqliteDSN(path string) string {
	if strings.HasPrefix(path, "file:") {
		return path
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_txlock", "immediate")
	// In a URI filename "?" starts the query and "#" the fragment; SQLite
	// decodes %HH escapes of the path.
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + esc + "?" + q.Encode()
}

// redactErr keeps a DSN's password out of an error message.
func redactErr(err error, dsn string) error {
	u, perr := url.Parse(dsn)
	if perr != nil || u.User == nil {
		return err
	}
	if pw, ok := u.User.Password(); ok && pw != "" && strings.Contains(err.Error(), pw) {
		return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
	}
	return err
}

// Dialect reports "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// Ping checks the database is reachable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return err
	}
	return s.wdb.PingContext(ctx)
}

// Close closes the database.
func (s *Store) Close() error {
	s.reads.close()
	s.writes.close()
	err := s.db.Close()
	if s.wdb != s.db {
		err = errors.Join(err, s.wdb.Close())
	}
	return err
}

// DeleteExpired removes expired tokens, sessions, interactions, replay
// markers, rate-limit counters and retired keys, and reports how many rows
// it removed.
func (s *Store) DeleteExpired(ctx context.Context) (int64, error) {
	now := storage.UnixMicro(s.now())
	var total int64
	for _, q := range []string{
		`DELETE FROM tokens WHERE expires_at <> 0 AND expires_at <= ?`,
		`DELETE FROM sessions WHERE expires_at <> 0 AND expires_at <= ?`,
		`DELETE FROM interactions WHERE expires_at <> 0 AND expires_at <= ?`,
		`DELETE FROM use_once WHERE expires_at <= ?`,
		`DELETE FROM counters WHERE expires_at <= ?`,
		`DELETE FROM signing_keys WHERE not_after <> 0 AND not_after <= ?`,
	} {
		n, err := s.exec(ctx, q, now)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// rebind rewrites ? placeholders as $1, $2, ... for PostgreSQL. Queries
// are constants, so the rewritten text is cached.
func (s *Store) rebind(q string) string {
	if s.dialect != Postgres {
		return q
	}
	if v, ok := s.bound.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	s.bound.Store(q, b.String())
	return b.String()
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sqldb.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sqldb.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sqldb.Row
}

func (s *Store) exec(ctx context.Context, q string, args ...any) (int64, error) {
	return s.execOn(ctx, s.wdb, q, args...)
}

func (s *Store) execOn(ctx context.Context, db querier, q string, args ...any) (int64, error) {
	q = s.rebind(q)
	var (
		res sqldb.Result
		err error
	)
	tx, isTx := db.(*sqldb.Tx)
	switch {
	case isTx:
		// Not prepared here: preparing on wdb would wait for the
		// connection the transaction holds (SQLite has only the one).
		if st := s.writes.lookup(q); st != nil {
			res, err = tx.StmtContext(ctx, st).ExecContext(ctx, args...)
		} else {
			res, err = tx.ExecContext(ctx, q, args...)
		}
	case db == querier(s.wdb):
		if st := s.writes.get(ctx, s.wdb, q); st != nil {
			res, err = st.ExecContext(ctx, args...)
		} else {
			res, err = db.ExecContext(ctx, q, args...)
		}
	default:
		res, err = db.ExecContext(ctx, q, args...)
	}
	if err != nil {
		return 0, mapErr(err)
	}
	return res.RowsAffected()
}

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sqldb.Tx) error) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return mapErr(tx.Commit())
}

// mapErr turns unique-constraint violations into storage.ErrAlreadyExists.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sqldb.ErrNoRows) {
		return storage.ErrNotFound
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "23505" {
		return fmt.Errorf("%w: %s", storage.ErrAlreadyExists, pg.ConstraintName)
	}
	var lite interface{ Code() int }
	if errors.As(err, &lite) {
		switch lite.Code() {
		case 1555, 2067: // SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE
			return fmt.Errorf("%w: %v", storage.ErrAlreadyExists, err)
		}
	}
	return err
}

// affectedOne maps a write that touched no row to storage.ErrNotFound.
func affectedOne(n int64, err error) error {
	if err != nil {
		return err
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// list encodes a string list as a JSON array ("[]" for none).
func list(v []string) string {
	if len(v) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(v) // a []string always marshals
	return string(b)
}

func unlist(s string) ([]string, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("corrupt list column: %w", err)
	}
	return v, nil
}

// stamp fills in zero creation and update times.
func (s *Store) stamp(created, updated *time.Time) {
	now := s.now().UTC().Truncate(time.Microsecond)
	if created.IsZero() {
		*created = now
	}
	if updated != nil && updated.IsZero() {
		*updated = *created
	}
}

// pageLimit applies the default and the cap of storage.Page.
func pageLimit(p storage.Page) int {
	switch {
	case p.Limit <= 0:
		return 100
	case p.Limit > 1000:
		return 1000
	}
	return p.Limit
}
