package ingest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"catalogd/internal/catalog"
)

// LocationConfig is one location as configured (file, flags) or registered at run time: the
// provider type, its target, the provider's own keys, and how often it is read.
type LocationConfig struct {
	Type    string
	Target  string
	Options map[string]any // the provider's own keys; a provider reads only these
	// Interval between reads; 0 means the engine's default.
	Interval time.Duration
}

// Factory builds the provider of one location. It validates its own options and fails on
// anything it does not understand.
type Factory func(LocationConfig) (Provider, error)

// Registry maps provider types to factories. It is a value built in cmd/ (no init()
// registration): what catalogd can read is what main registered.
type Registry struct {
	factories map[string]Factory
	routes    []route
}

// route sends runtime target strings that match to a provider type.
type route struct {
	typ   string
	match func(target string) (string, bool) // returns the provider's target
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{factories: map[string]Factory{}} }

// Register adds the factory of typ. Targets written "typ:REST" are routed to it (REST
// being its target); Route adds other spellings.
func (r *Registry) Register(typ string, f Factory) {
	r.factories[typ] = f
}

// Route sends every runtime target for which match answers true to typ, with the target
// match returns. Routes are tried in the order they were added, after "type:" prefixes.
func (r *Registry) Route(typ string, match func(target string) (string, bool)) {
	r.routes = append(r.routes, route{typ, match})
}

// Types lists the registered provider types, sorted.
func (r *Registry) Types() []string { return slices.Sorted(maps.Keys(r.factories)) }

// New builds the provider of cfg.
func (r *Registry) New(cfg LocationConfig) (Provider, error) {
	f, ok := r.factories[cfg.Type]
	if !ok {
		return nil, catalog.Errorf(catalog.EINVALID, "location type %q is not known (known: %s)",
			catalog.Excerpt(cfg.Type, 40), strings.Join(r.Types(), ", "))
	}
	if cfg.Interval < 0 {
		return nil, catalog.Errorf(catalog.EINVALID, "location %s: interval %s is negative", catalog.Excerpt(cfg.Target, 80), cfg.Interval)
	}
	p, err := f(cfg)
	if err != nil {
		return nil, fmt.Errorf("location %s %s: %w", cfg.Type, catalog.Excerpt(cfg.Target, 120), err)
	}
	return p, nil
}

// ParseTarget reads a runtime target string: "TYPE:REST" for a registered type (file:/abs,
// url:https://…), else the first route that claims it (git URLs, for the git provider).
func (r *Registry) ParseTarget(s string) (LocationConfig, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return LocationConfig{}, catalog.Errorf(catalog.EINVALID, "target is empty: write file:/abs/path, url:https://… or a git URL")
	}
	// Routes first: a git URL such as file:///repo.git or https://…/x.git must not be taken
	// for a "file:" or "https:" prefix.
	for _, rt := range r.routes {
		if t, ok := rt.match(s); ok {
			if _, known := r.factories[rt.typ]; known {
				return LocationConfig{Type: rt.typ, Target: t}, nil
			}
		}
	}
	if typ, rest, ok := strings.Cut(s, ":"); ok {
		if _, known := r.factories[typ]; known && rest != "" {
			return LocationConfig{Type: typ, Target: rest}, nil
		}
	}
	return LocationConfig{}, catalog.Errorf(catalog.EINVALID, "target %q: not a known kind of target (write %s)",
		catalog.Excerpt(s, 80), strings.Join(r.examples(), ", "))
}

func (r *Registry) examples() []string {
	var out []string
	for _, t := range r.Types() {
		switch t {
		case "file":
			out = append(out, "file:/abs/path")
		case "url":
			out = append(out, "url:https://host/catalog-info.yaml")
		default:
			out = append(out, t+":…")
		}
	}
	return out
}

// GitURL reports whether s is a git repository URL: https://….git, ssh://…, git@host:path or
// file://… (the routes a git factory registers).
func GitURL(s string) bool {
	switch {
	case strings.HasPrefix(s, "ssh://"), strings.HasPrefix(s, "git://"), strings.HasPrefix(s, "file://"):
		return true
	case strings.HasPrefix(s, "git@") && strings.Contains(s, ":"):
		return true
	case (strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")) && strings.HasSuffix(strings.SplitN(s, "#", 2)[0], ".git"):
		return true
	}
	return false
}
