package scaffold

import (
	"reflect"
	"strings"
	"testing"
)

func testVars() map[string]any {
	return map[string]any{
		"parameters": map[string]any{
			"name": "Refund-Service", "repoUrl": "github.com?owner=acme&repo=refunds", "db": true,
			"tags": []any{"go", "pay"}, "count": float64(3), "owner": "group:default/team-pay",
		},
		"steps": &strictMap{what: "step", m: map[string]any{
			"publish": map[string]any{"output": map[string]any{"remoteUrl": "https://x/r.git"}},
		}},
		"user":    map[string]any{"ref": "user:default/ann", "entity": nil},
		"secrets": map[string]any{"token": "s3cr3t"},
	}
}

func TestExpressionsEvaluate(t *testing.T) {
	cases := []struct {
		name, src string
		want      any
	}{
		{"a parameter keeps its type", "${{ parameters.db }}", true},
		{"a list keeps its type", "${{ parameters.tags }}", []any{"go", "pay"}},
		{"a string with text around is text", "svc-${{ parameters.name | lower }}", "svc-refund-service"},
		{"bracket access to a step's output works", "${{ steps['publish'].output.remoteUrl }}", "https://x/r.git"},
		{"dotted access to a step's output works", "${{ steps.publish.output.remoteUrl }}", "https://x/r.git"},
		{"parseRepoUrl splits the picker's format", "${{ (parameters.repoUrl | parseRepoUrl).owner }}", "acme"},
		{"parseRepoUrl returns an object", "${{ parameters.repoUrl | parseRepoUrl }}", map[string]any{"host": "github.com", "owner": "acme", "repo": "refunds"}},
		{"pick picks a key", "${{ parameters.repoUrl | parseRepoUrl | pick('repo') }}", "refunds"},
		{"projectSlug is owner/repo", "${{ parameters.repoUrl | projectSlug }}", "acme/refunds"},
		{"parseEntityRef splits a ref", "${{ (parameters.owner | parseEntityRef).name }}", "team-pay"},
		{"parseEntityRef takes defaults", "${{ ('team-x' | parseEntityRef({defaultKind: 'group'})).kind }}", "group"},
		{"dump writes JSON", "${{ parameters.tags | dump }}", `["go","pay"]`},
		{"replace, trim and upper chain", "${{ '  a-b ' | trim | replace('-', '_') | upper }}", "A_B"},
		{"default fills a missing key", "${{ parameters.missing | default('none') }}", "none"},
		{"join and length work on lists", "${{ parameters.tags | join('+') }}/${{ parameters.tags | length }}", "go+pay/2"},
		{"a missing optional key renders empty in text", "x${{ parameters.missing }}y", "xy"},
		{"comparisons and boolean logic", "${{ parameters.count > 2 and not parameters.db == false }}", true},
		{"in tests membership", "${{ 'go' in parameters.tags }}", true},
		{"the inline if picks a branch", "${{ 'yes' if parameters.db else 'no' }}", "yes"},
		{"numbers render without a fraction", "n=${{ parameters.count + 1 }}", "n=4"},
		{"the user's ref is there", "${{ user.ref }}", "user:default/ann"},
		{"is defined tests a key", "${{ parameters.missing is defined }}", false},
		{"if blocks work in input strings", "{% if parameters.db %}db{% else %}nodb{% endif %}", "db"},
		{"a string without tags is itself", "plain {text}", "plain {text}"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := renderValue(c.src, testVars(), 1<<20)
			if err != nil {
				t.Fatalf("%s: %v", c.src, err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s = %#v, want %#v", c.src, got, c.want)
			}
		})
	}
}

func TestExpressionErrors(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"an unknown variable", "${{ parameter.name }}", `unknown variable "parameter"`},
		{"an unknown filter", "${{ parameters.name | shout }}", `unknown filter "shout"`},
		{"a syntax error", "${{ parameters.name | }}", "expected a filter name"},
		{"an unclosed tag", "${{ parameters.name ", `"}}" is missing`},
		{"a step that does not exist", "${{ steps['nope'].output.x }}", `no step "nope"`},
		{"an attribute of undefined", "${{ parameters.missing.deeper }}", "parameters.missing is undefined"},
		{"a bad repo URL", "${{ 'nothing' | parseRepoUrl }}", "has no repo"},
		{"an if without endif", "{% if parameters.db %}x", "without {% endif %}"},
		{"an unknown block tag", "{% macro x %}{% endmacro %}", "unknown block tag"},
	}
	for _, c := range cases {
		t.Run(c.name+" is an error", func(t *testing.T) {
			got, err := renderValue(c.src, testVars(), 1<<20)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%s = %#v, %v; want an error with %q", c.src, got, err, c.want)
			}
		})
	}
}

func TestTemplateBlocks(t *testing.T) {
	src := "# ${{ values.name }}\n{% for t in values.tags -%}\n- ${{ loop.index }} ${{ t }}\n{% endfor -%}\n" +
		"{%- if values.db %}db: yes\n{% elif values.cache %}cache\n{% else %}none\n{% endif -%}\n" +
		"{# a comment #}{% raw %}${{ github.sha }}{% endraw %}\n{% set n = values.tags | length %}n=${{ n }}\n" +
		"{% for k, v in values.env %}${{ k }}=${{ v }};{% endfor %}"
	vars := map[string]any{"values": map[string]any{"name": "svc", "tags": []any{"a", "b"}, "db": true,
		"env": map[string]any{"B": "2", "A": "1"}}}
	got, err := renderString(src, vars, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := "# svc\n- 1 a\n- 2 b\ndb: yes\n${{ github.sha }}\nn=2\nA=1;B=2;"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestDeepNestingIsRefused(t *testing.T) {
	for _, src := range []string{
		"${{ " + strings.Repeat("(", 100000) + "1" + strings.Repeat(")", 100000) + " }}",
		"${{ " + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + " }}",
		"${{ " + strings.Repeat("not ", 100000) + "true }}",
		"${{ " + strings.Repeat("- ", 100000) + "1 }}",
		strings.Repeat("{% if true %}", 100000) + strings.Repeat("{% endif %}", 100000),
		"${{ 'x'" + strings.Repeat(" | lower", 100000) + " }}",
		"${{ parameters" + strings.Repeat(".x", 100000) + " }}",
	} {
		if _, err := renderValue(src, testVars(), 1<<20); err == nil || !strings.Contains(err.Error(), "deeper than") && !strings.Contains(err.Error(), "in a row") {
			t.Errorf("%s…: %v", src[:20], err)
		}
	}
	if v, err := renderValue("${{ "+strings.Repeat("(", 30)+"1"+strings.Repeat(")", 30)+" }}", testVars(), 1<<20); err != nil || v != 1.0 {
		t.Errorf("30 levels: %v %v", v, err)
	}
}

func TestRenderingIsBounded(t *testing.T) {
	vars := map[string]any{"values": map[string]any{"xs": []any{1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0}}}
	src := strings.Repeat("{% for a in values.xs %}", 6) + "x" + strings.Repeat("{% endfor %}", 6)
	if _, err := renderString(src, vars, 1<<20); err == nil || !strings.Contains(err.Error(), "too much") {
		t.Fatalf("a million iterations: %v", err)
	}
}

// FuzzRender: no input makes the language panic or run past its budget.
func FuzzRender(f *testing.F) {
	for _, s := range []string{"${{ parameters.name | lower }}", "{% for a in parameters.tags %}${{ loop.index }}{% endfor %}",
		"{% if x %}a{% elif y %}b{% else %}c{% endif %}", "${{ {a: [1, 'x', {b: none}]} | dump }}", "{% raw %}${{{% endraw %}",
		"${{ 'a' if parameters.db else 'b' }}", "{#- c -#}${{- 1 + 2 * 3 -}}", "${{ steps['publish'].output.remoteUrl | parseRepoUrl }}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		out, err := renderString(src, testVars(), 1<<16)
		if err == nil && len(out) > 1<<16+64 {
			t.Fatalf("%d bytes rendered past the budget", len(out))
		}
		renderValue(src, testVars(), 1<<16)
	})
}
