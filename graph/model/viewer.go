package model

// Viewer is the GraphQL view of the request's principal.
type Viewer struct {
	Kind   string
	Name   string
	Ref    *string
	Roles  []string
	Groups []string
}
