package mcpserver

import (
	"bytes"
	"strconv"

	"catalogd/ent"
)

// Inputs and outputs of the tools: their JSON Schemas are inferred from these types.

type RefIn struct {
	Ref string `json:"ref" jsonschema:"entity ref, kind:namespace/name (a bare name is read as a component, or a group where a team is meant)"`
}

type SearchIn struct {
	Query string   `json:"query" jsonschema:"words to find"`
	Kinds []string `json:"kinds,omitempty" jsonschema:"restrict to these kinds"`
	First int      `json:"first,omitempty" jsonschema:"hits to return (default 10, at most 50)"`
}

type OwnedIn struct {
	Owner      string `json:"owner" jsonschema:"group or user ref (a bare name is a group)"`
	Transitive bool   `json:"transitive,omitempty" jsonschema:"also what child groups own"`
	First      int    `json:"first,omitempty" jsonschema:"entities to return (default 100, at most 200)"`
}

type DepsIn struct {
	Ref       string `json:"ref" jsonschema:"entity ref"`
	Direction string `json:"direction,omitempty" jsonschema:"downstream (what it needs, default) or upstream (what needs it)"`
	Depth     *int   `json:"depth,omitempty" jsonschema:"hops to follow (absent: all)"`
}

type ImpactIn struct {
	Ref      string `json:"ref" jsonschema:"the entity that fails"`
	MaxDepth *int   `json:"maxDepth,omitempty" jsonschema:"hops to follow (absent: all)"`
}

type ChangesIn struct {
	After string   `json:"after,omitempty" jsonschema:"cursor from a previous answer: changes after it, oldest first"`
	First int      `json:"first,omitempty" jsonschema:"changes to return (default 50, at most 200)"`
	Kind  string   `json:"kind,omitempty"`
	Owner string   `json:"owner,omitempty" jsonschema:"owner ref: changes of what it owns, owned or now owns"`
	Ref   string   `json:"ref,omitempty"`
	Types []string `json:"types,omitempty" jsonschema:"added, changed, removed, owner_changed, refused"`
}

type RegisterIn struct {
	Target string `json:"target" jsonschema:"file:/path, url:https://… or a git URL"`
	DryRun bool   `json:"dryRun,omitempty"`
}

type Count struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

type facet struct {
	Field  string
	Values []struct {
		Value string
		Count int
	}
}

type DescribeOut struct {
	Kinds         []Count  `json:"kinds"`
	Lifecycles    []Count  `json:"lifecycles"`
	RelationTypes []string `json:"relationTypes"`
	Filters       []string `json:"filters"`
	ChangeTypes   []string `json:"changeTypes"`
}

type EntitySummary struct {
	Ref         string  `json:"ref"`
	Kind        string  `json:"kind"`
	Title       *string `json:"title,omitempty"`
	Description *string `json:"description,omitempty"`
}

type SearchHit struct {
	EntitySummary
	Snippet string `json:"snippet"`
}

type SearchOut struct {
	Total     int         `json:"total"`
	Hits      []SearchHit `json:"hits"`
	Truncated bool        `json:"truncated"`
}

type EntityOut struct {
	Ref         string         `json:"ref"`
	Kind        string         `json:"kind"`
	Title       *string        `json:"title,omitempty"`
	Description *string        `json:"description,omitempty"`
	Tags        []string       `json:"tags"`
	Metadata    map[string]any `json:"metadata"`
	Spec        map[string]any `json:"spec"`
	Relations   []struct {
		Type      string `json:"type"`
		TargetRef string `json:"targetRef"`
	} `json:"relations"`
	Ownership struct {
		OwnerRef *string `json:"ownerRef,omitempty"`
		Resolved bool    `json:"resolved"`
	} `json:"ownership"`
}

type Contact struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type Escalation struct {
	Ref      string    `json:"ref"`
	Contacts []Contact `json:"contacts"`
}

type WhoOwnsOut struct {
	Ref           string       `json:"ref"`
	Owner         string       `json:"owner" jsonschema:"owner ref; empty when the entity names none"`
	OwnerResolved bool         `json:"ownerResolved" jsonschema:"whether the owner is an entity of the catalog"`
	Contacts      []Contact    `json:"contacts" jsonschema:"the owner's contact annotations"`
	Escalation    []Escalation `json:"escalation" jsonschema:"the owner's parent groups, nearest first, up to the top, with their contacts"`
	OnCall        []Contact    `json:"onCall" jsonschema:"contact annotations on the entity itself (on-call service, channel)"`
}

type OwnedOut struct {
	Owner     string          `json:"owner"`
	Entities  []EntitySummary `json:"entities"`
	Truncated bool            `json:"truncated"`
}

type Dependency struct {
	Ref    string   `json:"ref"`
	Depth  int      `json:"depth"`
	Path   []string `json:"path"`
	Entity *struct {
		Kind  string  `json:"kind"`
		Title *string `json:"title,omitempty"`
	} `json:"entity,omitempty"`
}

type DepsOut struct {
	Ref       string       `json:"ref"`
	Direction string       `json:"direction"`
	Total     int          `json:"total"`
	Entities  []Dependency `json:"entities"`
	Truncated bool         `json:"truncated"`
}

type ImpactOwner struct {
	Ref         string       `json:"ref"`
	EntityCount int          `json:"entityCount"`
	EntityRefs  []string     `json:"entityRefs"`
	Contacts    []Contact    `json:"contacts"`
	Escalation  []Escalation `json:"escalation"`
}

type ImpactOut struct {
	Ref           string        `json:"ref"`
	RootContacts  []Contact     `json:"rootContacts"`
	TotalAffected int           `json:"totalAffected"`
	TotalOwners   int           `json:"totalOwners"`
	Owners        []ImpactOwner `json:"owners"`
	ListedRefs    int           `json:"listedRefs"`
	Truncated     bool          `json:"truncated"`
	Bounds        string        `json:"bounds"`
}

type TeamOut struct {
	Ref         string  `json:"ref"`
	Kind        string  `json:"kind"`
	Title       *string `json:"title,omitempty"`
	Description *string `json:"description,omitempty"`
	Type        string  `json:"type"`
	Annotations []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"annotations"`
	Profile *struct {
		DisplayName *string `json:"displayName,omitempty"`
		Email       *string `json:"email,omitempty"`
	} `json:"profile,omitempty"`
	Parent *struct {
		Ref string `json:"ref"`
	} `json:"parent,omitempty"`
	Children []struct {
		Ref string `json:"ref"`
	} `json:"children"`
	Members []struct {
		Ref     string `json:"ref"`
		Profile *struct {
			DisplayName *string `json:"displayName,omitempty"`
			Email       *string `json:"email,omitempty"`
		} `json:"profile,omitempty"`
	} `json:"members"`
}

type Change struct {
	Cursor        string         `json:"cursor"`
	Type          string         `json:"type"`
	Ref           string         `json:"ref"`
	Kind          string         `json:"kind"`
	Owner         string         `json:"owner"`
	PreviousOwner string         `json:"previousOwner"`
	Location      string         `json:"location"`
	Reason        string         `json:"reason"`
	At            string         `json:"at"`
	Fields        map[string]any `json:"fields,omitempty"`
}

type ChangesOut struct {
	Changes []Change `json:"changes"`
	Cursor  string   `json:"cursor" jsonschema:"pass as after to read on"`
	More    bool     `json:"more"`
}

type WhoamiOut struct {
	Kind   string   `json:"kind"`
	Name   string   `json:"name"`
	Ref    *string  `json:"ref,omitempty"`
	Roles  []string `json:"roles"`
	Groups []string `json:"groups"`
}

type RegisterOut struct {
	Target     string   `json:"target"`
	EntityRefs []string `json:"entityRefs"`
}

type RefreshOut struct {
	Ref       string `json:"ref"`
	Refreshed bool   `json:"refreshed"`
}

// backCursor is the feed cursor n changes before head (ids are dense enough for "recent").
func backCursor(head string, n int) any {
	var c ent.Cursor
	if err := c.UnmarshalGQL(head); err != nil {
		return nil
	}
	c.ID = max(c.ID-n, 0)
	var b bytes.Buffer
	c.MarshalGQL(&b)
	s, err := strconv.Unquote(b.String())
	if err != nil {
		return nil
	}
	return s
}
