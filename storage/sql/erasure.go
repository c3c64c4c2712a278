package sql

import (
	"context"
	"crypto/rand"
	sqldb "database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/atrium-id/atrium/storage"
)

var (
	_ storage.UserEraser  = (*Store)(nil)
	_ storage.OutboxStore = (*Store)(nil)
)

// EraseUser implements storage.UserEraser. Every table with a user_id
// column holds the user's records and loses their rows (a table added
// later is covered without a change here); the user goes from users,
// their grant state from tokens (by subject) and their one-time-code
// replay markers from use_once.
func (s *Store) EraseUser(ctx context.Context, id string, at time.Time) (bool, error) {
	at = at.UTC().Truncate(time.Microsecond)
	erased := false
	err := s.inTx(ctx, func(tx *sqldb.Tx) error {
		n, err := s.execOn(ctx, tx, `DELETE FROM users WHERE id = ?`, id)
		if err != nil || n == 0 {
			return err
		}
		tables, err := s.userTables(ctx, tx)
		if err != nil {
			return err
		}
		for _, t := range tables {
			if _, err := s.execOn(ctx, tx, `DELETE FROM `+quoteIdent(t)+` WHERE user_id = ?`, id); err != nil {
				return fmt.Errorf("erase from %s: %w", t, err)
			}
		}
		if _, err := s.execOn(ctx, tx, `DELETE FROM tokens WHERE subject = ?`, id); err != nil {
			return err
		}
		// TOTP steps and recovery codes spent (authz/login): "totp:<digest>:…"
		// and "recovery:<digest>:…", with storage.UserDigest.
		for _, prefix := range []string{"totp:", "recovery:"} {
			if _, err := s.execOn(ctx, tx, `DELETE FROM use_once WHERE key LIKE ? ESCAPE '\'`, likePrefix(prefix+storage.UserDigest(id)+":")); err != nil {
				return err
			}
		}
		// The tombstone: that an account was erased, and when; by whom it
		// was held is the outbox message's to tell, not the audit log's.
		var r [16]byte
		rand.Read(r[:])
		if _, err := s.execOn(ctx, tx, `INSERT INTO audit_events (`+auditColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			auditID(at), storage.UnixMicro(at), storage.AuditUserDeleted, "tombstone-"+hex.EncodeToString(r[:]), "", "", "", "{}"); err != nil {
			return err
		}
		payload, _ := json.Marshal(map[string]string{"user_id": id, "deleted_at": at.Format(time.RFC3339Nano)}) // strings always marshal
		if _, err := s.execOn(ctx, tx, `INSERT INTO outbox (id, topic, payload, created_at, delivered_at) VALUES (?, ?, ?, ?, NULL)`,
			auditID(at), storage.TopicUserDeleted, string(payload), storage.UnixMicro(at)); err != nil {
			return err
		}
		erased = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return erased, nil
}

// likePrefix is a LIKE pattern matching the strings that start with p.
func likePrefix(p string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(p) + "%"
}

// quoteIdent quotes a table or column name read from the schema.
func quoteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// UserTables returns the tables that have a user_id column, sorted: the
// tables whose rows belong to a user, which an export shows and an
// erasure deletes.
func (s *Store) UserTables(ctx context.Context) ([]string, error) {
	return s.userTables(ctx, s.db)
}

func (s *Store) userTables(ctx context.Context, db querier) ([]string, error) {
	cols, err := s.columns(ctx, db)
	if err != nil {
		return nil, err
	}
	var out []string
	for t, cs := range cols {
		if slices.Contains(cs, "user_id") {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out, nil
}

// columns returns the columns of every table of the schema, by table
// name, leaving out the migrations' bookkeeping.
func (s *Store) columns(ctx context.Context, db querier) (map[string][]string, error) {
	q := `SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid`
	if s.dialect == Postgres {
		q = `SELECT table_name, column_name FROM information_schema.columns
			WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			return nil, err
		}
		if t != "schema_migrations" {
			out[t] = append(out[t], c)
		}
	}
	return out, rows.Err()
}

// Mention is a value of the database that contains a searched text.
type Mention struct {
	Table, Column, Value string
}

// FindText returns every value of every column of every table that
// contains text (byte for byte, blobs included): a check that nothing
// names an erased user. It reads whole tables, so it is for tests and
// audits, not for serving.
func (s *Store) FindText(ctx context.Context, text string) ([]Mention, error) {
	cols, err := s.columns(ctx, s.db)
	if err != nil {
		return nil, err
	}
	var out []Mention
	for _, t := range slices.Sorted(func(yield func(string) bool) {
		for t := range cols {
			if !yield(t) {
				return
			}
		}
	}) {
		names := make([]string, len(cols[t]))
		for i, c := range cols[t] {
			names[i] = quoteIdent(c)
		}
		rows, err := s.db.QueryContext(ctx, `SELECT `+strings.Join(names, ", ")+` FROM `+quoteIdent(t))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", t, err)
		}
		vals := make([]any, len(names))
		ptrs := make([]any, len(names))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, err
			}
			for i, v := range vals {
				var str string
				switch v := v.(type) {
				case string:
					str = v
				case []byte:
					str = string(v)
				default:
					continue
				}
				if strings.Contains(str, text) {
					out = append(out, Mention{Table: t, Column: cols[t][i], Value: str})
				}
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
