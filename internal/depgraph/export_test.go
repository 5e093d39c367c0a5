package depgraph

// SetCacheBounds sets the walk cache's bounds (see Walk) until restore is called.
func SetCacheBounds(nodes, bytes int) (restore func()) {
	n, b := cacheNodes, memoBytes
	cacheNodes, memoBytes = nodes, bytes
	return func() { cacheNodes, memoBytes = n, b }
}
