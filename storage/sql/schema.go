package sql

import (
	"context"
	"fmt"
	"strings"

	"github.com/atrium-id/atrium/storage"
)

// migrations are applied in order, each once; append, never edit.
var migrations = []string{
	// 1: the initial schema.
	`
CREATE TABLE clients (
	id TEXT PRIMARY KEY,
	secret_hash {{blob}},
	name TEXT NOT NULL,
	redirect_uris TEXT NOT NULL,
	post_logout_redirect_uris TEXT NOT NULL,
	grant_types TEXT NOT NULL,
	response_types TEXT NOT NULL,
	scopes TEXT NOT NULL,
	audience TEXT NOT NULL,
	public INTEGER NOT NULL,
	token_endpoint_auth_method TEXT NOT NULL,
	jwks {{blob}},
	jwks_uri TEXT NOT NULL,
	logo_uri TEXT NOT NULL,
	policy_uri TEXT NOT NULL,
	tos_uri TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE TABLE users (
	id TEXT PRIMARY KEY,
	email TEXT UNIQUE,
	email_verified INTEGER NOT NULL,
	name TEXT NOT NULL,
	given_name TEXT NOT NULL,
	family_name TEXT NOT NULL,
	nickname TEXT NOT NULL,
	picture TEXT NOT NULL,
	locale TEXT NOT NULL,
	zoneinfo TEXT NOT NULL,
	phone_number TEXT NOT NULL,
	phone_number_verified INTEGER NOT NULL,
	address TEXT NOT NULL,
	disabled INTEGER NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE TABLE credentials (
	user_id TEXT NOT NULL,
	type TEXT NOT NULL,
	id TEXT NOT NULL,
	secret {{blob}},
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (user_id, type)
);
CREATE TABLE identities (
	id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL,
	provider TEXT NOT NULL,
	subject TEXT NOT NULL,
	email TEXT NOT NULL,
	claims {{blob}},
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	UNIQUE (provider, subject)
);
CREATE INDEX identities_user ON identities (user_id);
CREATE TABLE consents (
	user_id TEXT NOT NULL,
	client_id TEXT NOT NULL,
	scopes TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (user_id, client_id)
);
CREATE TABLE signing_keys (
	id TEXT PRIMARY KEY,
	algorithm TEXT NOT NULL,
	private_key {{blob}} NOT NULL,
	public_jwk {{blob}} NOT NULL,
	status TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	not_after BIGINT NOT NULL
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (status) WHERE status = 'active';
CREATE TABLE sessions (
	id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL,
	auth_time BIGINT NOT NULL,
	amr TEXT NOT NULL,
	acr TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);
CREATE TABLE interactions (
	id TEXT PRIMARY KEY,
	data {{blob}},
	expires_at BIGINT NOT NULL
);
CREATE INDEX interactions_expiry ON interactions (expires_at);
CREATE TABLE tokens (
	kind TEXT NOT NULL,
	signature TEXT NOT NULL,
	request_id TEXT NOT NULL,
	client_id TEXT NOT NULL,
	subject TEXT NOT NULL,
	session_id TEXT NOT NULL,
	active INTEGER NOT NULL,
	access_signature TEXT NOT NULL,
	data {{blob}},
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	PRIMARY KEY (kind, signature)
);
CREATE INDEX tokens_request ON tokens (request_id);
CREATE INDEX tokens_expiry ON tokens (expires_at);
CREATE TABLE use_once (
	key TEXT PRIMARY KEY,
	expires_at BIGINT NOT NULL
);
CREATE INDEX use_once_expiry ON use_once (expires_at);
`,
	// 2: user- and client-wide revocation; rate-limit counters.
	`
CREATE INDEX tokens_subject ON tokens (subject);
CREATE INDEX tokens_client ON tokens (client_id);
CREATE TABLE counters (
	key TEXT PRIMARY KEY,
	count BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX counters_expiry ON counters (expires_at);
`,
	// 3: one active signing key per algorithm; a client's ID token algorithm.
	`
DROP INDEX signing_keys_one_active;
CREATE UNIQUE INDEX signing_keys_one_active_per_alg ON signing_keys (algorithm) WHERE status = 'active';
ALTER TABLE clients ADD COLUMN id_token_signed_response_alg TEXT NOT NULL DEFAULT '';
`,
	// 4: sealed upstream tokens kept with a linked identity.
	`
ALTER TABLE identities ADD COLUMN tokens {{blob}};
`,
	// 5: several credentials of one type (passkeys), keyed by ID; the
	// single types get the ID the store derives for them. Audit events.
	`
CREATE TABLE credentials_v5 (
	user_id TEXT NOT NULL,
	type TEXT NOT NULL,
	id TEXT NOT NULL,
	secret {{blob}},
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (user_id, type, id)
);
INSERT INTO credentials_v5 (user_id, type, id, secret, created_at, updated_at)
	SELECT user_id, type, CASE WHEN type = 'passkey' THEN id ELSE user_id || ':' || type END,
		secret, created_at, updated_at
	FROM credentials;
DROP TABLE credentials;
ALTER TABLE credentials_v5 RENAME TO credentials;
CREATE TABLE audit_events (
	id TEXT PRIMARY KEY,
	time BIGINT NOT NULL,
	type TEXT NOT NULL,
	user_id TEXT NOT NULL,
	client_id TEXT NOT NULL,
	ip TEXT NOT NULL,
	user_agent TEXT NOT NULL,
	detail TEXT NOT NULL
);
CREATE INDEX audit_events_user ON audit_events (user_id, id);
CREATE INDEX audit_events_time ON audit_events (time);
`,
	// The outbox of events for downstream systems (account erasure).
	`
CREATE TABLE outbox (
	id TEXT PRIMARY KEY,
	topic TEXT NOT NULL,
	payload TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	delivered_at BIGINT
);
CREATE INDEX outbox_undelivered ON outbox (id) WHERE delivered_at IS NULL;
`,
	// 7: the consent policy version a consent was given under; first-party
	// clients; the append-only consent ledger.
	`
ALTER TABLE consents ADD COLUMN policy_version TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN first_party INTEGER NOT NULL DEFAULT 0;
CREATE TABLE consent_events (
	id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL,
	client_id TEXT NOT NULL,
	purpose TEXT NOT NULL,
	scopes TEXT NOT NULL,
	action TEXT NOT NULL,
	at BIGINT NOT NULL,
	policy_version TEXT NOT NULL,
	ip TEXT NOT NULL,
	user_agent TEXT NOT NULL
);
CREATE INDEX consent_events_user ON consent_events (user_id, at);
`,
	// The operator-defined attributes of users, a JSON object.
	`
ALTER TABLE users ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
`,
	// Users' preferences: language, currency, and the channels opted into
	// per purpose (a JSON object).
	`
CREATE TABLE preferences (
	user_id TEXT PRIMARY KEY,
	language TEXT NOT NULL,
	currency TEXT NOT NULL,
	opt_ins TEXT NOT NULL,
	updated_at BIGINT NOT NULL
);
`,
	// 10: delivery of the outbox to webhooks: failed attempts and when the
	// next is due, a lease so that one worker at a time sends a message,
	// and the hooks that took each message.
	`
ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN next_attempt_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
CREATE INDEX outbox_delivered ON outbox (delivered_at) WHERE delivered_at IS NOT NULL;
CREATE TABLE outbox_deliveries (
	message_id TEXT NOT NULL,
	hook TEXT NOT NULL,
	delivered_at BIGINT NOT NULL,
	PRIMARY KEY (message_id, hook)
);
`,
	// 11: the scopes a user declined on the consent screen, remembered
	// with their consent.
	`
ALTER TABLE consents ADD COLUMN declined TEXT NOT NULL DEFAULT '[]';
`,
	// The client metadata of OpenID Connect Dynamic Client Registration
	// and RFC 7591/7592: contacts, signing algorithms, logout URIs,
	// default max_age, token format, and how the client was registered.
	`
ALTER TABLE clients ADD COLUMN contacts TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN userinfo_signed_response_alg TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN request_object_signing_alg TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN request_uris TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN frontchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN frontchannel_logout_session_required INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN default_max_age INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN require_auth_time INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN access_token_format TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN software_id TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN software_version TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN registration TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN registration_access_token_hash {{blob}};
ALTER TABLE clients ADD COLUMN client_secret_expires_at BIGINT NOT NULL DEFAULT 0;
`,
	// A client's application type (web or native) and home page.
	`
ALTER TABLE clients ADD COLUMN application_type TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN client_uri TEXT NOT NULL DEFAULT '';
`,
	// The clients that took part in an SSO session (logout).
	`
ALTER TABLE sessions ADD COLUMN clients TEXT NOT NULL DEFAULT '[]';
`,
	// A client's subject type and sector (pairwise subject identifiers).
	`
ALTER TABLE clients ADD COLUMN subject_type TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN sector_identifier_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN sector TEXT NOT NULL DEFAULT '';
`,
	// 16: the resources (APIs) a user let an app reach, remembered with
	// their consent.
	`
ALTER TABLE consents ADD COLUMN resources TEXT NOT NULL DEFAULT '[]';
`,
	// 17: the resources each consent ledger entry allowed or withdrew.
	`
ALTER TABLE consent_events ADD COLUMN resources TEXT NOT NULL DEFAULT '[]';
`,
}

// Migrate brings the schema up to date. It is safe to run concurrently
// from several processes: PostgreSQL serializes on an advisory lock and
// SQLite on its write lock.
func (s *Store) Migrate(ctx context.Context) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if s.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7316002)`); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return err
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return err
	}
	if current > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this binary knows (%d)", current, len(migrations))
	}
	blob := "BLOB"
	if s.dialect == Postgres {
		blob = "BYTEA"
	}
	for v := current + 1; v <= len(migrations); v++ {
		ddl := strings.ReplaceAll(migrations[v-1], "{{blob}}", blob)
		for _, stmt := range strings.Split(ddl, ";") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migration %d: %w", v, err)
			}
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), v, storage.UnixMicro(s.now())); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
	}
	return tx.Commit()
}
