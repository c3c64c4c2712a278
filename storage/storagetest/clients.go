package storagetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

var clientTests = []test{
	{"RoundTrip", func(t *testing.T, s Store, clock *Clock) {
		want := fullClient("client-1", clock.Now())
		must(t, s.CreateClient(t.Context(), clone(want)), "CreateClient")
		got, err := s.GetClient(t.Context(), want.ID)
		must(t, err, "GetClient(%q)", want.ID)
		checkRecord(t, "GetClient", got, want, "JWKS")
	}},
	{"RoundTripEmpty", func(t *testing.T, s Store, clock *Clock) {
		now := clock.Now()
		want := &storage.Client{ID: "bare", Public: true, TokenEndpointAuthMethod: "none", CreatedAt: now, UpdatedAt: now}
		must(t, s.CreateClient(t.Context(), clone(want)), "CreateClient(no lists, secret or JWKS)")
		got, err := s.GetClient(t.Context(), want.ID)
		must(t, err, "GetClient(%q)", want.ID)
		checkRecord(t, "GetClient", got, want, "JWKS")
	}},
	{"CreateDuplicate", func(t *testing.T, s Store, clock *Clock) {
		first := seedClient(t, s, "client-1", clock.Now())
		dup := fullClient("client-1", clock.Now())
		dup.Name = "impostor"
		wantErr(t, s.CreateClient(t.Context(), dup), storage.ErrAlreadyExists, "CreateClient(existing ID)")
		got, err := s.GetClient(t.Context(), first.ID)
		must(t, err, "GetClient(%q)", first.ID)
		checkRecord(t, "GetClient after a rejected duplicate", got, first, "JWKS")
	}},
	{"Missing", func(t *testing.T, s Store, clock *Clock) {
		seedClient(t, s, "client-1", clock.Now())
		_, err := s.GetClient(t.Context(), "nope")
		wantErr(t, err, storage.ErrNotFound, "GetClient(missing)")
		wantErr(t, s.UpdateClient(t.Context(), fullClient("nope", clock.Now())), storage.ErrNotFound, "UpdateClient(missing)")
		wantErr(t, s.DeleteClient(t.Context(), "nope"), storage.ErrNotFound, "DeleteClient(missing)")
		if _, err := s.GetClient(t.Context(), "nope"); err == nil {
			t.Error("GetClient after UpdateClient(missing) found the client, want UpdateClient not to create it")
		}
	}},
	{"Update", func(t *testing.T, s Store, clock *Clock) {
		orig := seedClient(t, s, "client-1", clock.Now())
		other := seedClient(t, s, "client-2", clock.Now())
		clock.Advance(time.Hour)
		want := &storage.Client{
			ID:                      orig.ID,
			Name:                    "renamed",
			RedirectURIs:            []string{"https://new.example/cb"},
			GrantTypes:              []string{"client_credentials"},
			ResponseTypes:           nil,
			Scopes:                  []string{"api"},
			Public:                  true,
			TokenEndpointAuthMethod: "none",
			LogoURI:                 "https://new.example/logo.svg",
			CreatedAt:               orig.CreatedAt,
			UpdatedAt:               clock.Now(),
		}
		must(t, s.UpdateClient(t.Context(), clone(want)), "UpdateClient")
		got, err := s.GetClient(t.Context(), want.ID)
		must(t, err, "GetClient(%q)", want.ID)
		checkRecord(t, "GetClient after UpdateClient", got, want, "JWKS")
		got, err = s.GetClient(t.Context(), other.ID)
		must(t, err, "GetClient(%q)", other.ID)
		checkRecord(t, "GetClient of a client not updated", got, other, "JWKS")
	}},
	{"Delete", func(t *testing.T, s Store, clock *Clock) {
		seedClient(t, s, "client-1", clock.Now())
		keep := seedClient(t, s, "client-2", clock.Now())
		must(t, s.DeleteClient(t.Context(), "client-1"), "DeleteClient")
		_, err := s.GetClient(t.Context(), "client-1")
		wantErr(t, err, storage.ErrNotFound, "GetClient(deleted)")
		wantErr(t, s.DeleteClient(t.Context(), "client-1"), storage.ErrNotFound, "DeleteClient(already deleted)")
		got, err := s.GetClient(t.Context(), keep.ID)
		must(t, err, "GetClient(%q) after deleting another client", keep.ID)
		checkRecord(t, "GetClient", got, keep, "JWKS")
		must(t, s.CreateClient(t.Context(), fullClient("client-1", clock.Now())), "CreateClient(ID of a deleted client)")
	}},
	{"ListEmpty", func(t *testing.T, s Store, clock *Clock) {
		got, next, err := s.ListClients(t.Context(), storage.Page{})
		must(t, err, "ListClients(empty store)")
		if len(got) != 0 || next != "" {
			t.Errorf("ListClients(empty store) = %d clients, next %q; want none and \"\"", len(got), next)
		}
	}},
	{"ListRecords", func(t *testing.T, s Store, clock *Clock) {
		b := seedClient(t, s, "client-b", clock.Now())
		a := seedClient(t, s, "client-a", clock.Now())
		a.Public, a.SecretHash, a.Scopes = true, nil, nil
		must(t, s.UpdateClient(t.Context(), clone(a)), "UpdateClient")
		got, next, err := s.ListClients(t.Context(), storage.Page{Limit: 10})
		must(t, err, "ListClients")
		if next != "" {
			t.Errorf("ListClients(all fit in one page) next = %q, want \"\"", next)
		}
		checkList(t, "ListClients", got, []*storage.Client{a, b}, clientID, "JWKS")
	}},
	{"Pages", func(t *testing.T, s Store, clock *Clock) {
		testPages(t, clientLister(s), func(id string) { seedClient(t, s, id, clock.Now()) })
	}},
	{"DefaultLimit", func(t *testing.T, s Store, clock *Clock) {
		var want []string
		for i := range 105 {
			id := pad("c", i)
			want = append(want, id)
			seedClient(t, s, id, clock.Now())
		}
		list := clientLister(s)
		first, next, err := list(t.Context(), storage.Page{})
		must(t, err, "ListClients(Limit 0)")
		if len(first) != 100 || next == "" {
			t.Fatalf("ListClients(Limit 0) over 105 clients = %d clients, next %q; want the default 100 and a non-empty cursor", len(first), next)
		}
		rest, next2, err := list(t.Context(), storage.Page{After: next})
		must(t, err, "ListClients(After %q, Limit 0)", next)
		if next2 != "" {
			t.Errorf("ListClients(second page of 105 at the default limit) next = %q, want \"\"", next2)
		}
		if got := append(first, rest...); !slices.Equal(got, want) {
			t.Errorf("ListClients over two default pages = %q, want %q", got, want)
		}
	}},
	{"LimitCapped", func(t *testing.T, s Store, clock *Clock) {
		for i := range 1001 {
			seedClient(t, s, fmt.Sprintf("c%04d", i), clock.Now())
		}
		got, next, err := clientLister(s)(t.Context(), storage.Page{Limit: 5000})
		must(t, err, "ListClients(Limit 5000)")
		if len(got) != 1000 || next == "" {
			t.Errorf("ListClients(Limit 5000) over 1001 clients = %d clients, next %q; want the cap of 1000 and a non-empty cursor", len(got), next)
		}
	}},
}

func clientID(c *storage.Client) string { return c.ID }

func clientLister(s Store) func(ctx context.Context, p storage.Page) ([]string, string, error) {
	return func(ctx context.Context, p storage.Page) ([]string, string, error) {
		cs, next, err := s.ListClients(ctx, p)
		return ids(cs, clientID), next, err
	}
}

// testPages checks a listing ordered by ID: paging through it at several
// limits yields every record once, in ID order, and After need not name an
// existing record. create adds a record with the given ID.
func testPages(t *testing.T, list func(ctx context.Context, p storage.Page) ([]string, string, error), create func(id string)) {
	t.Helper()
	// Created out of order; equal-length lower-case IDs sort the same
	// bytewise and under any collation.
	var all []string
	for _, i := range []int{3, 0, 4, 1, 2} {
		create(pad("id", i))
	}
	for i := range 5 {
		all = append(all, pad("id", i))
	}
	for _, limit := range []int{1, 2, 3, 5, 7} {
		if got := walk(t, "List", limit, list); !slices.Equal(got, all) {
			t.Errorf("paging with Limit %d listed %q, want %q", limit, got, all)
		}
	}
	// A page that ends exactly on the last record is the last page.
	got, next, err := list(t.Context(), storage.Page{After: all[2], Limit: 2})
	must(t, err, "List(After %q, Limit 2)", all[2])
	if !slices.Equal(got, all[3:]) || next != "" {
		t.Errorf("List(After %q, Limit 2) = %q, next %q; want %q and \"\" (the page ends on the last record)", all[2], got, next, all[3:])
	}
	// After between two IDs.
	got, next, err = list(t.Context(), storage.Page{After: all[1] + "x", Limit: 10})
	must(t, err, "List(After %q)", all[1]+"x")
	if !slices.Equal(got, all[2:]) || next != "" {
		t.Errorf("List(After %q) = %q, next %q; want %q and \"\"", all[1]+"x", got, next, all[2:])
	}
	got, next, err = list(t.Context(), storage.Page{After: all[4], Limit: 10})
	must(t, err, "List(After the last ID)")
	if len(got) != 0 || next != "" {
		t.Errorf("List(After the last ID) = %q, next %q; want nothing and \"\"", got, next)
	}
}
