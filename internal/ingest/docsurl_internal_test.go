package ingest

import (
	"strings"
	"testing"
)

func TestParseForgeURL(t *testing.T) {
	for _, c := range []struct {
		name, raw, repo, ref, dir, err string
	}{
		{"a GitHub folder names its repository, ref and path", "https://github.com/acme/payments/tree/main/docs-site",
			"https://github.com/acme/payments", "main", "docs-site", ""},
		{"a GitHub blob names the folder of its mkdocs.yml", "https://github.com/acme/payments/blob/v1.2/a/b/mkdocs.yml",
			"https://github.com/acme/payments", "v1.2", "a/b", ""},
		{"a GitLab folder in a subgroup", "https://gitlab.example.com/g/sub/r/-/tree/main/x",
			"https://gitlab.example.com/g/sub/r", "main", "x", ""},
		{"a GitLab blob", "https://gitlab.example.com/g/r/-/blob/main/mkdocs.yml", "https://gitlab.example.com/g/r", "main", ".", ""},
		{"the top of a repository, trailing slash", "http://127.0.0.1:8080/r.git/tree/main/", "http://127.0.0.1:8080/r.git", "main", ".", ""},
		{"a file repository", "file:///srv/repos/r.git/tree/main/docs", "file:///srv/repos/r.git", "main", "docs", ""},
		{"escaped characters are read", "https://h/o/r/tree/main/my%20docs", "https://h/o/r", "main", "my docs", ""},
		{"dot-dot is refused", "https://h/o/r/tree/main/a/../../x", "", "", "", "'..'"},
		{"an escaped dot-dot is refused", "https://h/o/r/tree/main/%2e%2e/x", "", "", "", "'..'"},
		{"an escaped slash is refused", "https://h/o/r/tree/main/a%2f..%2fb", "", "", "", "escaped slashes"},
		{"a ref that is an option is refused", "https://h/o/r/tree/-upload-pack=x/docs", "", "", "", "may not start with '-'"},
		{"a blob that is not mkdocs.yml is refused", "https://h/o/r/blob/main/README.md", "", "", "", "mkdocs.yml"},
		{"a repository URL alone is refused", "https://github.com/acme/payments", "", "", "", "not a forge folder URL"},
		{"tree without a ref is refused", "https://h/o/r/tree", "", "", "", "not a forge folder URL"},
		{"tree as the first segment names no repository", "https://h/tree/main/docs", "", "", "", "not a forge folder URL"},
		{"other schemes are refused", "ssh://git@h/o/r/tree/main/docs", "", "", "", "only https, http and file"},
		{"credentials are refused", "https://u:p@h/o/r/tree/main/docs", "", "", "", "user information"},
		{"a query is refused", "https://h/o/r/tree/main/docs?x=1", "", "", "", "no query"},
		{"a file URL with a host is refused", "file://h/r.git/tree/main/docs", "", "", "", "no host"},
		{"a space is refused", "https://h/o/r/tree/main/a b", "", "", "", "not a URL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := parseForgeURL(c.raw)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %+v, %v; want an error saying %q", f, err, c.err)
				}
				return
			}
			if err != nil || f.repo != c.repo || f.ref != c.ref || f.dir != c.dir {
				t.Fatalf("got %+v, %v; want %s %s %s", f, err, c.repo, c.ref, c.dir)
			}
		})
	}
}
