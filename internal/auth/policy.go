package auth

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"catalogd/internal/catalog"
)

// Action is something a principal may be allowed to do. Resources that have owners (entities)
// let their owners do the OwnerActions on them whatever their roles.
type Action string

// The actions of the catalog. Writes are few today; every new one is added here, given to
// roles below, and asked for by the service that performs it.
const (
	ActionRead            Action = "catalog.read"     // any query
	ActionEntityRefresh   Action = "entity.refresh"   // re-read the location that holds an entity
	ActionEntityWrite     Action = "entity.write"     // change an entity (annotations, ...)
	ActionLocationRefresh Action = "location.refresh" // re-read a configured location now
	ActionLocationWrite   Action = "location.write"   // add or remove locations
	ActionTemplateRun     Action = "template.run"     // run a software template
	// A task's creator may always see it and cancel, retry or roll it back; these let others.
	ActionTaskReadAll  Action = "task.read-all"  // see every scaffolder task
	ActionTaskWriteAll Action = "task.write-all" // cancel, retry or roll back any scaffolder task
)

// AllActions lists every action, for validating custom roles.
var AllActions = []Action{ActionRead, ActionEntityRefresh, ActionEntityWrite, ActionLocationRefresh, ActionLocationWrite, ActionTemplateRun, ActionTaskReadAll, ActionTaskWriteAll}

// OwnerActions are what the owners of an entity may do to it.
var OwnerActions = []Action{ActionEntityRefresh, ActionEntityWrite}

// Built-in roles.
const (
	RoleAdmin  = "admin"
	RoleEditor = "editor"
	RoleReader = "reader"
)

// DefaultRoles is the built-in role table; custom roles are added to it by configuration.
func DefaultRoles() map[string][]Action {
	return map[string][]Action{
		RoleAdmin:  {"*"},
		RoleEditor: {ActionRead, ActionEntityRefresh, ActionEntityWrite, ActionLocationRefresh, ActionLocationWrite, ActionTemplateRun},
		RoleReader: {ActionRead},
	}
}

// Resource is what an action applies to. Owners are canonical refs of the entity's owners
// (its spec.owner); the zero Resource is the catalog as a whole.
type Resource struct {
	Ref    string
	Owners []string
}

func (r Resource) String() string {
	if r.Ref == "" {
		return "the catalog"
	}
	return r.Ref
}

// Policy decides. Resolvers and services ask it; none decides by itself.
type Policy struct {
	roles         map[string][]Action
	anonymousRead bool
}

// NewPolicy builds the policy from the role table (DefaultRoles plus custom roles) and whether
// anonymous callers may read.
func NewPolicy(roles map[string][]Action, anonymousRead bool) *Policy {
	if roles == nil {
		roles = DefaultRoles()
	}
	return &Policy{roles: roles, anonymousRead: anonymousRead}
}

// Authorize returns nil when p may do act on res, a catalog.EUNAUTHENTICATED error when there
// is no principal (or an anonymous one asks for more than reading), and a catalog.EFORBIDDEN
// error otherwise.
func (pol *Policy) Authorize(p *Principal, act Action, res Resource) error {
	if p == nil {
		return catalog.Errorf(catalog.EUNAUTHENTICATED, "authentication required")
	}
	if p.Kind == KindAnonymous {
		if act == ActionRead && pol.anonymousRead {
			return nil
		}
		return catalog.Errorf(catalog.EUNAUTHENTICATED, "authentication required to %s", act)
	}
	if act == ActionRead {
		return nil // reading: any authenticated principal
	}
	for _, r := range p.Roles {
		perms := pol.roles[r]
		if slices.Contains(perms, "*") || slices.Contains(perms, act) {
			return nil
		}
	}
	if slices.Contains(OwnerActions, act) && pol.owns(p, res) {
		return nil
	}
	return catalog.Errorf(catalog.EFORBIDDEN, "%s %q may not %s on %s", p.Kind, p.Name, act, res)
}

func (pol *Policy) owns(p *Principal, res Resource) bool {
	for _, o := range res.Owners {
		if o == "" {
			continue
		}
		if o == p.Ref || slices.Contains(p.Groups, o) {
			return true
		}
	}
	return false
}

// ParseRole parses a custom role "NAME=action[,action...]" (actions from AllActions, or "*").
func ParseRole(s string) (string, []Action, error) {
	name, list, ok := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.TrimSpace(list) == "" {
		return "", nil, fmt.Errorf("role %q: write NAME=action[,action...], e.g. refresher=entity.refresh,location.refresh", short(s))
	}
	var acts []Action
	for _, a := range strings.Split(list, ",") {
		a = strings.TrimSpace(a)
		if a != "*" && !slices.Contains(AllActions, Action(a)) {
			names := make([]string, len(AllActions))
			for i, x := range AllActions {
				names[i] = string(x)
			}
			sort.Strings(names)
			return "", nil, fmt.Errorf("role %q: unknown action %q (known: %s, or *)", name, short(a), strings.Join(names, ", "))
		}
		acts = append(acts, Action(a))
	}
	return name, acts, nil
}

// short quotes at most 64 bytes of s: error messages never repeat a whole input.
func short(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
