package sql

import (
	"context"
	sqldb "database/sql"
	"strings"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// clientCols are the columns of a client, in the order of clientArgs and
// scanClient; id first, created_at second.
var clientCols = []string{"id", "created_at", "secret_hash", "name", "redirect_uris",
	"post_logout_redirect_uris", "grant_types", "response_types", "scopes", "audience", "public",
	"token_endpoint_auth_method", "jwks", "jwks_uri", "logo_uri", "policy_uri", "tos_uri", "updated_at",
	"id_token_signed_response_alg", "first_party", "contacts", "userinfo_signed_response_alg",
	"request_object_signing_alg", "request_uris", "frontchannel_logout_uri",
	"frontchannel_logout_session_required", "backchannel_logout_uri", "backchannel_logout_session_required",
	"default_max_age", "require_auth_time", "access_token_format", "dpop_bound_access_tokens",
	"software_id", "software_version", "registration", "registration_access_token_hash",
	"client_secret_expires_at", "application_type", "client_uri", "subject_type",
	"sector_identifier_uri", "sector"}

var (
	clientColumns = strings.Join(clientCols, ", ")
	clientInsert  = `INSERT INTO clients (` + clientColumns + `) VALUES (?` + strings.Repeat(", ?", len(clientCols)-1) + `)`
	// clientUpdate sets everything but id and created_at.
	clientUpdate = `UPDATE clients SET ` + strings.Join(clientCols[2:], " = ?, ") + ` = ? WHERE id = ?`
)

func clientArgs(c *storage.Client) []any {
	return []any{c.ID, storage.UnixMicro(c.CreatedAt), c.SecretHash, c.Name, list(c.RedirectURIs),
		list(c.PostLogoutRedirectURIs), list(c.GrantTypes), list(c.ResponseTypes), list(c.Scopes),
		list(c.Audience), b2i(c.Public), c.TokenEndpointAuthMethod, c.JWKS, c.JWKSURI, c.LogoURI,
		c.PolicyURI, c.TOSURI, storage.UnixMicro(c.UpdatedAt), c.IDTokenSignedResponseAlg,
		b2i(c.FirstParty), list(c.Contacts), c.UserinfoSignedResponseAlg, c.RequestObjectSigningAlg,
		list(c.RequestURIs), c.FrontchannelLogoutURI, b2i(c.FrontchannelLogoutSessionRequired),
		c.BackchannelLogoutURI, b2i(c.BackchannelLogoutSessionRequired), c.DefaultMaxAge,
		b2i(c.RequireAuthTime), c.AccessTokenFormat, b2i(c.DPoPBoundAccessTokens), c.SoftwareID,
		c.SoftwareVersion, c.Registration, c.RegistrationAccessTokenHash,
		storage.UnixMicro(c.ClientSecretExpiresAt), c.ApplicationType, c.ClientURI, c.SubjectType,
		c.SectorIdentifierURI, c.Sector}
}

// CreateClient implements storage.ClientStore.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client) error {
	s.stamp(&c.CreatedAt, &c.UpdatedAt)
	_, err := s.exec(ctx, clientInsert, clientArgs(c)...)
	return err
}

// GetClient implements storage.ClientStore.
func (s *Store) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	row := s.queryRow(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = ?`, id)
	return scanClient(row)
}

// UpdateClient implements storage.ClientStore; CreatedAt is kept.
func (s *Store) UpdateClient(ctx context.Context, c *storage.Client) error {
	if c.UpdatedAt.IsZero() || !c.UpdatedAt.After(c.CreatedAt) {
		c.UpdatedAt = s.now().UTC().Truncate(time.Microsecond)
	}
	a := clientArgs(c)
	return affectedOne(s.exec(ctx, clientUpdate, append(a[2:], a[0])...))
}

// DeleteClient implements storage.ClientStore. The client's consents and
// grant state go with it.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx *sqldb.Tx) error {
		if err := affectedOne(s.execOn(ctx, tx, `DELETE FROM clients WHERE id = ?`, id)); err != nil {
			return err
		}
		if _, err := s.execOn(ctx, tx, `DELETE FROM consents WHERE client_id = ?`, id); err != nil {
			return err
		}
		_, err := s.execOn(ctx, tx, `DELETE FROM tokens WHERE client_id = ?`, id)
		return err
	})
}

// ListClients implements storage.ClientStore.
func (s *Store) ListClients(ctx context.Context, p storage.Page) ([]*storage.Client, string, error) {
	return listPage(ctx, s, `SELECT `+clientColumns+` FROM clients WHERE id > ? ORDER BY id LIMIT ?`, p, scanClient,
		func(c *storage.Client) string { return c.ID })
}

// listPage runs a paged listing query (its arguments: the After cursor and
// a limit) and returns the page and the cursor of the next one, "" when
// this page is the last.
func listPage[T any](ctx context.Context, s *Store, query string, p storage.Page, scan func(scanner) (*T, error), id func(*T) string) ([]*T, string, error) {
	limit := pageLimit(p)
	rows, err := s.query(ctx, query, p.After, limit+1)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = id(out[limit-1])
	}
	return out, next, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanClient(r scanner) (*storage.Client, error) {
	var (
		c                                                     storage.Client
		redirects, postLogout, grants, responses, scopes, aud string
		contacts, requestURIs                                 string
		public, firstParty, frontSession, backSession         int
		requireAuthTime, dpop                                 int
		created, updated, secretExpires                       int64
	)
	err := r.Scan(&c.ID, &created, &c.SecretHash, &c.Name, &redirects, &postLogout, &grants, &responses,
		&scopes, &aud, &public, &c.TokenEndpointAuthMethod, &c.JWKS, &c.JWKSURI, &c.LogoURI, &c.PolicyURI,
		&c.TOSURI, &updated, &c.IDTokenSignedResponseAlg, &firstParty, &contacts, &c.UserinfoSignedResponseAlg,
		&c.RequestObjectSigningAlg, &requestURIs, &c.FrontchannelLogoutURI, &frontSession,
		&c.BackchannelLogoutURI, &backSession, &c.DefaultMaxAge, &requireAuthTime, &c.AccessTokenFormat,
		&dpop, &c.SoftwareID, &c.SoftwareVersion, &c.Registration, &c.RegistrationAccessTokenHash,
		&secretExpires, &c.ApplicationType, &c.ClientURI, &c.SubjectType, &c.SectorIdentifierURI, &c.Sector)
	if err != nil {
		return nil, mapErr(err)
	}
	for _, f := range []struct {
		dst *[]string
		src string
	}{{&c.RedirectURIs, redirects}, {&c.PostLogoutRedirectURIs, postLogout}, {&c.GrantTypes, grants},
		{&c.ResponseTypes, responses}, {&c.Scopes, scopes}, {&c.Audience, aud}, {&c.Contacts, contacts},
		{&c.RequestURIs, requestURIs}} {
		if *f.dst, err = unlist(f.src); err != nil {
			return nil, err
		}
	}
	c.Public, c.FirstParty = public != 0, firstParty != 0
	c.FrontchannelLogoutSessionRequired, c.BackchannelLogoutSessionRequired = frontSession != 0, backSession != 0
	c.RequireAuthTime, c.DPoPBoundAccessTokens = requireAuthTime != 0, dpop != 0
	c.CreatedAt, c.UpdatedAt = storage.FromUnixMicro(created), storage.FromUnixMicro(updated)
	c.ClientSecretExpiresAt = storage.FromUnixMicro(secretExpires)
	return &c, nil
}
