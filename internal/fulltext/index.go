package fulltext

import (
	"math"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// Source is the table a row comes from. Results order ties by source, entities first.
type Source uint8

const (
	Entities Source = iota
	Pages
	numSources
)

// Doc is one row to index: its texts by column, in the order of its source's Weights.
type Doc struct {
	Src    Source
	ID     int64
	Hash   string // the row's content hash: Update skips a row whose hash it holds already
	Kind   string // filters by kind (a page has its entity's)
	Fields []string
	// Attrs are the row's values of each of Config.Attrs, for Count.
	Attrs [][]string
}

// Key names a row.
type Key struct {
	Src Source
	ID  int64
}

// Config sets each source's ranking: the weight of each column (a word in a column of
// weight 10 counts as ten occurrences) and a factor on the source's scores.
type Config struct {
	Weights [numSources][]float64
	Factor  [numSources]float64
	// Attrs names the attributes rows may carry (at most 255), for Count.
	Attrs []string
}

// BM25's parameters, as SQLite's FTS5 bm25() has them.
const (
	k1 = 1.2
	b  = 0.75
)

// posting is one row holding a word: the row's ordinal and the word's occurrences in it,
// each weighted by its column.
type posting struct {
	doc uint32
	tf  float32
}

// segment is an inverted index of some rows: the words sorted, each with its postings.
type segment struct {
	words []string
	offs  []uint32 // postings of words[i]: post[offs[i]:offs[i+1]]
	post  []posting
}

// wordRange returns the indexes of the words equal to w, or starting with it when prefix.
func (s *segment) wordRange(w string, prefix bool) (int, int) {
	lo := sort.SearchStrings(s.words, w)
	if !prefix {
		if lo < len(s.words) && s.words[lo] == w {
			return lo, lo + 1
		}
		return lo, lo
	}
	hi := lo + sort.Search(len(s.words)-lo, func(i int) bool { return !strings.HasPrefix(s.words[lo+i], w) })
	return lo, hi
}

// docTerms is a row's words and weighted occurrences, kept for the rows of the delta segment
// so it can be built again with the next change.
type docTerms struct {
	doc   uint32
	words []string
	tfs   []float32
}

// Index is a snapshot of the index. It is never changed: Update returns a new one.
type Index struct {
	cfg   Config
	base  *segment
	delta *segment
	// deltaDocs are the rows indexed in delta (a changed row's earlier version in base is dead).
	deltaDocs []docTerms

	// Per row ordinal.
	ids   []int64
	src   []Source
	kind  []uint16
	len   []uint32 // words in the row (all columns)
	live  []bool
	hash  []uint64 // HashOf the row's Hash
	attrs attrs
	kinds []string // kind names by number

	// Rows by key: byKey as built, never changed after; over what updates changed since
	// (noRow: removed), copied by each. And each source's live rows and words (for BM25's
	// IDF and average length).
	byKey  map[Key]uint32
	over   map[Key]uint32
	nLive  [numSources]int
	nWords [numSources]int64
}

// NewIndex indexes docs.
func NewIndex(cfg Config, docs []Doc) *Index {
	b := NewBuilder(cfg)
	for _, d := range docs {
		b.Add(d)
	}
	return b.Index()
}

// Builder builds an index row by row, so the texts need not all be in memory at once.
type Builder struct {
	ix *Index
	// Words are numbered as first met; each row's words go to flat, with their weighted
	// occurrences, and are inverted at the end. A word is copied when first met, so the index
	// does not keep the texts it was cut from.
	dict    map[string]uint32
	words   []string
	tf      []float32 // by word number: the row's weighted occurrences so far
	touched []uint32
	count   []uint32 // rows per word
	flat    [][]occ  // in chunks of occChunk, so growing never copies
	rowEnd  []int    // row i's words are flat[rowEnd[i-1]:rowEnd[i]], counted across chunks
	n       int      // occurrences in flat
}

type occ struct {
	word uint32
	tf   float32
}

const occChunk = 1 << 16

// NewBuilder starts an index.
func NewBuilder(cfg Config) *Builder {
	return &Builder{ix: &Index{cfg: cfg, byKey: map[Key]uint32{}, attrs: newAttrs(len(cfg.Attrs))}, dict: map[string]uint32{}}
}

// Add indexes d (replacing an earlier row of its key).
func (b *Builder) Add(d Doc) {
	ix := b.ix
	if !ix.fits(d) {
		return
	}
	var n uint32
	for col, text := range d.Fields {
		w := float32(ix.cfg.Weights[d.Src][col])
		EachWord(text, func(word string) {
			id, ok := b.dict[word]
			if !ok {
				word = strings.Clone(word)
				id = uint32(len(b.words))
				b.dict[word] = id
				b.words = append(b.words, word)
				b.tf = append(b.tf, 0)
				b.count = append(b.count, 0)
			}
			if b.tf[id] == 0 {
				b.touched = append(b.touched, id)
			}
			b.tf[id] += w
			n++
		})
	}
	for _, id := range b.touched {
		if b.tf[id] > 0 {
			if len(b.flat) == 0 || len(b.flat[len(b.flat)-1]) == occChunk {
				b.flat = append(b.flat, make([]occ, 0, occChunk))
			}
			last := &b.flat[len(b.flat)-1]
			*last = append(*last, occ{id, b.tf[id]})
			b.count[id]++
			b.n++
		}
		b.tf[id] = 0
	}
	b.touched = b.touched[:0]
	ix.number(d, n)
	b.rowEnd = append(b.rowEnd, b.n)
}

// Index inverts the rows added into an index. The builder is done with.
func (b *Builder) Index() *Index {
	b.dict = nil // the words are numbered: the collector may take the map while this runs
	words := b.words
	order := make([]uint32, len(words))
	for i := range order {
		order[i] = uint32(i)
	}
	slices.SortFunc(order, func(x, y uint32) int { return strings.Compare(words[x], words[y]) })
	seg := &segment{words: make([]string, len(words)), offs: make([]uint32, len(words)+1), post: make([]posting, b.n)}
	next := make([]uint32, len(words)) // by word number: where its next posting goes
	var at uint32
	for i, id := range order {
		seg.words[i] = words[id]
		seg.offs[i] = at
		next[id] = at
		at += b.count[id]
	}
	seg.offs[len(words)] = at
	row, k := 0, 0
	for c, chunk := range b.flat {
		b.flat[c] = nil // each chunk inverted is garbage: the two copies are never whole at once
		for _, o := range chunk {
			for k >= b.rowEnd[row] {
				row++
			}
			seg.post[next[o.word]] = posting{doc: uint32(row), tf: o.tf}
			next[o.word]++
			k++
		}
	}
	ix := b.ix
	ix.base = seg
	ix.delta = &segment{offs: []uint32{0}}
	*b = Builder{}
	return ix
}

// fits says whether d can be indexed: a known source, no more columns than it has weights.
func (ix *Index) fits(d Doc) bool {
	return d.Src < numSources && len(d.Fields) <= len(ix.cfg.Weights[d.Src])
}

// number gives d the next row ordinal, marking an earlier version of its key dead.
func (ix *Index) number(d Doc, words uint32) uint32 {
	key := Key{d.Src, d.ID}
	if old, ok := ix.lookup(key); ok && ix.live[old] {
		ix.kill(old)
	}
	ord := uint32(len(ix.ids))
	ix.ids = append(ix.ids, d.ID)
	ix.src = append(ix.src, d.Src)
	ix.kind = append(ix.kind, ix.kindNumber(d.Kind))
	ix.len = append(ix.len, words)
	ix.live = append(ix.live, true)
	ix.hash = append(ix.hash, HashOf(d.Hash))
	ix.attrs.add(d.Attrs)
	ix.setKey(key, ord)
	ix.nLive[d.Src]++
	ix.nWords[d.Src] += int64(words)
	return ord
}

// add numbers d and returns its words, for the delta segment.
func (ix *Index) add(d Doc) (docTerms, bool) {
	if !ix.fits(d) {
		return docTerms{}, false
	}
	counts := map[string]float32{}
	var n uint32
	for col, text := range d.Fields {
		w := float32(ix.cfg.Weights[d.Src][col])
		EachWord(text, func(word string) {
			if _, ok := counts[word]; !ok {
				word = strings.Clone(word)
			}
			counts[word] += w
			n++
		})
	}
	dt := docTerms{doc: ix.number(d, n), words: make([]string, 0, len(counts)), tfs: make([]float32, 0, len(counts))}
	for w, tf := range counts {
		if tf > 0 {
			dt.words = append(dt.words, w)
			dt.tfs = append(dt.tfs, tf)
		}
	}
	return dt, true
}

func (ix *Index) kill(ord uint32) {
	ix.live[ord] = false
	ix.nLive[ix.src[ord]]--
	ix.nWords[ix.src[ord]] -= int64(ix.len[ord])
	ix.setKey(Key{ix.src[ord], ix.ids[ord]}, noRow)
}

func (ix *Index) kindNumber(k string) uint16 {
	for i, n := range ix.kinds {
		if n == k {
			return uint16(i)
		}
	}
	if len(ix.kinds) >= math.MaxUint16 {
		return math.MaxUint16 // more kinds than a catalog has: the rest share one number
	}
	ix.kinds = append(ix.kinds, k)
	return uint16(len(ix.kinds) - 1)
}

// buildSegment inverts rows' words into a segment.
func buildSegment(docs []docTerms) *segment {
	count := map[string]uint32{}
	for _, d := range docs {
		for _, w := range d.words {
			count[w]++
		}
	}
	s := &segment{words: make([]string, 0, len(count))}
	for w := range count {
		s.words = append(s.words, w)
	}
	slices.Sort(s.words)
	s.offs = make([]uint32, len(s.words)+1)
	at := make(map[string]uint32, len(s.words))
	var total uint32
	for i, w := range s.words {
		s.offs[i] = total
		at[w] = total
		total += count[w]
	}
	s.offs[len(s.words)] = total
	s.post = make([]posting, total)
	// Rows in ordinal order, so each word's postings are in ordinal order.
	for _, d := range docs {
		for i, w := range d.words {
			p := at[w]
			s.post[p] = posting{doc: d.doc, tf: d.tfs[i]}
			at[w] = p + 1
		}
	}
	return s
}

// Len returns the number of live rows of src.
func (ix *Index) Len(src Source) int { return ix.nLive[src] }

// DeltaLen returns the number of rows indexed since the index was built.
func (ix *Index) DeltaLen() int { return len(ix.deltaDocs) }

// Stale returns the number of rows searches pass over without need: those indexed since the
// index was built (searched in a segment of their own) and the dead ones (a changed row's
// earlier version, a removed row). When it grows large, building the index anew makes
// searches cheaper again.
func (ix *Index) Stale() int {
	return len(ix.deltaDocs) + len(ix.ids) - ix.nLive[Entities] - ix.nLive[Pages]
}

// HashOf is what the index keeps of a row's hash: 8 bytes rather than a 64-character string
// per row. Two hashes of one row that collide cost an update of the row that is missed until
// its next change.
func HashOf(h string) uint64 {
	x := uint64(14695981039346656037) // FNV-1a
	for i := 0; i < len(h); i++ {
		x ^= uint64(h[i])
		x *= 1099511628211
	}
	return x
}

// noRow marks a key removed in Index.over.
const noRow = math.MaxUint32

func (ix *Index) lookup(k Key) (uint32, bool) {
	if ord, ok := ix.over[k]; ok {
		return ord, ord != noRow
	}
	ord, ok := ix.byKey[k]
	return ord, ok
}

func (ix *Index) setKey(k Key, ord uint32) {
	if ix.over == nil { // building
		if ord == noRow {
			delete(ix.byKey, k)
		} else {
			ix.byKey[k] = ord
		}
		return
	}
	ix.over[k] = ord
}

// Diff compares the rows of a database with an index, for Update.
type Diff struct {
	ix   *Index
	seen []bool
}

// Diff starts a comparison with ix.
func (ix *Index) Diff() *Diff { return &Diff{ix: ix, seen: make([]bool, len(ix.ids))} }

// Row reports whether the row of k, whose hash is h, is new or changed since the index was made.
func (d *Diff) Row(k Key, h string) bool {
	ord, ok := d.ix.lookup(k)
	if !ok || !d.ix.live[ord] {
		return true
	}
	d.seen[ord] = true
	return d.ix.hash[ord] != HashOf(h)
}

// Removed returns the keys of the index's rows that Row was not called for.
func (d *Diff) Removed() []Key {
	var out []Key
	for ord, live := range d.ix.live {
		if live && !d.seen[ord] {
			out = append(out, Key{d.ix.src[ord], d.ix.ids[ord]})
		}
	}
	return out
}

// Update returns a new snapshot with the rows of changed added (or replacing their earlier
// versions) and the rows of removed gone. ix itself stays as it was, and answers as before;
// but updates must be made one at a time, each from the newest snapshot.
func (ix *Index) Update(changed []Doc, removed []Key) *Index {
	nx := &Index{
		cfg:   ix.cfg,
		base:  ix.base,
		ids:   slices.Clip(ix.ids),
		src:   slices.Clip(ix.src),
		kind:  slices.Clip(ix.kind),
		len:   slices.Clip(ix.len),
		live:  slices.Clone(ix.live),
		hash:  slices.Clip(ix.hash),
		kinds: slices.Clip(ix.kinds),
		attrs: ix.attrs.clip(),
		byKey: ix.byKey,
		over:  make(map[Key]uint32, len(ix.over)+len(changed)+len(removed)),
		nLive: ix.nLive, nWords: ix.nWords,
	}
	for k, v := range ix.over {
		nx.over[k] = v
	}
	for _, k := range removed {
		if ord, ok := nx.lookup(k); ok && nx.live[ord] {
			nx.kill(ord)
		}
	}
	var fresh []docTerms
	for _, d := range changed {
		if dt, ok := nx.add(d); ok {
			fresh = append(fresh, dt)
		}
	}
	// The delta holds every live row indexed since the base was built.
	nx.deltaDocs = make([]docTerms, 0, len(ix.deltaDocs)+len(fresh))
	for _, d := range ix.deltaDocs {
		if nx.live[d.doc] {
			nx.deltaDocs = append(nx.deltaDocs, d)
		}
	}
	nx.deltaDocs = append(nx.deltaDocs, fresh...)
	nx.delta = buildSegment(nx.deltaDocs)
	return nx
}

// Query is a search: rows holding every term (a term also matches as a prefix when prefix
// says so), of one of kinds (all kinds when empty), ranked, First of them after After.
type Query struct {
	Terms  []string
	Prefix func(term string) bool
	Kinds  []string
	First  int
	After  *Cursor
}

// Cursor is a position in the ranking: results are ordered by score (highest first), then
// source, then id.
type Cursor struct {
	Score float64
	Src   Source
	ID    int64
}

func (c Cursor) before(d Cursor) bool {
	if c.Score != d.Score {
		return c.Score > d.Score
	}
	if c.Src != d.Src {
		return c.Src < d.Src
	}
	return c.ID < d.ID
}

// Result is a page of hits, the number of all hits, and whether more follow the page.
type Result struct {
	Total   int
	Hits    []Cursor
	HasNext bool
}

// maxTerms bounds the terms of a query.
const maxTerms = 16

// Search ranks the live rows holding every term of q by BM25 over their columns (each
// source's own row count and average length, as an FTS5 table per source would rank them),
// times the source's factor.
func (ix *Index) Search(q Query) Result {
	nt := len(q.Terms)
	if nt == 0 || nt > maxTerms || q.First <= 0 {
		return Result{}
	}
	type termRanges struct {
		blo, bhi, dlo, dhi int
		size               int
	}
	terms := make([]termRanges, nt)
	for i, t := range q.Terms {
		t = cut(t)
		prefix := q.Prefix != nil && q.Prefix(t)
		var r termRanges
		r.blo, r.bhi = ix.base.wordRange(t, prefix)
		r.dlo, r.dhi = ix.delta.wordRange(t, prefix)
		r.size = int(ix.base.offs[r.bhi]-ix.base.offs[r.blo]) + int(ix.delta.offs[r.dhi]-ix.delta.offs[r.dlo])
		if r.size == 0 {
			return Result{}
		}
		terms[i] = r
	}
	// The rarest term first: its rows are the candidates the others add to.
	order := make([]int, nt)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return terms[order[a]].size < terms[order[b]].size })

	sc := getScratch(len(ix.ids))
	defer putScratch(sc)
	cand := make([]uint32, 0, terms[order[0]].size)
	freq := make([]float32, 0, terms[order[0]].size*nt) // freq[c*nt+i]: weighted occurrences of term i in candidate c
	var nHit [maxTerms][numSources]int
	for pass, ti := range order {
		stamp := sc.nextStamp()
		r := terms[ti]
		visit := func(seg *segment, lo, hi int) {
			for _, p := range seg.post[seg.offs[lo]:seg.offs[hi]] {
				d := p.doc
				e := &sc.rows[d]
				if e.mark != stamp {
					e.mark = stamp
					// A dead row is marked too, and never gets a slot: its further
					// postings of this term are passed over below.
					if !ix.live[d] {
						continue
					}
					nHit[ti][ix.src[d]]++
					if pass == 0 {
						cand = append(cand, d)
						e.slot = uint32(len(cand))
						for range nt {
							freq = append(freq, 0)
						}
					}
				}
				if e.slot > 0 {
					freq[int(e.slot-1)*nt+ti] += p.tf
				}
			}
		}
		visit(ix.base, r.blo, r.bhi)
		visit(ix.delta, r.dlo, r.dhi)
	}
	for _, d := range cand {
		sc.rows[d].slot = 0
	}

	// BM25's IDF of each term per source, and each source's average row length.
	var idf [maxTerms][numSources]float64
	var avg [numSources]float64
	for s := range numSources {
		n := float64(ix.nLive[s])
		if n > 0 {
			avg[s] = float64(ix.nWords[s]) / n
		}
		for i := range nt {
			h := float64(nHit[i][s])
			v := math.Log((n - h + 0.5) / (h + 0.5))
			if v <= 0 {
				v = 1e-6
			}
			idf[i][s] = v
		}
	}
	var kinds []bool
	if len(q.Kinds) > 0 {
		kinds = make([]bool, len(ix.kinds))
		for _, k := range q.Kinds {
			for i, n := range ix.kinds {
				if n == k {
					kinds[i] = true
				}
			}
		}
	}

	// Keep the best First+1 after the cursor (one more says whether a next page exists).
	keep := q.First + 1
	h := make(hitHeap, 0, min(keep, len(cand)))
	total := 0
	for c, d := range cand {
		row := freq[c*nt : c*nt+nt]
		if slices.Contains(row, 0) {
			continue
		}
		if kinds != nil && (int(ix.kind[d]) >= len(kinds) || !kinds[ix.kind[d]]) {
			continue
		}
		total++
		s := ix.src[d]
		score := 0.0
		dl := float64(ix.len[d])
		for i, f := range row {
			f := float64(f)
			score += idf[i][s] * (f * (k1 + 1)) / (f + k1*(1-b+b*dl/avg[s]))
		}
		score *= ix.cfg.Factor[s]
		hit := Cursor{Score: score, Src: s, ID: ix.ids[d]}
		if q.After != nil && !q.After.before(hit) {
			continue
		}
		if len(h) < keep {
			h.push(hit)
		} else if hit.before(h[0]) {
			h[0] = hit
			h.down(0)
		}
	}
	hits := make([]Cursor, len(h))
	for i := len(h) - 1; i >= 0; i-- {
		hits[i] = h.pop()
	}
	res := Result{Total: total, Hits: hits}
	if len(hits) > q.First {
		res.Hits, res.HasNext = hits[:q.First], true
	}
	return res
}

// hitHeap is a heap of hits with the worst on top.
type hitHeap []Cursor

func (h *hitHeap) push(c Cursor) {
	*h = append(*h, c)
	i := len(*h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !(*h)[p].before((*h)[i]) {
			break
		}
		(*h)[p], (*h)[i] = (*h)[i], (*h)[p]
		i = p
	}
}

func (h *hitHeap) pop() Cursor {
	old := *h
	top := old[0]
	n := len(old) - 1
	old[0] = old[n]
	*h = old[:n]
	h.down(0)
	return top
}

func (h hitHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		w := l // the worse child goes up
		if r := l + 1; r < len(h) && h[l].before(h[r]) {
			w = r
		}
		if !h[i].before(h[w]) {
			return
		}
		h[i], h[w] = h[w], h[i]
		i = w
	}
}

// IsPrefixLen is a Prefix rule: terms of at least n characters also match as prefixes.
func IsPrefixLen(n int) func(string) bool {
	return func(t string) bool { return utf8.RuneCountInString(t) >= n }
}
