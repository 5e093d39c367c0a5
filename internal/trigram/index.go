// Package trigram is an in-memory index of the byte trigrams (three consecutive bytes) of a
// few texts per row, which narrows a substring search to the rows holding every trigram of
// the searched text: a superset of the rows that contain it, usually very close to them.
// Whoever asks verifies the candidates (the database, with the predicates it had).
//
// Texts are indexed as given, byte by byte, punctuation and spaces included; folding case is
// the caller's, who must fold the searched text the same way. Trigrams never span two texts
// of a row.
//
// An Index is a snapshot and never changes: Update returns a new one. Rows as built form the
// base: postings as delta-encoded varints of row ordinals in one byte arena, rows by
// ascending id, so no map and no per-row strings are kept. Rows added or changed since sit in
// a small delta beside it (their base versions marked dead), until the caller builds anew
// (Stale says how much has moved).
package trigram

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"math/bits"
	"slices"
	"sort"
	"unsafe"
)

// Options bound an index's size and a search's work.
type Options struct {
	// MaxPostings: a trigram held by more base rows than this is common and keeps no
	// posting list; searches pass over it (it narrows little). 0: none is dropped.
	MaxPostings int
}

// Index is a snapshot of the index.
type Index struct {
	opts Options

	// Base rows by ordinal, ids ascending; dead marks those changed or removed since.
	ids    []int64
	hashes []uint64
	dead   []uint64 // bit set
	nDead  int

	// Base postings: grams sorted; postings of grams[i] are arena[offs[i]:offs[i+1]], a
	// count followed by ordinal gaps, as uvarints. A common gram's range holds its count only.
	grams []uint32
	offs  []uint32
	arena []byte

	// Delta: rows added or changed since the build, and their grams as gram<<32|row, sorted.
	drows  []deltaRow
	dpairs []uint64
	dbyID  map[int64]uint32
}

type deltaRow struct {
	id   int64
	hash uint64
}

// HashOf reduces a row's content hash to what the index keeps of it (within this process).
func HashOf(h string) uint64 { return maphash.String(hashSeed, h) }

var hashSeed = maphash.MakeSeed()

// rowGrams appends the distinct grams of texts to buf, sorted.
func rowGrams(buf []uint32, texts []string) []uint32 {
	buf = buf[:0]
	for _, t := range texts {
		for i := 0; i+3 <= len(t); i++ {
			buf = append(buf, uint32(t[i])<<16|uint32(t[i+1])<<8|uint32(t[i+2]))
		}
	}
	slices.Sort(buf)
	return slices.Compact(buf)
}

// Builder builds an index row by row, so the texts need not all be in memory at once.
type Builder struct {
	opts    Options
	ids     []int64
	hashes  []uint64
	slot    map[uint32]uint32 // gram -> its list's number
	lists   [][]byte          // gaps as uvarints, by list number
	last    []uint32          // last ordinal added to each list
	counts  []uint32
	scratch []uint32
}

// NewBuilder starts an index.
func NewBuilder(opts Options) *Builder {
	return &Builder{opts: opts, slot: map[uint32]uint32{}}
}

// ErrOrder is Add's error for a row whose id is not above the one before.
var ErrOrder = errors.New("trigram: rows must be added by ascending id")

// Add indexes a row: its id (above the previous row's), its content hash and its texts.
func (b *Builder) Add(id int64, hash string, texts ...string) error {
	if n := len(b.ids); n > 0 && id <= b.ids[n-1] {
		return ErrOrder
	}
	ord := uint32(len(b.ids))
	b.ids = append(b.ids, id)
	b.hashes = append(b.hashes, HashOf(hash))
	b.scratch = rowGrams(b.scratch, texts)
	for _, g := range b.scratch {
		s, ok := b.slot[g]
		if !ok {
			s = uint32(len(b.lists))
			b.slot[g] = s
			b.lists = append(b.lists, nil)
			b.last = append(b.last, 0)
			b.counts = append(b.counts, 0)
		}
		gap := ord
		if b.counts[s] > 0 {
			gap = ord - b.last[s]
		}
		b.lists[s] = binary.AppendUvarint(b.lists[s], uint64(gap))
		b.last[s] = ord
		b.counts[s]++
	}
	return nil
}

// Index puts the rows added into an index. The builder is done with.
func (b *Builder) Index() *Index {
	ix := &Index{opts: b.opts, ids: slices.Clip(b.ids), hashes: slices.Clip(b.hashes), dead: make([]uint64, (len(b.ids)+63)/64)}
	ix.grams = make([]uint32, 0, len(b.slot))
	for g := range b.slot {
		ix.grams = append(ix.grams, g)
	}
	slices.Sort(ix.grams)
	size := 0
	for _, g := range ix.grams {
		s := b.slot[g]
		size += binary.MaxVarintLen32
		if !ix.common(b.counts[s]) {
			size += len(b.lists[s])
		}
	}
	ix.arena = make([]byte, 0, size)
	ix.offs = make([]uint32, len(ix.grams)+1)
	for i, g := range ix.grams {
		s := b.slot[g]
		ix.offs[i] = uint32(len(ix.arena))
		ix.arena = binary.AppendUvarint(ix.arena, uint64(b.counts[s]))
		if !ix.common(b.counts[s]) {
			ix.arena = append(ix.arena, b.lists[s]...)
		}
		b.lists[s] = nil
	}
	ix.offs[len(ix.grams)] = uint32(len(ix.arena))
	ix.arena = slices.Clip(ix.arena)
	*b = Builder{}
	return ix
}

func (ix *Index) common(count uint32) bool {
	return ix.opts.MaxPostings > 0 && int(count) > ix.opts.MaxPostings
}

// Len returns the number of live rows.
func (ix *Index) Len() int { return len(ix.ids) - ix.nDead + len(ix.drows) }

// Stale returns the number of rows the delta holds and dead base rows: work a new build
// would save each search.
func (ix *Index) Stale() int { return ix.nDead + len(ix.drows) }

// Bytes estimates the memory the index holds.
func (ix *Index) Bytes() int {
	n := int(unsafe.Sizeof(*ix))
	n += cap(ix.ids)*8 + cap(ix.hashes)*8 + cap(ix.dead)*8
	n += cap(ix.grams)*4 + cap(ix.offs)*4 + cap(ix.arena)
	n += cap(ix.drows)*16 + cap(ix.dpairs)*8 + len(ix.dbyID)*24
	return n
}

func (ix *Index) isDead(ord uint32) bool { return ix.dead[ord/64]&(1<<(ord%64)) != 0 }

// baseOrd returns the base ordinal of id.
func (ix *Index) baseOrd(id int64) (uint32, bool) {
	i, ok := slices.BinarySearch(ix.ids, id)
	return uint32(i), ok
}

// Diff compares the index with the rows as they are now.
type Diff struct {
	ix        *Index
	seenBase  []uint64
	seenDelta []bool
}

// Diff starts a comparison with ix: call Row for every row there is now, then Removed.
func (ix *Index) Diff() *Diff {
	return &Diff{ix: ix, seenBase: make([]uint64, len(ix.dead)), seenDelta: make([]bool, len(ix.drows))}
}

// Row reports whether the row id, whose content hash is h, is new or changed since the index
// was made.
func (d *Diff) Row(id int64, h string) bool {
	ix := d.ix
	if i, ok := ix.dbyID[id]; ok {
		d.seenDelta[i] = true
		return ix.drows[i].hash != HashOf(h)
	}
	ord, ok := ix.baseOrd(id)
	if !ok || ix.isDead(ord) {
		return true
	}
	d.seenBase[ord/64] |= 1 << (ord % 64)
	return ix.hashes[ord] != HashOf(h)
}

// Removed returns the ids of the index's live rows that Row was not called for.
func (d *Diff) Removed() []int64 {
	ix := d.ix
	var out []int64
	for w, dead := range ix.dead {
		for gone := ^dead &^ d.seenBase[w]; gone != 0; gone &= gone - 1 {
			if ord := w*64 + bits.TrailingZeros64(gone); ord < len(ix.ids) {
				out = append(out, ix.ids[ord])
			}
		}
	}
	for i, r := range ix.drows {
		if !d.seenDelta[i] {
			out = append(out, r.id)
		}
	}
	return out
}

// Row is a row added or changed, for Update.
type Row struct {
	ID    int64
	Hash  string
	Texts []string
}

// Update returns a new snapshot with changed added (or replacing their earlier versions) and
// removed gone. ix itself stays as it was and answers as before.
func (ix *Index) Update(changed []Row, removed []int64) *Index {
	nx := *ix
	nx.dead = slices.Clone(ix.dead)
	gone := make(map[int64]bool, len(changed)+len(removed))
	for _, id := range removed {
		gone[id] = true
	}
	for _, r := range changed {
		gone[r.ID] = true
	}
	for id := range gone {
		if ord, ok := ix.baseOrd(id); ok && !nx.isDead(ord) {
			nx.dead[ord/64] |= 1 << (ord % 64)
			nx.nDead++
		}
	}
	// The delta anew: the rows kept, renumbered, then the changed ones.
	renum := make([]uint32, len(ix.drows))
	nx.drows = make([]deltaRow, 0, len(ix.drows)+len(changed))
	for i, r := range ix.drows {
		renum[i] = ^uint32(0)
		if !gone[r.id] {
			renum[i] = uint32(len(nx.drows))
			nx.drows = append(nx.drows, r)
		}
	}
	nx.dpairs = make([]uint64, 0, len(ix.dpairs))
	for _, p := range ix.dpairs {
		if n := renum[uint32(p)]; n != ^uint32(0) {
			nx.dpairs = append(nx.dpairs, p&^0xffffffff|uint64(n))
		}
	}
	var scratch []uint32
	for _, r := range changed {
		n := uint32(len(nx.drows))
		nx.drows = append(nx.drows, deltaRow{r.ID, HashOf(r.Hash)})
		scratch = rowGrams(scratch, r.Texts)
		for _, g := range scratch {
			nx.dpairs = append(nx.dpairs, uint64(g)<<32|uint64(n))
		}
	}
	slices.Sort(nx.dpairs)
	nx.dbyID = make(map[int64]uint32, len(nx.drows))
	for i, r := range nx.drows {
		nx.dbyID[r.id] = uint32(i)
	}
	return &nx
}

// Search limits.
const (
	// maxSearchGrams bounds the distinct grams of a search looked at (any subset of them
	// still yields a superset of the matches), and so a search's work.
	maxSearchGrams = 64
	// maxIntersect bounds the posting lists intersected, rarest first: past a few, the
	// candidates hardly shrink.
	maxIntersect = 8
)

// Candidates returns the ids of the rows holding every trigram of text (folded as the rows'
// texts were), at most max of them: a superset of the rows one of whose texts contains text.
// ok is false when the index cannot narrow the search to max rows: text is shorter than a
// trigram, or all its trigrams are common, or more rows than max hold them.
func (ix *Index) Candidates(text string, max int) (ids []int64, ok bool) {
	if len(text) < 3 {
		return nil, false
	}
	grams := searchGrams(text)
	// Base: each gram's list, rarest first; a gram no base row holds leaves none.
	type list struct {
		count uint32
		posts []byte
	}
	lists := make([]list, 0, len(grams))
	noBase := false
	for _, g := range grams {
		i, found := slices.BinarySearch(ix.grams, g)
		if !found {
			noBase = true
			break
		}
		posts := ix.arena[ix.offs[i]:ix.offs[i+1]]
		count, n := binary.Uvarint(posts)
		if ix.common(uint32(count)) {
			continue
		}
		lists = append(lists, list{uint32(count), posts[n:]})
	}
	var base []uint32
	if !noBase {
		if len(lists) == 0 {
			return nil, false // only common grams
		}
		sort.Slice(lists, func(a, b int) bool { return lists[a].count < lists[b].count })
		base = decode(lists[0].posts, int(lists[0].count))
		for _, l := range lists[1:min(len(lists), maxIntersect)] {
			if len(base) == 0 {
				break
			}
			base = intersect(base, l.posts)
		}
	}
	deltaRows := ix.deltaMatches(grams)
	ids = make([]int64, 0, min(len(base)+len(deltaRows), max+1))
	for _, ord := range base {
		if !ix.isDead(ord) {
			if len(ids) == max {
				return nil, false
			}
			ids = append(ids, ix.ids[ord])
		}
	}
	for _, i := range deltaRows {
		if len(ids) == max {
			return nil, false
		}
		ids = append(ids, ix.drows[i].id)
	}
	return ids, true
}

// searchGrams returns the distinct grams of text, at most maxSearchGrams of them, spread
// over its length.
func searchGrams(text string) []uint32 {
	n := len(text) - 2
	step := 1
	if n > 4*maxSearchGrams {
		step = n / (4 * maxSearchGrams) // bounded work for a huge text
	}
	var grams []uint32
	for i := 0; i+3 <= len(text) && len(grams) < 4*maxSearchGrams; i += step {
		grams = append(grams, uint32(text[i])<<16|uint32(text[i+1])<<8|uint32(text[i+2]))
	}
	slices.Sort(grams)
	grams = slices.Compact(grams)
	if len(grams) > maxSearchGrams {
		grams = grams[:maxSearchGrams]
	}
	return grams
}

// decode returns the ordinals of a posting list of count entries.
func decode(posts []byte, count int) []uint32 {
	out := make([]uint32, 0, count)
	var ord uint32
	for i := 0; len(posts) > 0; i++ {
		gap, n := uvarint(posts)
		posts = posts[n:]
		if i == 0 {
			ord = gap
		} else {
			ord += gap
		}
		out = append(out, ord)
	}
	return out
}

// intersect keeps the ordinals of cur (ascending) that the posting list holds, in place.
func intersect(cur []uint32, posts []byte) []uint32 {
	out := cur[:0]
	var ord uint32
	first := true
	j := 0
	for len(posts) > 0 && j < len(cur) {
		gap, n := uvarint(posts)
		posts = posts[n:]
		if first {
			ord, first = gap, false
		} else {
			ord += gap
		}
		for j < len(cur) && cur[j] < ord {
			j++
		}
		if j < len(cur) && cur[j] == ord {
			out = append(out, ord)
			j++
		}
	}
	return out
}

// uvarint decodes a 32-bit uvarint, one byte without a call.
func uvarint(b []byte) (uint32, int) {
	if b[0] < 0x80 {
		return uint32(b[0]), 1
	}
	v, n := binary.Uvarint(b)
	return uint32(v), n
}

// deltaMatches returns the delta rows holding every gram.
func (ix *Index) deltaMatches(grams []uint32) []uint32 {
	if len(ix.drows) == 0 {
		return nil
	}
	var cur []uint32
	for k, g := range grams {
		lo, _ := slices.BinarySearch(ix.dpairs, uint64(g)<<32)
		hi, _ := slices.BinarySearch(ix.dpairs, uint64(g+1)<<32)
		if k == 0 {
			for _, p := range ix.dpairs[lo:hi] {
				cur = append(cur, uint32(p))
			}
		} else {
			next := cur[:0]
			rows := ix.dpairs[lo:hi]
			for _, r := range cur {
				if _, ok := slices.BinarySearch(rows, uint64(g)<<32|uint64(r)); ok {
					next = append(next, r)
				}
			}
			cur = next
		}
		if len(cur) == 0 {
			return nil
		}
	}
	return cur
}
