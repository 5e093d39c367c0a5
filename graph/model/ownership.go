package model

import (
	"catalogd/internal/catalog"
)

// Ownership is an entity's effective ownership.
type Ownership struct {
	OwnerRef  *string
	Owner     Entity
	Resolved  bool
	Ancestors []*OwnershipAncestor
}

// OwnershipAncestor is one of the owner's parent groups.
type OwnershipAncestor struct {
	Ref    string
	Entity Entity
}

// Ownership returns the owner and its ancestor groups; for every entity of a page at once.
func (b *Base) Ownership() (*Ownership, error) {
	ctx := b.batch.ctx
	o := &Ownership{OwnerRef: b.ownerRef(), Ancestors: []*OwnershipAncestor{}}
	if o.OwnerRef == nil {
		return o, nil
	}
	owner, err := b.owner(ctx)
	if err != nil {
		return nil, err
	}
	o.Owner, o.Resolved = owner, owner != nil
	refs, loader, err := b.batch.ownerAncestors(ctx, *o.OwnerRef)
	if err != nil {
		return nil, err
	}
	for _, r := range refs {
		e, err := loader.Get(r)
		if err != nil {
			return nil, err
		}
		o.Ancestors = append(o.Ancestors, &OwnershipAncestor{Ref: r, Entity: e})
	}
	return o, nil
}

// OwnedEntities of a group: directly, or with its child groups' when transitive.
func (g *Group) OwnedEntities(transitive *bool, first *int, after *string) ([]Entity, error) {
	ctx := g.batch.ctx
	return g.batch.ownedEntities(ctx, g.E.Ref, transitive != nil && *transitive, first, after)
}

// OwnedEntities of a user: directly and through the groups they are a member of.
func (u *User) OwnedEntities(first *int, after *string) ([]Entity, error) {
	ctx := u.batch.ctx
	return u.batch.ownedEntities(ctx, u.E.Ref, false, first, after)
}

// Contacts returns how to reach the owner of an entity document: its profile email and the
// configured contact annotations, in that order.
func contacts(e Entity, keys []string) []*Contact {
	out := []*Contact{}
	if e == nil {
		return out
	}
	b := e.base()
	if p, ok := b.specMap()["profile"].(map[string]any); ok {
		if email, ok := p["email"].(string); ok && email != "" {
			out = append(out, &Contact{Type: "email", Value: email})
		}
	}
	return append(out, annotationContacts(e, keys)...)
}

// annotationContacts are the values of the configured contact annotations on e.
func annotationContacts(e Entity, keys []string) []*Contact {
	out := []*Contact{}
	if e == nil {
		return out
	}
	b := e.base()
	for _, k := range keys {
		if v, ok := b.E.Annotations[k]; ok && v != "" {
			out = append(out, &Contact{Type: k, Value: v})
		}
	}
	return out
}

// Contact is a way to reach someone.
type Contact struct {
	Type  string
	Value string
}

var _ = catalog.RelOwnedBy
