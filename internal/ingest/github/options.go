package github

import (
	"fmt"
	"sort"

	"catalogd/internal/ingest/options"
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
			c.Target, err = options.String(v)
		case "repos":
			c.Repos, err = options.Strings(v)
		case "path":
			c.Path, err = options.String(v)
		case "branch":
			c.Branch, err = options.String(v)
		case "teams":
			c.Teams, err = options.Bool(v)
		case "userProfiles":
			c.UserProfiles, err = options.Bool(v)
		case "includeArchived":
			c.IncludeArchived, err = options.Bool(v)
		case "includeForks":
			c.IncludeForks, err = options.Bool(v)
		case "baseUrl":
			c.BaseURL, err = options.String(v)
		case "token":
			c.Token, err = options.String(v)
		case "appId":
			c.AppID, err = options.Integer[int64](v)
		case "privateKey":
			c.PrivateKey, err = options.String(v)
		case "privateKeyFile":
			c.PrivateKeyFile, err = options.String(v)
		case "installationId":
			c.InstallationID, err = options.Integer[int64](v)
		case "requestTimeout":
			c.RequestTimeout, err = options.Duration(v)
		case "retries":
			c.Retries, err = options.Integer[int](v)
			if err == nil && c.Retries == 0 {
				c.Retries = -1 // explicitly none
			}
		case "retryWaitMin":
			c.RetryWaitMin, err = options.Duration(v)
		case "retryWaitMax":
			c.RetryWaitMax, err = options.Duration(v)
		case "maxRateLimitWait":
			c.MaxRateLimitWait, err = options.Duration(v)
		case "maxPages":
			c.MaxPages, err = options.Integer[int](v)
		case "maxRepos":
			c.MaxRepos, err = options.Integer[int](v)
		case "maxFileBytes":
			c.MaxFileBytes, err = options.Integer[int64](v)
		case "maxExtraFiles":
			c.MaxExtraFiles, err = options.Integer[int](v)
		case "maxResponseBytes":
			c.MaxResponseBytes, err = options.Integer[int64](v)
		default:
			return c, fmt.Errorf("%s: unknown key for a github location (known: target, repos, path, branch, teams, userProfiles, includeArchived, includeForks, baseUrl, token, appId, privateKey, privateKeyFile, installationId, requestTimeout, retries, retryWaitMin, retryWaitMax, maxRateLimitWait, maxPages, maxRepos, maxFileBytes, maxExtraFiles, maxResponseBytes)", k)
		}
		if err != nil {
			return c, fmt.Errorf("%s: %w", k, err)
		}
	}
	return c, nil
}
