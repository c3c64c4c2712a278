package sql

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestSQLitePathWithURICharacters(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a#1.db", "b?x=1.db", "c%41.db"} {
		path := filepath.Join(dir, name)
		st, err := Open(context.Background(), path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		st.Close()
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s: the database is not at its path: %v", name, err)
		}
	}
}
