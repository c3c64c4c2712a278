package keys

import (
	"context"
	"sync/atomic"

	"github.com/atrium-id/atrium/storage"
)

// countingStore counts ListKeys calls.
type countingStore struct {
	storage.KeyStore
	lists atomic.Int64
}

func (s *countingStore) ListKeys(ctx context.Context) ([]*storage.SigningKey, error) {
	s.lists.Add(1)
	return s.KeyStore.ListKeys(ctx)
}
