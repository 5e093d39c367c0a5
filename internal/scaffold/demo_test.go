package scaffold

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// demoTemplate parses a template of the demo catalog as a file location would give it.
func demoTemplate(t *testing.T, name string) *Template {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "demo", "templates", name))
	if err != nil {
		t.Fatal(err)
	}
	tp, err := ParseTemplate(templateJSON(t, filepath.Join(dir, "template.yaml"), "file:"+filepath.ToSlash(dir)+"/template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

// The demo's local-service template, run as the README tells a newcomer: a local bare
// repository as the remote, under an allowed dir.
func TestTheDemoLocalServiceTemplateRuns(t *testing.T) {
	demo, _ := filepath.Abs(filepath.Join("..", "..", "demo"))
	e := newEnv(t, "", func(o *Options) { o.AllowDirs = append(o.AllowDirs, demo) })
	bare := filepath.Join(e.dir, "refund-service.git")
	git(t, "", "init", "-q", "--bare", "-b", "main", bare)
	tp := demoTemplate(t, "local-service")
	task := e.task(tp, map[string]any{"name": "refund-service", "description": "Refunds card payments: \"fast\".", "owner": "team-pay",
		"system": "payments", "remoteUrl": "file://" + bare}, nil)
	out, err := e.eng.Run(context.Background(), task, newStore(len(tp.Steps)))
	if err != nil {
		t.Fatal(err)
	}
	files := cloneTree(t, "file://"+bare, "main")
	want := []string{".github/workflows/ci.yaml", "README.md", "catalog-info.yaml", "docs/index.md", "go.mod", "main.go", "mkdocs.yml"}
	if got := keys(files); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("files %v", got)
	}
	var desc struct {
		Kind     string
		Metadata struct {
			Name, Description string
			Labels            map[string]string
		}
		Spec map[string]string
	}
	if err := yaml.Unmarshal([]byte(files["catalog-info.yaml"]), &desc); err != nil {
		t.Fatalf("catalog-info.yaml is not YAML: %v\n%s", err, files["catalog-info.yaml"])
	}
	if desc.Metadata.Name != "refund-service" || desc.Metadata.Description != `Refunds card payments: "fast".` ||
		desc.Spec["owner"] != "team-pay" || desc.Spec["system"] != "payments" || desc.Metadata.Labels["acme.io/tier"] != "2" {
		t.Errorf("descriptor %+v\n%s", desc, files["catalog-info.yaml"])
	}
	if !strings.Contains(files["main.go"], `"hello from refund-service"`) || !strings.Contains(files[".github/workflows/ci.yaml"], "${{ github.sha }} of refund-service") ||
		!strings.HasPrefix(files["mkdocs.yml"], "site_name: refund-service\n") || !strings.Contains(files["go.mod"], "module acmepay.example/refund-service") {
		t.Errorf("files %q", files)
	}
	if len(e.targets) != 1 || e.targets[0] != "file://"+bare || out["links"] == nil {
		t.Errorf("registered %v, output %v", e.targets, out)
	}
}

// The demo's go-service template (publish:github) renders in a dry run.
func TestTheDemoGoServiceTemplateDryRuns(t *testing.T) {
	demo, _ := filepath.Abs(filepath.Join("..", "..", "demo"))
	e := newEnv(t, "", func(o *Options) { o.AllowDirs = []string{demo} })
	tp := demoTemplate(t, "go-service")
	task := e.task(tp, map[string]any{"name": "refund-service", "owner": "team-pay", "system": "payments", "repoUrl": "github.com?owner=acme-pay&repo=refund-service"}, nil)
	res, err := e.eng.DryRun(context.Background(), task)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 7 || len(res.Steps) != 3 || res.Steps[1].Input["repoUrl"] != "github.com?owner=acme-pay&repo=refund-service" {
		t.Errorf("files %d, steps %+v", len(res.Files), res.Steps)
	}
	if links, _ := res.Output["links"].([]any); len(links) != 2 || links[0].(map[string]any)["url"] != "dry-run:steps.publish.output.remoteUrl" {
		t.Errorf("output %v", res.Output)
	}
}
