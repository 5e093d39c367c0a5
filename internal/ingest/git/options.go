package git

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
		case "ref":
			c.Ref, err = options.String(v)
		case "glob", "globs":
			c.Globs, err = options.Strings(v)
		case "cacheDir":
			c.CacheDir, err = options.String(v)
		case "token":
			c.Token, err = options.String(v)
		case "username":
			c.Username, err = options.String(v)
		case "sshKey":
			c.SSHKey, err = options.String(v)
		case "knownHosts":
			c.KnownHosts, err = options.String(v)
		case "timeout":
			c.Timeout, err = options.Duration(v)
		case "depth":
			c.Depth, err = options.Integer[int](v)
		case "maxRepoBytes":
			c.MaxRepoBytes, err = options.Integer[int64](v)
		case "maxTreeBytes":
			c.MaxTreeBytes, err = options.Integer[int64](v)
		case "maxFiles":
			c.MaxFiles, err = options.Integer[int](v)
		case "maxFileBytes":
			c.MaxFileBytes, err = options.Integer[int64](v)
		default:
			return c, fmt.Errorf("%s: unknown key for a git location (known: target, ref, glob, cacheDir, token, username, sshKey, knownHosts, timeout, depth, maxRepoBytes, maxTreeBytes, maxFiles, maxFileBytes)", k)
		}
		if err != nil {
			return c, fmt.Errorf("%s: %w", k, err)
		}
	}
	return c, nil
}
