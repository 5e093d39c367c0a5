package graph

// WithoutGraphRelations makes r read relations with statements, as it does while its graph
// index lags the catalog.
func WithoutGraphRelations(r *Resolver) {
	d := *r.deps
	d.Graph = nil
	r.deps = &d
}
