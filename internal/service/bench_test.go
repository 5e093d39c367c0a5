package service_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"catalogd/internal/ingest/file"
	"catalogd/internal/service"
	"catalogd/internal/testdb"
)

// BenchmarkLookupUser is the directory's cost per authenticated request: a User by email
// among 10,000 users, and its groups.
func BenchmarkLookupUser(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			url := testdb.SQLite(b)
			if db == "postgres" {
				url = testdb.Postgres(b)
			}
			st := testdb.Open(b, url)
			var sb strings.Builder
			for i := range 10_000 {
				fmt.Fprintf(&sb, "---\napiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {name: u%d}\nspec: {profile: {email: u%d@example.com}, memberOf: [team-%d]}\n", i, i, i%50)
			}
			path := filepath.Join(b.TempDir(), "users.yaml")
			os.WriteFile(path, []byte(sb.String()), 0o644)
			prov, _ := file.New(path)
			if _, err := testdb.Engine(b, st).Refresh(context.Background(), prov); err != nil {
				b.Fatal(err)
			}
			dir := service.NewDirectory(st)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				ref, _, err := dir.LookupUser(ctx, "email", fmt.Sprintf("u%d@example.com", i%10_000))
				if err != nil || ref == "" {
					b.Fatal(ref, err)
				}
			}
		})
	}
}
