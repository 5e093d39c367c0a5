package demo

import (
	"io/fs"
	"path"
	"regexp"
	"strings"
	"testing"
)

var (
	skeletonRe = regexp.MustCompile(`(?m)^\s+url: (\.\.?/\S+)$`)
	targetRe   = regexp.MustCompile(`(?m)^    - (\./\S+)$`)
	textRe     = regexp.MustCompile(`(?m)^\s+\$text: (\S+)$`)
	docsRe     = regexp.MustCompile(`(?m)^\s+backstage.io/techdocs-ref: dir:(\S+)$`)
)

// TestFilesReachable checks, without a YAML parser, that every Location
// target and $text placeholder names an embedded file, and that every
// embedded catalog file is reachable from Root.
func TestFilesReachable(t *testing.T) {
	reached := map[string]bool{}
	var visit func(p string)
	visit = func(p string) {
		if reached[p] {
			return
		}
		reached[p] = true
		data, err := fs.ReadFile(FS, p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		dir := path.Dir(p)
		if strings.Contains(string(data), "\nkind: Location\n") {
			for _, m := range targetRe.FindAllStringSubmatch(string(data), -1) {
				visit(path.Join(dir, m[1]))
			}
		}
		for _, m := range textRe.FindAllStringSubmatch(string(data), -1) {
			q := path.Join(dir, m[1])
			if _, err := fs.Stat(FS, q); err != nil {
				t.Errorf("%s: $text %s: %v", p, m[1], err)
			}
			reached[q] = true
		}
		if strings.Contains(string(data), "\nkind: Template\n") {
			// A template's fetch steps read skeleton folders relative to it.
			for _, m := range skeletonRe.FindAllStringSubmatch(string(data), -1) {
				walkReached(t, path.Join(dir, m[1]), reached)
			}
		}
		for _, m := range docsRe.FindAllStringSubmatch(string(data), -1) {
			docs := path.Join(dir, m[1])
			if _, err := fs.Stat(FS, path.Join(docs, "mkdocs.yml")); err != nil {
				t.Errorf("%s: techdocs-ref %s: %v", p, m[1], err)
			}
			fs.WalkDir(FS, docs, func(f string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					reached[f] = true
				}
				return err
			})
		}
	}
	visit(Root)
	err := fs.WalkDir(FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !reached[p] {
			t.Errorf("%s is embedded but not reachable from %s", p, Root)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(reached) < 10 {
		t.Fatalf("only %d files reached", len(reached))
	}
}

// walkReached marks every file below dir as reached; dir must exist.
func walkReached(t *testing.T, dir string, reached map[string]bool) {
	t.Helper()
	if st, err := fs.Stat(FS, dir); err != nil || !st.IsDir() {
		t.Errorf("skeleton %s is not an embedded folder", dir)
		return
	}
	fs.WalkDir(FS, dir, func(f string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			reached[f] = true
		}
		return err
	})
}
