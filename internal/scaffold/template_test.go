package scaffold

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"catalogd/internal/catalog"
)

// templateJSON reads a template YAML file as the catalog would store it, with a location.
func templateJSON(t testing.TB, file, location string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return yamlToJSON(t, string(b), location)
}

func yamlToJSON(t testing.TB, src, location string) []byte {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	if location != "" {
		meta, _ := doc["metadata"].(map[string]any)
		meta["annotations"] = map[string]any{catalog.AnnotationManagedByLocation: location}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParseTheDemoTemplate(t *testing.T) {
	tp, err := ParseTemplate(templateJSON(t, "../../demo/templates/go-service/template.yaml", "file:/srv/demo/templates/go-service/template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if tp.Ref != "template:default/go-service" || tp.BaseURL != "file:///srv/demo/templates/go-service/" {
		t.Errorf("ref %q base %q", tp.Ref, tp.BaseURL)
	}
	if len(tp.Parameters) != 2 || tp.Parameters[0].Title != "Describe the service" {
		t.Fatalf("parameters %+v", tp.Parameters)
	}
	if _, ok := tp.Parameters[0].Schema["properties"].(map[string]any)["name"].(map[string]any)["ui:autofocus"]; ok {
		t.Error("ui:* keys are kept")
	}
	if len(tp.Steps) != 3 || tp.Steps[1].Action != "publish:github" || tp.Steps[2].Input["catalogInfoPath"] != "/catalog-info.yaml" {
		t.Errorf("steps %+v", tp.Steps)
	}
	if tp.Output["links"] == nil {
		t.Error("no output links")
	}

	t.Run("valid values get their defaults", func(t *testing.T) {
		v, err := tp.ValidateValues(map[string]any{"name": "refunds", "owner": "team-pay", "system": "payments", "repoUrl": "github.com?owner=acme-pay&repo=refunds"})
		if err != nil {
			t.Fatal(err)
		}
		if v["tier"] != "2" {
			t.Errorf("tier = %v, want the default 2", v["tier"])
		}
	})
	cases := []struct {
		name   string
		values map[string]any
		want   []string
	}{
		{"a name that breaks the pattern is refused", map[string]any{"name": "Bad Name", "owner": "o", "system": "s", "repoUrl": "github.com?repo=x"}, []string{"/name:", "pattern"}},
		{"missing fields of both steps are named", map[string]any{"name": "ok"}, []string{"/owner: required", "/system: required", "/repoUrl: required"}},
		{"a value outside the enum is refused", map[string]any{"name": "ok", "owner": "o", "system": "s", "repoUrl": "r", "tier": "9"}, []string{"/tier:"}},
		{"a wrong type is refused", map[string]any{"name": 42, "owner": "o", "system": "s", "repoUrl": "r"}, []string{"/name:", "string"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := tp.ValidateValues(c.values)
			if catalog.ErrorCode(err) != catalog.EINVALID {
				t.Fatalf("err %v, want EINVALID", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
		})
	}
}

func TestParseTemplateRefusesBadDescriptors(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"another kind", "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: x}\n", "/kind"},
		{"an old apiVersion", "apiVersion: backstage.io/v1beta2\nkind: Template\nmetadata: {name: x}\n", "/apiVersion"},
		{"a step without an action", "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: x}\nspec:\n  steps:\n    - id: a\n", "/spec/steps/0/action"},
		{"two steps with one id", "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: x}\nspec:\n  steps:\n    - {id: a, action: debug:log}\n    - {id: a, action: debug:log}\n", "/spec/steps/1/id"},
		{"a broken schema", "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: x}\nspec:\n  parameters:\n    properties:\n      a: {type: 12}\n", "/spec/parameters/0"},
	}
	for _, c := range cases {
		t.Run(c.name+" is refused", func(t *testing.T) {
			_, err := ParseTemplate(yamlToJSON(t, c.yaml, ""))
			if catalog.ErrorCode(err) != catalog.EINVALID || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want EINVALID naming %s", err, c.want)
			}
		})
	}
	t.Run("one parameters object is one step", func(t *testing.T) {
		tp, err := ParseTemplate(yamlToJSON(t, "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: x}\nspec:\n  parameters:\n    required: [a]\n    properties:\n      a: {type: string}\n", ""))
		if err != nil || len(tp.Parameters) != 1 {
			t.Fatalf("%+v %v", tp, err)
		}
		if _, err := tp.ValidateValues(map[string]any{}); err == nil || !strings.Contains(err.Error(), "/a: required") {
			t.Errorf("err %v", err)
		}
	})
}
