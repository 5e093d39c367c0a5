package model

import (
	"time"

	"catalogd/ent"
)

// CatalogChange is one entry of the change feed.
type CatalogChange struct {
	Cursor                     ent.Cursor
	Type, Ref, Kind, Owner     string
	PreviousOwner              string
	Location, Revision, Reason string
	At                         time.Time
	Fields                     RawJSON
}

// NewCatalogChange is the feed entry of a stored change.
func NewCatalogChange(c *ent.Change) *CatalogChange {
	return &CatalogChange{Cursor: ent.Cursor{ID: int(c.ID)}, Type: c.Type, Ref: c.Ref, Kind: c.Kind, Owner: c.Owner,
		PreviousOwner: c.PreviousOwner, Location: c.Location, Revision: c.Revision, Reason: c.Reason, At: c.At,
		Fields: RawJSON(c.Fields)}
}

// CatalogChangeConnection is a page of the change feed.
type CatalogChangeConnection struct {
	Edges    []*CatalogChangeEdge
	PageInfo ent.PageInfo
}

// CatalogChangeEdge is one change of a page.
type CatalogChangeEdge struct {
	Cursor ent.Cursor
	Node   *CatalogChange
}
