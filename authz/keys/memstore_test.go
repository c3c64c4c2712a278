package keys

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// memStore is a stand-in KeyStore until storage/sql compiles.
type memStore struct {
	mu   sync.Mutex
	keys []storage.SigningKey
}

func newStore(t *testing.T) storage.KeyStore { t.Helper(); return &memStore{} }

func (s *memStore) ListKeys(ctx context.Context) ([]*storage.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*storage.SigningKey
	for _, k := range s.keys {
		if !k.NotAfter.IsZero() && time.Now().After(k.NotAfter) {
			continue
		}
		c := k
		out = append(out, &c)
	}
	slices.SortStableFunc(out, func(a, b *storage.SigningKey) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

func (s *memStore) RotateKey(ctx context.Context, next *storage.SigningKey, retireAfter time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.keys {
		if s.keys[i].Status == storage.KeyActive && s.keys[i].Algorithm == next.Algorithm {
			s.keys[i].Status = storage.KeyRetired
			s.keys[i].NotAfter = retireAfter
		}
	}
	c := *next
	c.Status = storage.KeyActive
	s.keys = append(s.keys, c)
	return nil
}

func (s *memStore) DeleteKey(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = slices.DeleteFunc(s.keys, func(k storage.SigningKey) bool { return k.ID == id })
	return nil
}
