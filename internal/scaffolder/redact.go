package scaffolder

import (
	"sort"
	"strings"
)

// minRedacted is the shortest secret value searched for: shorter ones would blank out
// ordinary words of every message.
const minRedacted = 3

// redactor replaces a task's secret values with "***" in whatever the task records (events,
// step outputs, errors, the task's output), whatever the engine already did.
type redactor struct{ r *strings.Replacer }

func newRedactor(secrets map[string]string) *redactor {
	var vals []string
	for _, v := range secrets {
		if len(v) >= minRedacted {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return &redactor{}
	}
	// Longest first, so a secret containing another is replaced whole.
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	pairs := make([]string, 0, 2*len(vals))
	for _, v := range vals {
		pairs = append(pairs, v, "***")
	}
	return &redactor{r: strings.NewReplacer(pairs...)}
}

func (d *redactor) String(s string) string {
	if d == nil || d.r == nil {
		return s
	}
	return d.r.Replace(s)
}

// Value returns v with every string (keys too) redacted; v is not changed.
func (d *redactor) Value(v any) any {
	if d == nil || d.r == nil {
		return v
	}
	switch x := v.(type) {
	case string:
		return d.String(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[d.String(k)] = d.Value(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = d.Value(e)
		}
		return out
	case []string:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = d.String(e)
		}
		return out
	case map[string]string:
		out := make(map[string]string, len(x))
		for k, e := range x {
			out[d.String(k)] = d.String(e)
		}
		return out
	}
	return v
}

func (d *redactor) Map(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out, _ := d.Value(m).(map[string]any)
	return out
}
