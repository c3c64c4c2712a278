package sql_test

import (
	"path/filepath"
	"testing"

	"github.com/atrium-id/atrium/storage/storagetest"
)

func TestSQLiteOutbox(t *testing.T) {
	storagetest.RunOutbox(t, func(t *testing.T, clock *storagetest.Clock) storagetest.ErasureStore {
		return openSQLite(t, filepath.Join(t.TempDir(), "atrium.db"), clock)
	})
}

func TestPostgresOutbox(t *testing.T) {
	url := postgresURL(t)
	storagetest.RunOutbox(t, func(t *testing.T, clock *storagetest.Clock) storagetest.ErasureStore {
		return openPostgres(t, url, clock)
	})
}
