package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// auditView is how the CLI shows an audit event.
type auditView struct {
	ID        string            `json:"id"`
	Time      time.Time         `json:"time"`
	Type      string            `json:"type"`
	UserID    string            `json:"user_id,omitempty"`
	ClientID  string            `json:"client_id,omitempty"`
	IP        string            `json:"ip,omitempty"`
	UserAgent string            `json:"user_agent,omitempty"`
	Detail    map[string]string `json:"detail,omitempty"`
}

// maxAuditList bounds audit list --limit.
const maxAuditList = 100000

func (c *cli) auditList(args []string) error {
	var com common
	fs := c.flagSet("audit list", "Prints audit events, newest first, one JSON object a line.", &com)
	user := fs.String("user", "", "only the events of the user `ID`")
	limit := fs.Int("limit", 100, fmt.Sprintf("at most `N` events (1 to %d)", maxAuditList))
	if err := parse(fs, args); err != nil {
		return err
	}
	if *limit < 1 || *limit > maxAuditList {
		return fmt.Errorf("audit list: --limit: must be 1 to %d, got %d", maxAuditList, *limit)
	}
	_, st, err := c.openStore(&com)
	if err != nil {
		return err
	}
	defer st.Close()
	return printPages(c, *limit, "", "list audit events",
		func(p storage.Page) ([]*storage.AuditEvent, string, error) { return st.ListAudit(c.ctx, *user, p) },
		func(e *storage.AuditEvent) any {
			return auditView{ID: e.ID, Time: e.Time, Type: e.Type, UserID: e.UserID, ClientID: e.ClientID,
				IP: e.IP, UserAgent: e.UserAgent, Detail: e.Detail}
		})
}

// printPages writes up to limit records, fetched a page at a time from
// after on, as JSON lines of view(record).
func printPages[T any](c *cli, limit int, after, what string, fetch func(storage.Page) ([]T, string, error), view func(T) any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetEscapeHTML(false)
	p := storage.Page{After: after}
	for left := limit; left > 0; {
		p.Limit = min(left, 1000)
		page, next, err := fetch(p)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		for _, r := range page {
			if err := enc.Encode(view(r)); err != nil {
				return err
			}
		}
		left -= len(page)
		if next == "" {
			break
		}
		p.After = next
	}
	return nil
}
