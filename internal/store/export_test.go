package store

// FacetQuery exposes Facet's statement to the tests of its plan.
var FacetQuery = (*Store).facetQuery
