package scaffold

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"catalogd/internal/catalog"
)

// tinyTemplate is a template whose one fetch step and one publish step are given as YAML.
func tinyTemplate(fetch, publish string) string {
	return `
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: tiny
spec:
  parameters:
    properties:
      name: {type: string, default: svc}
  steps:
    - id: fetch
      action: fetch:template
      input:
` + fetch + `
    - id: publish
      action: publish:git
      input:
` + publish + "\n"
}

func TestHostileTemplatesAreRefused(t *testing.T) {
	e := newEnv(t, "", func(o *Options) {
		o.Limits = Limits{MaxFiles: 20, MaxFileBytes: 1 << 16, MaxTotalBytes: 1 << 18, MaxRender: 1 << 16}
	})
	outside := t.TempDir()
	writeFiles(t, outside, map[string]string{"etc/passwd": "root:x:0:0\n"})
	okRemote := "        remoteUrl: " + e.git.bare(t, "ok.git")
	cases := []struct {
		name, fetch, publish string
		files                map[string]string
		code, want           string
	}{
		{
			name:  "a skeleton path that climbs out of the allowed dir",
			fetch: "        url: ../../../../../../../../etc", publish: okRemote,
			code: catalog.EFORBIDDEN, want: "outside the allowed directories",
		},
		{
			name:  "an absolute file URL outside the allowed dir",
			fetch: "        url: file://" + outside + "/etc", publish: okRemote,
			code: catalog.EFORBIDDEN, want: "outside the allowed directories",
		},
		{
			name:  "a file name that renders to ../x",
			fetch: "        url: ./skeleton\n        values: {up: '..'}", publish: okRemote,
			files: map[string]string{"skeleton/${{ values.up }}/x": "escaped"},
			code:  catalog.EINVALID, want: "leaves the workspace",
		},
		{
			name:  "a file that would be a .git pointer to another repository",
			fetch: "        url: ./skeleton", publish: okRemote,
			files: map[string]string{"skeleton/sub/${{ '.GIT' | lower }}": "gitdir: /etc\n"},
			code:  catalog.EINVALID, want: ".git entry",
		},
		{
			name:  "a targetPath outside the workspace",
			fetch: "        url: ./skeleton\n        targetPath: ../../x", publish: okRemote,
			files: map[string]string{"skeleton/a": "a"},
			code:  catalog.EINVALID, want: "leaves the workspace",
		},
		{
			name:  "a file remote outside the allowed dir",
			fetch: "        url: ./skeleton", publish: "        remoteUrl: file://" + outside + "/r.git",
			files: map[string]string{"skeleton/a": "a"},
			code:  catalog.EFORBIDDEN, want: "outside the allowed directories",
		},
		{
			name:  "an http remote the allow-list does not admit",
			fetch: "        url: ./skeleton", publish: "        remoteUrl: http://10.1.2.3/r.git",
			files: map[string]string{"skeleton/a": "a"},
			code:  catalog.EFORBIDDEN, want: "read-allow",
		},
		{
			name:  "an ext:: remote that would run a command",
			fetch: "        url: ./skeleton", publish: "        remoteUrl: 'ext::sh -c touch% /tmp/pwned'",
			files: map[string]string{"skeleton/a": "a"},
			code:  catalog.EINVALID, want: "not a git URL",
		},
		{
			name:  "a remote that is a git option",
			fetch: "        url: ./skeleton", publish: "        remoteUrl: --upload-pack=touch",
			files: map[string]string{"skeleton/a": "a"},
			code:  catalog.EINVALID, want: "not a git URL",
		},
		{
			name:  "a branch that is a git option",
			fetch: "        url: ./skeleton", publish: okRemote + "\n        branch: --force",
			files: map[string]string{"skeleton/a": "a"},
			code:  catalog.EINVALID, want: "not a valid branch",
		},
		{
			name:  "an author that would inject into git's import stream",
			fetch: "        url: ./skeleton", publish: okRemote + "\n        gitAuthorName: \"x> 0 +0000\\nM 100644 inline y\"",
			files: map[string]string{"skeleton/a": "a"},
			code:  catalog.EINVALID, want: "may not hold",
		},
		{
			name:  "a file name with a line break",
			fetch: "        url: ./skeleton\n        values: {nl: \"a\\nb\"}", publish: okRemote,
			files: map[string]string{"skeleton/${{ values.nl }}": "a"},
			code:  catalog.EINVALID, want: "cannot be committed",
		},
		{
			name:  "a skeleton with too many files",
			fetch: "        url: ./skeleton", publish: okRemote,
			files: manyFiles(21),
			code:  catalog.EINVALID, want: "more than 20 files",
		},
		{
			name:  "a skeleton file that is too large",
			fetch: "        url: ./skeleton", publish: okRemote,
			files: map[string]string{"skeleton/big": strings.Repeat("x", 1<<16+1)},
			code:  catalog.EINVALID, want: "larger than",
		},
		{
			name:  "a file whose loops render without end",
			fetch: "        url: ./skeleton\n        values: {xs: [1,2,3,4,5,6,7,8,9,10]}", publish: okRemote,
			files: map[string]string{"skeleton/loop": strings.Repeat("{% for a in values.xs %}", 8) + "xxxxxxxx" + strings.Repeat("{% endfor %}", 8)},
			code:  catalog.EINVALID, want: "renders too much",
		},
	}
	for i, c := range cases {
		t.Run(c.name+" is refused", func(t *testing.T) {
			tp := e.template(fmt.Sprintf("t%d", i), tinyTemplate(c.fetch, c.publish), c.files)
			st := newStore(len(tp.Steps))
			_, err := e.eng.Run(context.Background(), e.task(tp, nil, nil), st)
			if catalog.ErrorCode(err) != c.code || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v (code %s), want %s with %q", err, catalog.ErrorCode(err), c.code, c.want)
			}
			if _, err := os.Stat("/tmp/pwned"); err == nil {
				t.Fatal("a remote ran a command")
			}
			e.workDirEmpty()
		})
	}

	t.Run("a symbolic link out of the skeleton is refused", func(t *testing.T) {
		tp := e.template("link", tinyTemplate("        url: ./skeleton", okRemote), map[string]string{"skeleton/a": "a"})
		must(t, os.Symlink(filepath.Join(outside, "etc", "passwd"), filepath.Join(e.dir, "templates", "link", "skeleton", "passwd")))
		_, err := e.eng.Run(context.Background(), e.task(tp, nil, nil), newStore(2))
		if catalog.ErrorCode(err) != catalog.EINVALID || !strings.Contains(err.Error(), "symbolic link") {
			t.Fatalf("err %v", err)
		}
		if out := git(t, "", "ls-remote", strings.TrimPrefix(okRemote, "        remoteUrl: ")); out != "" {
			t.Errorf("pushed %s", out)
		}
	})
	t.Run("a skeleton folder that is a symbolic link out is refused", func(t *testing.T) {
		dir := filepath.Join(e.dir, "templates", "link2")
		must(t, os.MkdirAll(dir, 0o755))
		must(t, os.Symlink(filepath.Join(outside, "etc"), filepath.Join(dir, "skeleton")))
		tp := e.template("link2", tinyTemplate("        url: ./skeleton", okRemote), nil)
		_, err := e.eng.Run(context.Background(), e.task(tp, nil, nil), newStore(2))
		if catalog.ErrorCode(err) != catalog.EFORBIDDEN || !strings.Contains(err.Error(), "outside the allowed directories") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("a file remote under the allowed dir is pushed to", func(t *testing.T) {
		bare := filepath.Join(e.dir, "remotes", "r.git")
		git(t, "", "init", "-q", "--bare", "-b", "main", bare)
		tp := e.template("file", tinyTemplate("        url: ./skeleton", "        remoteUrl: file://"+bare),
			map[string]string{"skeleton/a": "${{ values.x | default('a') }}", "skeleton/.gitignore": "*.log\n", "skeleton/debug.log": "x", "skeleton/my file.txt": "spaced"})
		if _, err := e.eng.Run(context.Background(), e.task(tp, nil, nil), newStore(2)); err != nil {
			t.Fatal(err)
		}
		if got := cloneTree(t, "file://"+bare, "main"); got["a"] != "a" || got["my file.txt"] != "spaced" || got["debug.log"] != "" || len(got) != 3 {
			t.Errorf("tree %v", got)
		}
	})
}

func manyFiles(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprintf("skeleton/f%03d", i)] = "x"
	}
	return m
}

// Secrets the user passes never appear in events, outputs, step states, errors or the log,
// wherever a template puts them.
func TestSecretsNeverAppear(t *testing.T) {
	const secret = "s3cr3t-V4LUE/with+chars"
	e := newEnv(t, "", nil)
	remote := e.git.bare(t, "svc.git")
	src := `
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: leaky
spec:
  steps:
    - id: fetch
      action: fetch:template
      input:
        url: ./skeleton
        values: {s: '${{ secrets.token }}'}
    - id: log
      action: debug:log
      input:
        message: the token is ${{ secrets.token }} (${{ secrets.token | upper | lower }})
    - id: publish
      action: publish:git
      input:
        remoteUrl: ` + remote + `
        commitMessage: commit ${{ secrets.token }}
    - id: fail
      action: publish:git
      input:
        remoteUrl: ${{ '` + remote + `x?' ~ secrets.token }}
  output:
    token: ${{ secrets.token }}
    text: [{content: 'x ${{ secrets.token }}'}]
`
	tp := e.template("leaky", src, map[string]string{"skeleton/a.txt": "${{ values.s }}"})
	task := e.task(tp, nil, map[string]string{"token": secret})
	st := newStore(len(tp.Steps))
	_, err := e.eng.Run(context.Background(), task, st)
	if err == nil {
		t.Fatal("the last step should fail")
	}
	dump := st.dump() + err.Error() + e.log.String()
	if !strings.Contains(dump, "the token is *** (***)") {
		t.Errorf("the log event is not redacted as expected:\n%s", dump)
	}
	for _, form := range []string{secret, "s3cr3t-V4LUE%2Fwith%2Bchars", "s3cr3t"} {
		if strings.Contains(dump, form) {
			t.Errorf("%q found in:\n%s", form, dump)
		}
	}

	t.Run("the output is redacted too", func(t *testing.T) {
		tp.Steps = tp.Steps[:3]
		st := newStore(3)
		out, err := e.eng.Run(context.Background(), task, st)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(out) != "map[text:[map[content:x ***]] token:***]" {
			t.Errorf("output %v", out)
		}
		res, err := e.eng.DryRun(context.Background(), task)
		if err != nil {
			t.Fatal(err)
		}
		if s := fmt.Sprintf("%+v", res); strings.Contains(s, "s3cr3t") || !strings.Contains(s, "commit ***") {
			t.Errorf("dry run %s", s)
		}
	})
}

// A skeleton may live in another repository: a forge folder URL is cloned (shallow) with git
// over http from a host the allow-list admits.
func TestASkeletonIsReadFromAGitFolderURL(t *testing.T) {
	e := newEnv(t, "", nil)
	work := t.TempDir()
	writeFiles(t, work, map[string]string{"templates/svc/skeleton/${{ values.name }}.txt": "hi ${{ values.name }}", "other/secret.txt": "no"})
	git(t, work, "init", "-q", "-b", "main")
	git(t, work, "add", "-A")
	git(t, work, "commit", "-q", "-m", "skel")
	git(t, "", "init", "-q", "--bare", "-b", "main", filepath.Join(e.git.root, "acme", "skel"))
	git(t, work, "push", "-q", filepath.Join(e.git.root, "acme", "skel"), "main")
	remote := e.git.bare(t, "out.git")
	folder := e.git.srv.URL + "/acme/skel/tree/main/templates/svc/skeleton"
	tp := e.template("remote", tinyTemplate("        url: "+folder+"\n        values: {name: '${{ parameters.name }}'}", "        remoteUrl: "+remote), nil)
	if _, err := e.eng.Run(context.Background(), e.task(tp, nil, nil), newStore(2)); err != nil {
		t.Fatal(err)
	}
	if got := cloneTree(t, remote, "main"); len(got) != 1 || got["svc.txt"] != "hi svc" {
		t.Errorf("tree %v", got)
	}
	t.Run("a folder URL on a host the allow-list does not name is refused", func(t *testing.T) {
		tp := e.template("remote2", tinyTemplate("        url: https://example.com/acme/skel/tree/main/x", "        remoteUrl: "+remote), nil)
		_, err := e.eng.Run(context.Background(), e.task(tp, nil, nil), newStore(2))
		if catalog.ErrorCode(err) != catalog.EFORBIDDEN {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("a folder path that climbs out of the checkout is refused", func(t *testing.T) {
		tp := e.template("remote3", tinyTemplate("        url: "+e.git.srv.URL+"/acme/skel/tree/main/../../../../etc", "        remoteUrl: "+remote), nil)
		_, err := e.eng.Run(context.Background(), e.task(tp, nil, nil), newStore(2))
		if err == nil {
			t.Fatal("read outside the checkout")
		}
	})
}

func TestALinkInsideAnAllowedDirDoesNotLeadOut(t *testing.T) {
	e := newEnv(t, "", nil)
	outside := t.TempDir()
	git(t, "", "init", "-q", "--bare", "-b", "main", filepath.Join(outside, "r.git"))
	must(t, os.Symlink(outside, filepath.Join(e.dir, "out")))
	tp := e.template("t", tinyTemplate("        url: ./skeleton", "        remoteUrl: file://"+filepath.Join(e.dir, "out", "r.git")), map[string]string{"skeleton/a": "a"})
	_, err := e.eng.Run(context.Background(), e.task(tp, nil, nil), newStore(2))
	if catalog.ErrorCode(err) != catalog.EFORBIDDEN {
		t.Fatalf("err %v", err)
	}
	if out := git(t, "", "ls-remote", filepath.Join(outside, "r.git")); out != "" {
		t.Errorf("pushed through the link: %s", out)
	}
}
