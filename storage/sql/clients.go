package sql

import (
	"context"
	sqldb "database/sql"
	"time"

	"github.com/atrium-id/atrium/storage"
)

const clientColumns = `id, secret_hash, name, redirect_uris, post_logout_redirect_uris, grant_types,
	response_types, scopes, audience, public, token_endpoint_auth_method, jwks, jwks_uri,
	logo_uri, policy_uri, tos_uri, created_at, updated_at, id_token_signed_response_alg, first_party`

func clientArgs(c *storage.Client) []any {
	return []any{c.ID, c.SecretHash, c.Name, list(c.RedirectURIs), list(c.PostLogoutRedirectURIs),
		list(c.GrantTypes), list(c.ResponseTypes), list(c.Scopes), list(c.Audience), b2i(c.Public),
		c.TokenEndpointAuthMethod, c.JWKS, c.JWKSURI, c.LogoURI, c.PolicyURI, c.TOSURI,
		storage.UnixMicro(c.CreatedAt), storage.UnixMicro(c.UpdatedAt), c.IDTokenSignedResponseAlg, b2i(c.FirstParty)}
}

// CreateClient implements storage.ClientStore.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client) error {
	s.stamp(&c.CreatedAt, &c.UpdatedAt)
	_, err := s.exec(ctx, `INSERT INTO clients (`+clientColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, clientArgs(c)...)
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
	// Everything but id and created_at, then the id.
	args := append(append([]any{}, a[1:16]...), a[17], a[18], a[19], a[0])
	return affectedOne(s.exec(ctx, `UPDATE clients SET secret_hash = ?, name = ?, redirect_uris = ?,
		post_logout_redirect_uris = ?, grant_types = ?, response_types = ?, scopes = ?, audience = ?,
		public = ?, token_endpoint_auth_method = ?, jwks = ?, jwks_uri = ?, logo_uri = ?,
		policy_uri = ?, tos_uri = ?, updated_at = ?, id_token_signed_response_alg = ?, first_party = ? WHERE id = ?`, args...))
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
		public, firstParty                                    int
		created, updated                                      int64
	)
	err := r.Scan(&c.ID, &c.SecretHash, &c.Name, &redirects, &postLogout, &grants, &responses, &scopes, &aud,
		&public, &c.TokenEndpointAuthMethod, &c.JWKS, &c.JWKSURI, &c.LogoURI, &c.PolicyURI, &c.TOSURI,
		&created, &updated, &c.IDTokenSignedResponseAlg, &firstParty)
	if err != nil {
		return nil, mapErr(err)
	}
	for _, f := range []struct {
		dst *[]string
		src string
	}{{&c.RedirectURIs, redirects}, {&c.PostLogoutRedirectURIs, postLogout}, {&c.GrantTypes, grants},
		{&c.ResponseTypes, responses}, {&c.Scopes, scopes}, {&c.Audience, aud}} {
		if *f.dst, err = unlist(f.src); err != nil {
			return nil, err
		}
	}
	c.Public, c.FirstParty = public != 0, firstParty != 0
	c.CreatedAt, c.UpdatedAt = storage.FromUnixMicro(created), storage.FromUnixMicro(updated)
	return &c, nil
}
