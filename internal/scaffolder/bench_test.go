package scaffolder_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"catalogd/internal/auth"
	"catalogd/internal/ingest/file"
	"catalogd/internal/scaffold"
	"catalogd/internal/scaffolder"
	"catalogd/internal/testdb"

	"entgo.io/ent/dialect"
)

// BenchmarkTaskRender500FilesAndPush measures a task from runTemplate to COMPLETED with the
// real engine: a skeleton of 500 files rendered and pushed to a local bare repository, with
// the durable bookkeeping (steps, events, leases) on the database. Reports the median.
func BenchmarkTaskRender500FilesAndPush(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			var url string
			if db == "sqlite" {
				url = testdb.SQLite(b)
			} else {
				url = testdb.Postgres(b)
			}
			st := testdb.Open(b, url)
			dir := b.TempDir()
			for i := range 500 {
				p := filepath.Join(dir, "skeleton", fmt.Sprintf("pkg%02d", i/25), fmt.Sprintf("file%03d.go", i))
				os.MkdirAll(filepath.Dir(p), 0o755)
				os.WriteFile(p, []byte(fmt.Sprintf("package pkg // ${{ values.name }} %d\n", i)), 0o644)
			}
			tmpl := `apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: big}
spec:
  owner: team
  type: service
  parameters: {properties: {name: {type: string}, remoteUrl: {type: string}}}
  steps:
    - {id: fetch, name: Render, action: fetch:template, input: {url: ./skeleton, values: {name: "${{ parameters.name }}"}}}
    - {id: publish, name: Push, action: publish:git, input: {remoteUrl: "${{ parameters.remoteUrl }}"}}
`
			os.WriteFile(filepath.Join(dir, "template.yaml"), []byte(tmpl), 0o644)
			p, _ := file.New(filepath.Join(dir, "template.yaml"))
			if res, err := testdb.Engine(b, st).Refresh(context.Background(), p); err != nil || res.Errors > 0 {
				b.Fatalf("ingest: %+v %v", res, err)
			}
			eng, err := scaffold.New(scaffold.Options{AllowDirs: []string{dir}, WorkDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			svc, err := scaffolder.New(scaffolder.Options{Client: st.Client, Policy: auth.NewPolicy(nil, false), Engine: eng})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pool := scaffolder.NewPool(svc, scaffolder.PoolOptions{Workers: 1, Poll: 10 * time.Millisecond, Postgres: st.Dialect == dialect.Postgres})
			pool.Start(ctx)
			defer pool.Stop(context.Background())
			var times []time.Duration
			b.ResetTimer()
			for i := range b.N {
				bare := filepath.Join(dir, fmt.Sprintf("r%d.git", i))
				b.StopTimer()
				if out, err := exec.Command("git", "init", "-q", "--bare", "-b", "main", bare).CombinedOutput(); err != nil {
					b.Fatalf("%v %s", err, out)
				}
				b.StartTimer()
				t0 := time.Now()
				task, err := svc.RunTemplate(ctx, auth.Local(), "big", map[string]any{"name": "svc", "remoteUrl": "file://" + bare}, nil)
				if err != nil {
					b.Fatal(err)
				}
				for {
					got, err := st.Client.ScaffolderTask.Get(ctx, task.ID)
					if err != nil {
						b.Fatal(err)
					}
					if scaffolder.Final(got.State) {
						if got.State != scaffolder.StateCompleted {
							b.Fatalf("%s: %s", got.State, got.Error)
						}
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
				times = append(times, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Milliseconds()), "ms/task-median")
		})
	}
}
