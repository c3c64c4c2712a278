package sql_test

import (
	"path/filepath"
	"testing"

	"github.com/atrium-id/atrium/storage"
	"github.com/atrium-id/atrium/storage/storagetest"
)

func TestSQLiteKeySchedule(t *testing.T) {
	storagetest.RunKeySchedule(t, func(t *testing.T, clock *storagetest.Clock) storage.KeyScheduler {
		return openSQLite(t, filepath.Join(t.TempDir(), "atrium.db"), clock)
	})
}

func TestPostgresKeySchedule(t *testing.T) {
	url := postgresURL(t)
	storagetest.RunKeySchedule(t, func(t *testing.T, clock *storagetest.Clock) storage.KeyScheduler {
		return openPostgres(t, url, clock)
	})
}
