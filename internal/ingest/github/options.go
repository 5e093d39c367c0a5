package github

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
		case "repos":
			c.Repos, err = strList(v)
		case "path":
			c.Path, err = str(v)
		case "branch":
			c.Branch, err = str(v)
		case "teams":
			c.Teams, err = boolean(v)
		case "userProfiles":
			c.UserProfiles, err = boolean(v)
		case "includeArchived":
			c.IncludeArchived, err = boolean(v)
		case "includeForks":
			c.IncludeForks, err = boolean(v)
		case "baseUrl":
			c.BaseURL, err = str(v)
		case "token":
			c.Token, err = str(v)
		case "appId":
			c.AppID, err = integer[int64](v)
		case "privateKey":
			c.PrivateKey, err = str(v)
		case "privateKeyFile":
			c.PrivateKeyFile, err = str(v)
		case "installationId":
			c.InstallationID, err = integer[int64](v)
		case "requestTimeout":
			c.RequestTimeout, err = duration(v)
		case "retries":
			c.Retries, err = integer[int](v)
			if err == nil && c.Retries == 0 {
				c.Retries = -1 // explicitly none
			}
		case "retryWaitMin":
			c.RetryWaitMin, err = duration(v)
		case "retryWaitMax":
			c.RetryWaitMax, err = duration(v)
		case "maxRateLimitWait":
			c.MaxRateLimitWait, err = duration(v)
		case "maxPages":
			c.MaxPages, err = integer[int](v)
		case "maxRepos":
			c.MaxRepos, err = integer[int](v)
		case "maxFileBytes":
			c.MaxFileBytes, err = integer[int64](v)
		case "maxExtraFiles":
			c.MaxExtraFiles, err = integer[int](v)
		case "maxResponseBytes":
			c.MaxResponseBytes, err = integer[int64](v)
		default:
			return c, fmt.Errorf("%s: unknown key for a github location (known: target, repos, path, branch, teams, userProfiles, includeArchived, includeForks, baseUrl, token, appId, privateKey, privateKeyFile, installationId, requestTimeout, retries, retryWaitMin, retryWaitMax, maxRateLimitWait, maxPages, maxRepos, maxFileBytes, maxExtraFiles, maxResponseBytes)", k)
		}
		if err != nil {
			return c, fmt.Errorf("%s: %w", k, err)
		}
	}
	return c, nil
}

func boolean(v any) (bool, error) {
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("want true or false, got %T", v)
	}
	return b, nil
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
