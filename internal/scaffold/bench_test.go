package scaffold

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkRender500FilesAndPublish: a template whose skeleton has 500 small templated files
// (in 50 folders, with templated names), rendered and pushed to a local bare remote (file://
// under an allowed dir) as a new branch each time.
func BenchmarkRender500FilesAndPublish(b *testing.B) {
	e := newEnv(b, "", nil)
	files := map[string]string{}
	for i := range 500 {
		files[fmt.Sprintf("skeleton/pkg%02d/${{ values.name }}_%03d.go", i%50, i)] = fmt.Sprintf(
			"// Package of ${{ values.name }} (%d), owned by ${{ values.owner | upper }}.\npackage pkg\n\n{%% for t in values.tags %%}// tag ${{ loop.index }}: ${{ t }}\n{%% endfor %%}const N = %d\n", i, i)
	}
	src := `
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: bench
spec:
  parameters:
    properties:
      branch: {type: string}
  steps:
    - id: fetch
      action: fetch:template
      input:
        url: ./skeleton
        values: {name: svc, owner: team-pay, tags: [a, b, c]}
    - id: publish
      action: publish:git
      input:
        remoteUrl: file://` + filepath.ToSlash(filepath.Join(e.dir, "remote.git")) + `
        branch: ${{ parameters.branch }}
`
	tp := e.template("bench", src, files)
	git(b, "", "init", "-q", "--bare", "-b", "main", filepath.Join(e.dir, "remote.git"))
	b.ResetTimer()
	for i := range b.N {
		task := e.task(tp, map[string]any{"branch": fmt.Sprintf("b%d", i)}, nil)
		st := newStore(2)
		if _, err := e.eng.Run(context.Background(), task, st); err != nil {
			b.Fatal(err)
		}
	}
}
