package git

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Decode reads a location's options (as decoded from the configuration file) into a Config.
// "type" is ignored; any other unknown key, or a value of the wrong type, is an error naming
// the key.
func Decode(opts map[string]any) (Config, error) {
	var c Config
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := opts[k]
		var err error
		switch k {
		case "type":
		case "target":
			c.Target, err = str(v)
		case "ref":
			c.Ref, err = str(v)
		case "glob", "globs":
			c.Globs, err = strList(v)
		case "cacheDir":
			c.CacheDir, err = str(v)
		case "token":
			c.Token, err = str(v)
		case "username":
			c.Username, err = str(v)
		case "sshKey":
			c.SSHKey, err = str(v)
		case "knownHosts":
			c.KnownHosts, err = str(v)
		case "timeout":
			c.Timeout, err = duration(v)
		case "depth":
			c.Depth, err = integer[int](v)
		case "maxRepoBytes":
			c.MaxRepoBytes, err = integer[int64](v)
		case "maxTreeBytes":
			c.MaxTreeBytes, err = integer[int64](v)
		case "maxFiles":
			c.MaxFiles, err = integer[int](v)
		case "maxFileBytes":
			c.MaxFileBytes, err = integer[int64](v)
		default:
			return c, fmt.Errorf("%s: unknown key for a git location (known: target, ref, glob, cacheDir, token, username, sshKey, knownHosts, timeout, depth, maxRepoBytes, maxTreeBytes, maxFiles, maxFileBytes)", k)
		}
		if err != nil {
			return c, fmt.Errorf("%s: %w", k, err)
		}
	}
	return c, nil
}

func str(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("want a string, got %T", v)
	}
	return s, nil
}

func strList(v any) ([]string, error) {
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

func duration(v any) (time.Duration, error) {
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

func integer[T int | int64](v any) (T, error) {
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
