package scaffold

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"catalogd/internal/catalog"
)

// filterFunc applies a filter to x with its arguments.
type filterFunc func(x any, args []any) (any, error)

// filters are Backstage's scaffolder filters (parseRepoUrl, parseEntityRef, pick, projectSlug)
// and the nunjucks built-ins templates use most.
// It is read-only after package initialization.
var filters = builtinFilters()

func builtinFilters() map[string]filterFunc {
	filters := map[string]filterFunc{
		"parseRepoUrl":   filterParseRepoURL,
		"parseEntityRef": filterParseEntityRef,
		"pick": func(x any, args []any) (any, error) {
			if len(args) != 1 {
				return nil, errors.New("needs the key to pick")
			}
			return member(x, toString(args[0]), "the value")
		},
		"projectSlug": func(x any, _ []any) (any, error) {
			r, err := parseRepoURL(x)
			if err != nil {
				return nil, err
			}
			return toString(r["owner"]) + "/" + toString(r["repo"]), nil
		},
		"lower": func(x any, _ []any) (any, error) { return strings.ToLower(toString(x)), nil },
		"upper": func(x any, _ []any) (any, error) { return strings.ToUpper(toString(x)), nil },
		"trim":  func(x any, _ []any) (any, error) { return strings.TrimSpace(toString(x)), nil },
		"capitalize": func(x any, _ []any) (any, error) {
			s := strings.ToLower(toString(x))
			if s == "" {
				return s, nil
			}
			return strings.ToUpper(s[:1]) + s[1:], nil
		},
		"string": func(x any, _ []any) (any, error) { return toString(x), nil },
		"dump": func(x any, args []any) (any, error) {
			var b []byte
			var err error
			if len(args) > 0 {
				n, _ := toNumber(args[0])
				b, err = json.MarshalIndent(plain(x), "", strings.Repeat(" ", min(int(n), 8)))
			} else {
				b, err = json.Marshal(plain(x))
			}
			return string(b), err
		},
		"replace": func(x any, args []any) (any, error) {
			if len(args) < 2 {
				return nil, errors.New("needs what to replace and its replacement")
			}
			n := -1
			if len(args) > 2 {
				f, _ := toNumber(args[2])
				n = int(f)
			}
			return strings.Replace(toString(x), toString(args[0]), toString(args[1]), n), nil
		},
		"default": func(x any, args []any) (any, error) {
			if len(args) == 0 {
				return nil, errors.New("needs the default value")
			}
			if x == undefined || (len(args) > 1 && truthy(args[1]) && !truthy(x)) {
				return args[0], nil
			}
			return x, nil
		},
		"join": func(x any, args []any) (any, error) {
			l, ok := x.([]any)
			if !ok {
				return nil, fmt.Errorf("needs a list, not %s", display(x))
			}
			sep := ""
			if len(args) > 0 {
				sep = toString(args[0])
			}
			parts := make([]string, len(l))
			for i, it := range l {
				parts[i] = toString(it)
			}
			return strings.Join(parts, sep), nil
		},
		"length": func(x any, _ []any) (any, error) {
			switch x := x.(type) {
			case []any:
				return float64(len(x)), nil
			case map[string]any:
				return float64(len(x)), nil
			case string:
				return float64(len([]rune(x))), nil
			case nil, undefinedT:
				return float64(0), nil
			}
			return nil, fmt.Errorf("%s has no length", display(x))
		},
		"first": func(x any, _ []any) (any, error) {
			if l, ok := x.([]any); ok && len(l) > 0 {
				return l[0], nil
			}
			return undefined, nil
		},
		"last": func(x any, _ []any) (any, error) {
			if l, ok := x.([]any); ok && len(l) > 0 {
				return l[len(l)-1], nil
			}
			return undefined, nil
		},
	}
	filters["count"] = filters["length"]
	filters["d"] = filters["default"]
	return filters
}

// parseRepoURL reads Backstage's RepoUrlPicker format, host?owner=o&repo=r (also
// organization, workspace, project for other forges).
func parseRepoURL(x any) (map[string]any, error) {
	s, ok := x.(string)
	if !ok || s == "" {
		return nil, fmt.Errorf("needs a repository URL such as github.com?owner=o&repo=r, not %s", display(x))
	}
	host, query, _ := strings.Cut(s, "?")
	if strings.Contains(host, "://") {
		if u, err := url.Parse(host); err == nil {
			host = u.Host
		}
	}
	q, err := url.ParseQuery(query)
	if err != nil || host == "" || strings.ContainsAny(host, "/@ ") {
		return nil, fmt.Errorf("%q is not a repository URL such as github.com?owner=o&repo=r", excerpt(s, 80))
	}
	out := map[string]any{"host": host}
	for _, k := range []string{"owner", "repo", "organization", "workspace", "project"} {
		if v := q.Get(k); v != "" {
			out[k] = v
		}
	}
	if out["repo"] == nil {
		return nil, fmt.Errorf("%q has no repo", excerpt(s, 80))
	}
	return out, nil
}

func filterParseRepoURL(x any, _ []any) (any, error) {
	r, err := parseRepoURL(x)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func filterParseEntityRef(x any, args []any) (any, error) {
	s, ok := x.(string)
	if !ok {
		return nil, fmt.Errorf("needs an entity ref, not %s", display(x))
	}
	d := catalog.RefDefaults{Kind: "__none__"}
	if len(args) > 0 {
		if m, ok := args[0].(map[string]any); ok {
			if k, ok := m["defaultKind"].(string); ok {
				d.Kind = k
			}
			if ns, ok := m["defaultNamespace"].(string); ok {
				d.Namespace = ns
			}
		}
	}
	r, err := catalog.ParseRef(s, d)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"namespace": r.Namespace, "name": r.Name}
	if r.Kind != "__none__" {
		out["kind"] = r.Kind
	}
	return out, nil
}

// plain turns evaluation values into JSON-ready ones (undefined becomes null).
func plain(v any) any {
	switch v := v.(type) {
	case undefinedT:
		return nil
	case *strictMap:
		return plain(v.m)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			if x != undefined {
				out[k] = plain(x)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = plain(x)
		}
		return out
	}
	return v
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func excerpt(s string, n int) string { return catalog.Excerpt(s, n) }
