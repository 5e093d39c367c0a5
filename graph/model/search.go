package model

// SearchHit is one hit of search: an entity, or a doc page of an entity.
type SearchHit struct {
	Entity  Entity
	Page    *SearchDocPage
	Snippet string
	Score   float64
}
