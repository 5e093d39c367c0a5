package model

import (
	"context"

	"catalogd/internal/catalog"
)

// One type per built-in kind; each embeds Base and adds the typed fields of its spec.
type (
	Component     struct{ *Base }
	API           struct{ *Base }
	Resource      struct{ *Base }
	System        struct{ *Base }
	Domain        struct{ *Base }
	Group         struct{ *Base }
	User          struct{ *Base }
	Location      struct{ *Base }
	Template      struct{ *Base }
	GenericEntity struct{ *Base }
)

// owned is shared by the kinds with spec.owner.
func (b *Base) owner(ctx context.Context) (Entity, error) {
	return targetOf[Entity](ctx, b, catalog.RelOwnedBy, b.specRef("owner", "Group"))
}

func (b *Base) ownerRef() *string { return nonEmpty(b.specRef("owner", "Group")) }

func (b *Base) system(ctx context.Context) (*System, error) {
	return targetOf[*System](ctx, b, catalog.RelPartOf, b.specRef("system", "System"))
}

// Component

func (c *Component) Type() string      { return c.specString("type") }
func (c *Component) Lifecycle() string { return c.specString("lifecycle") }
func (c *Component) Owner() (Entity, error) {
	ctx := c.batch.ctx
	return c.owner(ctx)
}
func (c *Component) OwnerRef() *string { return c.ownerRef() }
func (c *Component) System() (*System, error) {
	ctx := c.batch.ctx
	return c.system(ctx)
}
func (c *Component) SubcomponentOf() (*Component, error) {
	ctx := c.batch.ctx
	return targetOf[*Component](ctx, c.Base, catalog.RelPartOf, c.specRef("subcomponentOf", "Component"))
}
func (c *Component) Subcomponents() ([]*Component, error) {
	ctx := c.batch.ctx
	return targetsOfKind[*Component](ctx, c.Base, catalog.RelHasPart)
}
func (c *Component) ProvidesApis() ([]*API, error) {
	ctx := c.batch.ctx
	return targetsOfKind[*API](ctx, c.Base, catalog.RelProvidesAPI)
}
func (c *Component) ConsumesApis() ([]*API, error) {
	ctx := c.batch.ctx
	return targetsOfKind[*API](ctx, c.Base, catalog.RelConsumesAPI)
}
func (c *Component) DependsOn() ([]Entity, error) {
	ctx := c.batch.ctx
	return c.targets(ctx, catalog.RelDependsOn)
}
func (c *Component) DependencyOf() ([]Entity, error) {
	ctx := c.batch.ctx
	return c.targets(ctx, catalog.RelDependencyOf)
}

// API

func (a *API) Type() string      { return a.specString("type") }
func (a *API) Lifecycle() string { return a.specString("lifecycle") }
func (a *API) Owner() (Entity, error) {
	ctx := a.batch.ctx
	return a.owner(ctx)
}
func (a *API) OwnerRef() *string { return a.ownerRef() }
func (a *API) System() (*System, error) {
	ctx := a.batch.ctx
	return a.system(ctx)
}
func (a *API) Definition() string { return a.specString("definition") }
func (a *API) Providers() ([]Entity, error) {
	ctx := a.batch.ctx
	return a.targets(ctx, catalog.RelAPIProvidedBy)
}
func (a *API) Consumers() ([]Entity, error) {
	ctx := a.batch.ctx
	return a.targets(ctx, catalog.RelAPIConsumedBy)
}

// Resource

func (r *Resource) Type() string { return r.specString("type") }
func (r *Resource) Owner() (Entity, error) {
	ctx := r.batch.ctx
	return r.owner(ctx)
}
func (r *Resource) OwnerRef() *string { return r.ownerRef() }
func (r *Resource) System() (*System, error) {
	ctx := r.batch.ctx
	return r.system(ctx)
}
func (r *Resource) DependsOn() ([]Entity, error) {
	ctx := r.batch.ctx
	return r.targets(ctx, catalog.RelDependsOn)
}
func (r *Resource) DependencyOf() ([]Entity, error) {
	ctx := r.batch.ctx
	return r.targets(ctx, catalog.RelDependencyOf)
}

// System

func (s *System) Type() *string { return s.specStringPtr("type") }
func (s *System) Owner() (Entity, error) {
	ctx := s.batch.ctx
	return s.owner(ctx)
}
func (s *System) OwnerRef() *string { return s.ownerRef() }
func (s *System) Domain() (*Domain, error) {
	ctx := s.batch.ctx
	return targetOf[*Domain](ctx, s.Base, catalog.RelPartOf, s.specRef("domain", "Domain"))
}
func (s *System) Parts() ([]Entity, error) {
	ctx := s.batch.ctx
	return s.targets(ctx, catalog.RelHasPart)
}
func (s *System) Components() ([]*Component, error) {
	ctx := s.batch.ctx
	return targetsOfKind[*Component](ctx, s.Base, catalog.RelHasPart)
}
func (s *System) Apis() ([]*API, error) {
	ctx := s.batch.ctx
	return targetsOfKind[*API](ctx, s.Base, catalog.RelHasPart)
}
func (s *System) Resources() ([]*Resource, error) {
	ctx := s.batch.ctx
	return targetsOfKind[*Resource](ctx, s.Base, catalog.RelHasPart)
}

// Domain

func (d *Domain) Type() *string { return d.specStringPtr("type") }
func (d *Domain) Owner() (Entity, error) {
	ctx := d.batch.ctx
	return d.owner(ctx)
}
func (d *Domain) OwnerRef() *string { return d.ownerRef() }
func (d *Domain) SubdomainOf() (*Domain, error) {
	ctx := d.batch.ctx
	return targetOf[*Domain](ctx, d.Base, catalog.RelPartOf, d.specRef("subdomainOf", "Domain"))
}
func (d *Domain) Subdomains() ([]*Domain, error) {
	ctx := d.batch.ctx
	return targetsOfKind[*Domain](ctx, d.Base, catalog.RelHasPart)
}
func (d *Domain) Systems() ([]*System, error) {
	ctx := d.batch.ctx
	return targetsOfKind[*System](ctx, d.Base, catalog.RelHasPart)
}

// Group

func (g *Group) Type() string { return g.specString("type") }
func (g *Group) Profile() *Profile {
	return profile(g.specMap())
}
func (g *Group) Parent() (*Group, error) {
	ctx := g.batch.ctx
	return targetOf[*Group](ctx, g.Base, catalog.RelChildOf, g.specRef("parent", "Group"))
}
func (g *Group) Children() ([]*Group, error) {
	ctx := g.batch.ctx
	return targetsOfKind[*Group](ctx, g.Base, catalog.RelParentOf)
}
func (g *Group) Members() ([]*User, error) {
	ctx := g.batch.ctx
	return targetsOfKind[*User](ctx, g.Base, catalog.RelHasMember)
}
func (g *Group) Owns() ([]Entity, error) {
	ctx := g.batch.ctx
	return g.targets(ctx, catalog.RelOwnerOf)
}

// User

func (u *User) Profile() *Profile { return profile(u.specMap()) }
func (u *User) MemberOf() ([]*Group, error) {
	ctx := u.batch.ctx
	return targetsOfKind[*Group](ctx, u.Base, catalog.RelMemberOf)
}
func (u *User) Owns() ([]Entity, error) {
	ctx := u.batch.ctx
	return u.targets(ctx, catalog.RelOwnerOf)
}

// Location

func (l *Location) Type() *string     { return l.specStringPtr("type") }
func (l *Location) Target() *string   { return l.specStringPtr("target") }
func (l *Location) Presence() *string { return l.specStringPtr("presence") }
func (l *Location) Targets() []string {
	out := []string{}
	list, _ := l.specMap()["targets"].([]any)
	for _, t := range list {
		if s, ok := t.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// Template

func (t *Template) Type() string { return t.specString("type") }
func (t *Template) Owner() (Entity, error) {
	ctx := t.batch.ctx
	return t.owner(ctx)
}
func (t *Template) OwnerRef() *string { return t.ownerRef() }
func (t *Template) Parameters() any   { return t.specMap()["parameters"] }
func (t *Template) Steps() any        { return t.specMap()["steps"] }
func (t *Template) Output() any       { return t.specMap()["output"] }

func profile(spec map[string]any) *Profile {
	m, ok := spec["profile"].(map[string]any)
	if !ok {
		return nil
	}
	return &Profile{DisplayName: optString(m, "displayName"), Email: optString(m, "email"), Picture: optString(m, "picture")}
}

// KeyValue is a label or annotation.
type KeyValue struct {
	Key   string
	Value string
}

// Link is one of metadata.links.
type Link struct {
	URL   string
	Title *string
	Icon  *string
	Type  *string
}

// Profile is a Group's or User's spec.profile.
type Profile struct {
	DisplayName *string
	Email       *string
	Picture     *string
}
