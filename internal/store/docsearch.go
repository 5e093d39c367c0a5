package store

// search(query) finds doc pages beside entities (searchindex.go, fulltext.go). A page is
// indexed by its title, its headings and the first maxIndexedPageText characters of its plain
// text, and answers with its entity's ref and kind, so kinds filters pages by their entity's
// kind.
const (
	// maxIndexedPageText bounds the text of a page that is indexed, in characters: a long page
	// is found by its beginning, its title and its headings.
	maxIndexedPageText = 20000

	// pageScoreFactor scales a page's rank against the entities': a page that says what an
	// entity's name says ranks after the entity.
	pageScoreFactor = 0.5
)
