package service

import (
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"strings"

	"catalogd/ent"
	"catalogd/internal/auth"
	"catalogd/internal/catalog"
	"catalogd/internal/ingest"
	"catalogd/internal/store"
)

// LocationResult is what registering a location produced (or, for a dry run, would produce).
type LocationResult struct {
	Target     string
	EntityRefs []string
	Errors     []store.ErrorRecord
}

// maxDryRunRefs bounds what a dry run lists.
const maxDryRunRefs = 10000

// RegisterLocation registers target ("file:/abs/path", "url:https://…", a git URL) at run
// time: it is read at once, kept across restarts, and refreshed on the engine's schedule.
// With dryRun, the location is read and processed but nothing is stored.
func (c *Catalog) RegisterLocation(ctx context.Context, p *auth.Principal, target string, dryRun bool) (*LocationResult, error) {
	if err := c.policy.Authorize(p, auth.ActionLocationWrite, auth.Resource{Ref: "location " + short(target)}); err != nil {
		return nil, err
	}
	prov, cfg, err := c.build(ctx, target)
	if err != nil {
		return nil, err
	}
	key := prov.Location().Key
	if dryRun {
		refs, errs, err := c.engine.DryRun(ctx, prov, maxDryRunRefs)
		if err != nil {
			return nil, catalog.Errorf(catalog.EINVALID, "%s: %v", short(key), err)
		}
		return &LocationResult{Target: key, EntityRefs: refs, Errors: errs}, nil
	}
	if err := c.store.UpsertLocation(ctx, store.LocationRecord{Spec: prov.Location(), Options: cfg.Options,
		Origin: store.OriginRuntime, RegisteredBy: principalName(p)}); err != nil {
		return nil, err
	}
	c.engine.Add(cfg, prov, nil)
	if _, err := c.engine.Refresh(ctx, prov); err != nil && !isReadOrGuard(err) {
		return nil, err
	}
	return c.result(ctx, key)
}

// UnregisterLocation stops reading a location registered at run time and removes its
// entities (each removal recorded in the change log). Locations from the configuration are
// removed by removing them from it.
func (c *Catalog) UnregisterLocation(ctx context.Context, p *auth.Principal, target string) (bool, error) {
	if err := c.policy.Authorize(p, auth.ActionLocationWrite, auth.Resource{Ref: "location " + short(target)}); err != nil {
		return false, err
	}
	key, err := c.keyOf(target)
	if err != nil {
		return false, err
	}
	row, err := c.store.GetLocation(ctx, key)
	if err != nil {
		return false, err
	}
	if row == nil {
		return false, catalog.Errorf(catalog.ENOTFOUND, "no location %q", short(key))
	}
	if row.Origin == store.OriginConfig && !row.Retired {
		return false, catalog.Errorf(catalog.ECONFLICT, "location %q comes from the configuration: remove it there", short(key))
	}
	c.engine.Remove(key)
	// Unregistering is the operator's decision to drop what the location holds: forced.
	if err := c.engine.Exclusive(func() error {
		_, err := c.store.RemoveLocation(ctx, key, "location unregistered by "+principalName(p), true)
		return err
	}); err != nil {
		return false, err
	}
	if c.engine.Changed != nil {
		c.engine.Changed()
	}
	return true, nil
}

// RefreshLocationTarget re-reads a registered location now and returns its status. force
// applies a snapshot the guards refused (and removes a retired location's entities).
func (c *Catalog) RefreshLocationTarget(ctx context.Context, p *auth.Principal, target string, force bool) (*ent.LocationState, error) {
	act := auth.ActionLocationRefresh
	if force {
		act = auth.ActionLocationWrite // overriding a guard is an operator's decision
	}
	if err := c.policy.Authorize(p, act, auth.Resource{Ref: "location " + short(target)}); err != nil {
		return nil, err
	}
	key, err := c.keyOf(target)
	if err != nil {
		return nil, err
	}
	prov, _, ok := c.engine.Lookup(key)
	if !ok {
		row, err := c.store.GetLocation(ctx, key)
		if err != nil {
			return nil, err
		}
		if row == nil || !row.Retired {
			return nil, catalog.Errorf(catalog.ENOTFOUND, "no location %q", short(key))
		}
		// A location no longer configured, whose removal the guard refused.
		if err := c.engine.Exclusive(func() error {
			_, err := c.store.RemoveLocation(ctx, key, "location no longer configured", force)
			return err
		}); err != nil && !isReadOrGuard(err) {
			return nil, err
		}
		if row, err = c.store.GetLocation(ctx, key); row == nil && err == nil {
			return &ent.LocationState{Key: key, Provider: prov0(key), Target: key, Retired: true}, nil
		}
		return row, err
	}
	if _, err := c.engine.RefreshWith(ctx, prov, ingest.RefreshOptions{Force: force}); err != nil && !isReadOrGuard(err) {
		return nil, err
	}
	return c.store.GetLocation(ctx, key)
}

func prov0(key string) string {
	typ, _, _ := strings.Cut(key, ":")
	return typ
}

func (c *Catalog) result(ctx context.Context, key string) (*LocationResult, error) {
	refs, err := c.store.LocationRefs(ctx, key, maxDryRunRefs)
	if err != nil {
		return nil, err
	}
	errs, err := c.store.LocationErrors(ctx, key, 1000)
	if err != nil {
		return nil, err
	}
	return &LocationResult{Target: key, EntityRefs: refs, Errors: errs}, nil
}

// keyOf finds the key of a location named by its key or by a target string.
func (c *Catalog) keyOf(target string) (string, error) {
	target = strings.TrimSpace(target)
	if _, _, ok := c.engine.Lookup(target); ok {
		return target, nil
	}
	if c.registry == nil {
		return target, nil
	}
	cfg, err := c.registry.ParseTarget(target)
	if err != nil {
		return target, nil // a key of a location no provider builds any more (retired)
	}
	if cfg.Type == "file" {
		return "file:" + filepath.ToSlash(filepath.Clean(cfg.Target)), nil
	}
	prov, err := c.registry.New(cfg)
	if err != nil {
		return target, nil
	}
	return prov.Location().Key, nil
}

// build makes the provider of a runtime target, refusing file paths outside the directories
// the operator allowed.
func (c *Catalog) build(ctx context.Context, target string) (ingest.Provider, ingest.LocationConfig, error) {
	if c.registry == nil {
		return nil, ingest.LocationConfig{}, catalog.Errorf(catalog.EFORBIDDEN, "locations cannot be registered at run time on this server")
	}
	cfg, err := c.registry.ParseTarget(target)
	if err != nil {
		return nil, cfg, err
	}
	switch cfg.Type {
	case "file":
		if err := c.checkFileTarget(cfg.Target); err != nil {
			return nil, cfg, err
		}
	case "git":
		if err := c.checkGitTarget(ctx, cfg.Target); err != nil {
			return nil, cfg, err
		}
	}
	prov, err := c.registry.New(cfg)
	if err != nil {
		var ce *catalog.Error
		if errors.As(err, &ce) {
			return nil, cfg, err
		}
		return nil, cfg, catalog.Errorf(catalog.EINVALID, "%v", err)
	}
	return prov, cfg, nil
}

// checkGitTarget allows, at run time, what reads no further than the operator allowed: an
// http(s) repository the URL allow-list admits whose host resolves to public addresses only
// (git connects by itself, past the reader's dialer), or a file:// repository under an allowed
// directory. ssh and git:// repositories, and credentials, belong in the configuration file.
func (c *Catalog) checkGitTarget(ctx context.Context, target string) error {
	u, err := url.Parse(target)
	if err == nil {
		switch u.Scheme {
		case "https", "http":
			if err := c.engine.URLs.CheckResolved(ctx, u); err != nil {
				return catalog.Errorf(catalog.EFORBIDDEN, "git target %q: %v", short(u.Redacted()), err)
			}
			return nil
		case "file":
			return c.checkFileTarget(u.Path)
		}
	}
	return catalog.Errorf(catalog.EFORBIDDEN, "git target %q: only https repositories admitted by --read-allow and file:// ones under --read-allow-dir can be registered at run time; configure others in the configuration file", short(target))
}

// checkFileTarget allows an absolute path under one of the allowed directories (symbolic
// links resolved, so a link inside cannot lead out).
func (c *Catalog) checkFileTarget(path string) error {
	if !filepath.IsAbs(path) {
		return catalog.Errorf(catalog.EINVALID, "file target %q: give an absolute path (file:/abs/path)", short(path))
	}
	if len(c.allowDirs) == 0 {
		return catalog.Errorf(catalog.EFORBIDDEN, "file target %q: the operator allowed no directory for locations registered at run time (--read-allow-dir, reading.files)", short(path))
	}
	resolved := resolveExisting(filepath.Clean(path))
	for _, d := range c.allowDirs {
		dir := resolveExisting(filepath.Clean(d))
		if resolved == dir || strings.HasPrefix(resolved, dir+string(filepath.Separator)) {
			return nil
		}
	}
	return catalog.Errorf(catalog.EFORBIDDEN, "file target %q is not under a directory the operator allowed (--read-allow-dir, reading.files)", short(path))
}

// resolveExisting resolves symbolic links in the longest existing prefix of p.
func resolveExisting(p string) string {
	rest := ""
	for {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return filepath.Join(p, rest)
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}

// isReadOrGuard tells a read that failed or a snapshot the guard refused (both recorded on
// the location, which the caller then shows) from a failure of catalogd itself.
func isReadOrGuard(err error) bool {
	var g *store.GuardError
	if errors.As(err, &g) {
		return true
	}
	return strings.HasPrefix(err.Error(), "read ")
}

func principalName(p *auth.Principal) string {
	if p == nil {
		return ""
	}
	return string(p.Kind) + ":" + p.Name
}

// RefreshEntityNow re-reads the location that holds ref; false when the read failed or was
// refused (recorded on the location).
func (c *Catalog) RefreshEntityNow(ctx context.Context, p *auth.Principal, ref string) (bool, error) {
	_, err := c.RefreshEntity(ctx, p, ref)
	if err != nil && isReadOrGuard(err) {
		return false, nil
	}
	return err == nil, err
}
