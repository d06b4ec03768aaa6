package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// BenchmarkAppendEvent measures one write transaction (an event append) as
// configured (synchronous=FULL) and, for comparison, with NORMAL, which a
// later _pragma in the DSN overrides (pragmas run in name order).
func BenchmarkAppendEvent(b *testing.B) {
	for _, bb := range []struct {
		name, params string
	}{
		{"FULL", ""},
		{"NORMAL", "?_pragma=synchronous(NORMAL)"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			db := MustOpenDBAt(b, filepath.Join(b.TempDir(), "bench.db")+bb.params)
			c := MustCreateCase(b, db, 1)
			es := sqlite.NewEventService(db)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := es.AppendEvent(ctx, &vpndiag.Event{CaseID: c.ID, Actor: "bench", Kind: vpndiag.EventNote, Message: "x"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
