package ingest_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"catalogd/internal/testdb"
)

const apiDoc = "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: %s}\nspec:\n  type: openapi\n  lifecycle: production\n  owner: team\n  definition: {%s: %q}\n"

// upToRoot returns the "../" that climb from dir exactly to /.
func upToRoot(dir string) string {
	return strings.Repeat("../", len(strings.Split(strings.Trim(filepath.ToSlash(dir), "/"), "/")))
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// errorsOf returns the processing errors that mention ref.
func errorsOf(errs []string, ref string) []string {
	var out []string
	for _, e := range errs {
		if strings.Contains(e, " "+ref+" ") {
			out = append(out, e)
		}
	}
	return out
}

func TestPlaceholdersReadOnlyInsideTheLocation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		outside := t.TempDir()
		e.write(map[string]string{"defs/def.txt": "inside", "sub/x.txt": "x"})
		if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("secret"), 0o644); err != nil {
			t.Fatal(err)
		}
		symlink(t, "/etc/hostname", filepath.Join(e.dir, "defs", "hostname.txt"))
		symlink(t, filepath.Join(outside, "secret.txt"), filepath.Join(e.dir, "defs", "secret.txt"))
		symlink(t, outside, filepath.Join(e.dir, "outdir"))
		cases := []struct{ name, target string }{
			{"absolute", "/etc/hostname"},
			{"environ", "/proc/self/environ"},
			{"absolute-inside", filepath.ToSlash(filepath.Join(e.dir, "defs", "def.txt"))},
			{"climb-to-root", upToRoot(e.dir) + "etc/hostname"},
			{"climb-past-root", upToRoot(e.dir) + "../../etc/hostname"},
			{"climb-to-sibling", "../" + filepath.Base(outside) + "/secret.txt"},
			{"symlink-file-out", "./defs/hostname.txt"},
			{"symlink-file-out-2", "./defs/secret.txt"},
			{"symlink-dir-out", "./outdir/secret.txt"},
		}
		var docs []string
		for _, c := range cases {
			docs = append(docs, doc(apiDoc, c.name, "$text", c.target))
		}
		docs = append(docs, doc(apiDoc, "good", "$text", "./defs/def.txt"), doc(apiDoc, "good-dotdot", "$text", "./sub/../defs/def.txt"))
		e.write(map[string]string{"catalog.yaml": strings.Join(docs, "---\n")})
		e.refresh("catalog.yaml")
		if want := []string{"api:default/good", "api:default/good-dotdot"}; !slices.Equal(e.refs(), want) {
			t.Errorf("entities = %v, want only %v", e.refs(), want)
		}
		errs := e.errors()
		for _, c := range cases {
			got := errorsOf(errs, "api:default/"+c.name)
			if len(got) != 1 || !strings.Contains(got[0], "/spec/definition: placeholder $text") || !strings.Contains(got[0], "refused") {
				t.Errorf("%s (%s): errors %q, want one refusal at /spec/definition", c.name, c.target, got)
			}
		}
		if got := definition(t, e.entity("api:default/good").Document); got != "inside" {
			t.Errorf("good definition = %q", got)
		}
	})
}

func TestDescriptorFilesOutsideTheLocationAreNotRead(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		outside := t.TempDir()
		if err := os.WriteFile(filepath.Join(outside, "c.yaml"), []byte(doc(component, "outside", "team")), 0o644); err != nil {
			t.Fatal(err)
		}
		loc := "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: root}\nspec:\n  targets:\n%s"
		targets := []string{
			"../" + filepath.Base(outside) + "/c.yaml",               // 0: a sibling directory
			upToRoot(filepath.Join(e.dir, "loc")) + "etc/passwd",     // 1: climbs exactly to /
			filepath.ToSlash(filepath.Join(e.dir, "loc", "in.yaml")), // 2: absolute, even inside
			"./link.yaml",   // 3: a symlink out
			"./in.yaml",     // 4: fine
			"./glob/*.yaml", // 5: a glob that matches a symlink out
			upToRoot(filepath.Join(e.dir, "loc")) + "../../../../../etc/passwd", // 6: past /
		}
		var list string
		for _, t := range targets {
			list += "    - " + t + "\n"
		}
		e.write(map[string]string{
			"loc/root.yaml":     doc(loc, list),
			"loc/in.yaml":       doc(component, "in", "team"),
			"loc/glob/ok.yaml":  doc(component, "globbed", "team"),
			"loc/ok.yaml":       doc(group, "team"),
			"loc/notes/x.yaml":  doc(group, "notes"),
			"loc/.hidden/x.yml": doc(group, "hidden"),
		})
		symlink(t, filepath.Join(outside, "c.yaml"), filepath.Join(e.dir, "loc", "link.yaml"))
		symlink(t, filepath.Join(outside, "c.yaml"), filepath.Join(e.dir, "loc", "glob", "out.yaml"))
		// A file location reads its directory's files only as targets.
		e.refresh("loc/root.yaml")
		want := []string{"component:default/globbed", "component:default/in", "location:default/root"}
		if !slices.Equal(e.refs(), want) {
			t.Errorf("entities = %v, want %v", e.refs(), want)
		}
		errs := strings.Join(e.errors(), "\n")
		for _, want := range []string{
			"location:default/root /spec/targets/0: target ../",
			"location:default/root /spec/targets/1: target ../",
			"location:default/root /spec/targets/2: target /",
			"location:default/root /spec/targets/3: target ./link.yaml: refused",
			"location:default/root /spec/targets/5: target ./glob/*.yaml: file:" + filepath.ToSlash(e.dir) + "/loc/glob/out.yaml: refused",
			"location:default/root /spec/targets/6: target ../",
		} {
			if !strings.Contains(errs, want) {
				t.Errorf("errors lack %q:\n%s", want, errs)
			}
		}
		if n := strings.Count(errs, "refused"); n != 6 {
			t.Errorf("%d refusals, want 6:\n%s", n, errs)
		}
		if strings.Contains(errs, "root:") {
			t.Errorf("an error quotes /etc/passwd:\n%s", errs)
		}

		// A directory location does not read a descriptor that is a symlink out of it.
		e2 := newEnv(t, testdb.SQLite(t))
		e2.write(map[string]string{"ok.yaml": doc(group, "team")})
		symlink(t, "/etc/passwd", filepath.Join(e2.dir, "passwd.yaml"))
		symlink(t, filepath.Join(outside, "c.yaml"), filepath.Join(e2.dir, "c.yaml"))
		e2.refresh(".")
		if want := []string{"group:default/team"}; !slices.Equal(e2.refs(), want) {
			t.Errorf("directory location: entities = %v, want %v", e2.refs(), want)
		}
		errs2 := e2.errors()
		if len(errs2) != 2 {
			t.Errorf("directory location: errors = %q, want the two symlinks refused", errs2)
		}
		for _, msg := range errs2 {
			if !strings.Contains(msg, "refused") || strings.Contains(msg, "root:") || len(msg) > 300 {
				t.Errorf("directory location: error %q, want a short refusal", msg)
			}
		}
	})
}

func TestErrorsQuoteOnlyAnExcerptOfWhatTheyReject(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		passwd, err := os.ReadFile("/etc/passwd")
		if err != nil || len(passwd) < 200 {
			passwd = []byte(strings.Repeat("daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n", 40))
		}
		long := strings.Repeat("é", 50_000)
		e.write(map[string]string{
			"copy-of-passwd.yaml": strings.Repeat(string(passwd), 10),
			"big.txt":             long,
			"c.yaml": strings.Join([]string{
				"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: " + long + "\nspec: {type: x, lifecycle: y, owner: z}\n",
				"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: deps}\nspec: {type: x, lifecycle: y, owner: z, dependsOn: [" + long + "]}\n",
				"a: 1\n" + long + ": 1\n" + long + ": 2\n",
				"apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: json}\nspec: {type: x, lifecycle: y, owner: z, definition: {$json: ./big.txt}}\n",
				"apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: target}\nspec: {type: x, lifecycle: y, owner: z, definition: {$text: ./" + long + "}}\n",
				"key: [" + long + "\n",
				"\"" + long + "\"\n",
			}, "---\n"),
		})
		e.refresh(".")
		errs := e.errors()
		if len(errs) != 8 {
			t.Errorf("%d errors, want 8: %.2000q", len(errs), errs)
		}
		for _, msg := range errs {
			if len(msg) > 1200 {
				t.Errorf("error of %d bytes: %.300q…", len(msg), msg)
			}
			if strings.HasPrefix(msg, "copy-of-passwd.yaml") && len(msg) > 300 {
				t.Errorf("the error of a non-YAML file quotes %d bytes: %.300q…", len(msg), msg)
			}
		}
	})
}

func TestPlaceholderContentAndEntitySizeAreBounded(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.write(map[string]string{
			"3mib.txt":   strings.Repeat("x", 3<<20),
			"1.5mib.txt": strings.Repeat("y", 3<<19),
			"ctrl.txt":   strings.Repeat("\x01", 1<<20),
			"c.yaml": strings.Join([]string{
				doc(apiDoc, "one-big", "$text", "./3mib.txt"),
				"apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: two-halves}\nspec: {type: x, lifecycle: y, owner: z, definition: {$text: ./1.5mib.txt}, x-copy: {$text: ./1.5mib.txt}}\n",
				doc(apiDoc, "one-half", "$text", "./1.5mib.txt"),
				doc(apiDoc, "escapes-to-6mib", "$text", "./ctrl.txt"),
			}, "---\n"),
		})
		e.refresh("c.yaml")
		if want := []string{"api:default/one-half"}; !slices.Equal(e.refs(), want) {
			t.Errorf("entities = %v, want %v", e.refs(), want)
		}
		errs := e.errors()
		for ref, want := range map[string]string{
			"api:default/one-big":         "/spec/definition: placeholder $text ./3mib.txt: placeholders may add at most 2.0 MiB to one document",
			"api:default/two-halves":      "placeholders may add at most 2.0 MiB to one document",
			"api:default/escapes-to-6mib": "entity is 6.0 MiB as JSON, larger than the limit of 4.0 MiB",
		} {
			if got := errorsOf(errs, ref); len(got) != 1 || !strings.Contains(got[0], want) {
				t.Errorf("%s: errors %q, want %q", ref, got, want)
			}
		}
	})
}
