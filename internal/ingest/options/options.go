// Package options decodes a location's provider-specific keys (the map a configuration file's
// location entry holds beside type and target) into typed values, with errors that say what
// was expected. Providers use it in their Decode functions and prefix the key.
package options

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Bool takes true or false.
func Bool(v any) (bool, error) {
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("want true or false, got %T", v)
	}
	return b, nil
}

// String takes a string.
func String(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("want a string, got %T", v)
	}
	return s, nil
}

// Strings takes a string or a list of strings.
func Strings(v any) ([]string, error) {
	switch x := v.(type) {
	case string:
		return []string{x}, nil
	case []string:
		return x, nil
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("item %d: want a string, got %T", i, e)
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a string or a list of strings, got %T", v)
}

// Duration takes a positive duration such as 2m or 30s.
func Duration(v any) (time.Duration, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("want a duration such as 2m or 30s, got %T", v)
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("want a positive duration such as 2m or 30s, got %q", s)
	}
	return d, nil
}

// Integer takes a non-negative integer that fits T.
func Integer[T int | int64](v any) (T, error) {
	var n int64
	switch x := v.(type) {
	case int:
		n = int64(x)
	case int64:
		n = x
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("too large")
		}
		n = int64(x)
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, fmt.Errorf("want an integer, got %v", x)
		}
		n = int64(x)
	default:
		return 0, fmt.Errorf("want an integer, got %T", v)
	}
	if n < 0 {
		return 0, fmt.Errorf("want a non-negative integer, got %d", n)
	}
	if T(n) != T(0) && int64(T(n)) != n {
		return 0, fmt.Errorf("too large")
	}
	return T(n), nil
}
