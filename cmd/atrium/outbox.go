package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/atrium-id/atrium/internal/config"
	"github.com/atrium-id/atrium/internal/outbox"
	"github.com/atrium-id/atrium/storage"
)

// outboxView is how the CLI shows an outbox message.
type outboxView struct {
	ID          string          `json:"id"`
	Topic       string          `json:"topic"`
	Payload     json.RawMessage `json:"payload"`
	CreatedAt   time.Time       `json:"created_at"`
	DeliveredAt *time.Time      `json:"delivered_at,omitempty"`
	// Attempts and NextAttemptAt tell of failed webhook deliveries.
	Attempts      int        `json:"attempts,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
}

// maxOutboxList bounds outbox list --limit.
const maxOutboxList = 100000

func (c *cli) outboxList(args []string) error {
	var com common
	fs := c.flagSet("outbox list", "Prints outbox messages (such as user.deleted), oldest first, one JSON object a line.", &com)
	undelivered := fs.Bool("undelivered", false, "only the messages not yet marked delivered")
	after := fs.String("after", "", "only the messages after the one with `ID`")
	limit := fs.Int("limit", 100, fmt.Sprintf("at most `N` messages (1 to %d)", maxOutboxList))
	if err := parse(fs, args); err != nil {
		return err
	}
	if *limit < 1 || *limit > maxOutboxList {
		return fmt.Errorf("outbox list: --limit: must be 1 to %d, got %d", maxOutboxList, *limit)
	}
	_, st, err := c.openStore(&com)
	if err != nil {
		return err
	}
	defer st.Close()
	return printPages(c, *limit, *after, "list outbox",
		func(p storage.Page) ([]*storage.OutboxMessage, string, error) {
			return st.ListOutbox(c.ctx, *undelivered, p)
		},
		func(m *storage.OutboxMessage) any {
			v := outboxView{ID: m.ID, Topic: m.Topic, Payload: m.Payload, CreatedAt: m.CreatedAt}
			if !m.DeliveredAt.IsZero() {
				v.DeliveredAt = &m.DeliveredAt
			}
			if m.DeliveredAt.IsZero() && !m.NextAttemptAt.IsZero() {
				v.Attempts, v.NextAttemptAt = m.Attempts, &m.NextAttemptAt
			}
			return v
		})
}

func (c *cli) outboxDelivered(args []string) error {
	var com common
	fs := c.flagSet("outbox delivered", "Marks an outbox message delivered, so that list --undelivered leaves it out.", &com)
	id := fs.String("id", "", "the message's `ID` (from outbox list)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" {
		return errors.New("outbox delivered: --id is required")
	}
	_, st, err := c.openStore(&com)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.MarkDelivered(c.ctx, *id); errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("outbox delivered: no message %q", *id)
	} else if err != nil {
		return fmt.Errorf("mark %s delivered: %w", *id, err)
	}
	return nil
}

// newOutboxWorker builds what delivers the outbox to the webhooks of
// events.webhooks and deletes delivered messages past events.retention;
// without webhooks it only deletes.
func newOutboxWorker(cfg *config.Config, st storage.OutboxStore, log *slog.Logger) (*outbox.Worker, error) {
	hooks := make([]outbox.Hook, len(cfg.Events.Webhooks))
	for i, h := range cfg.Events.Webhooks {
		key, err := cfg.WebhookKey(i)
		if err != nil {
			return nil, err
		}
		hooks[i] = outbox.Hook{URL: h.URL, Key: key, Topics: h.Topics}
	}
	w, err := outbox.New(outbox.Config{Store: st, Hooks: hooks, Retention: cfg.EventsRetention(), Log: log})
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	for _, h := range cfg.Events.Webhooks {
		u, _ := url.Parse(h.URL) // validated
		log.Info("webhook", "host", u.Host, "topics", h.Topics)
	}
	return w, nil
}
