package model

import (
	"context"

	"catalogd/ent"
)

// EntityConnection is a page of entities (Relay).
type EntityConnection struct {
	TotalCount int
	PageInfo   ent.PageInfo
	Edges      []*EntityEdge
}

// EntityEdge is one entity of a page with its cursor.
type EntityEdge struct {
	Cursor ent.Cursor
	Node   Entity
}

// NewEntityConnection wraps an ent page; its entities share one batch.
func NewEntityConnection(ctx context.Context, deps *Deps, c *ent.EntityConnection) *EntityConnection {
	rows := make([]*ent.Entity, len(c.Edges))
	for i, e := range c.Edges {
		rows[i] = e.Node
	}
	nodes := Wrap(ctx, deps, rows)
	out := &EntityConnection{TotalCount: c.TotalCount, PageInfo: c.PageInfo, Edges: make([]*EntityEdge, len(c.Edges))}
	for i, e := range c.Edges {
		out.Edges[i] = &EntityEdge{Cursor: e.Cursor, Node: nodes[i]}
	}
	return out
}
