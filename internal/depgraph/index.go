// Package depgraph answers graph questions over the whole catalog — impact ("what breaks if X
// is down, and whom do we call"), dependencies, shortest paths, effective ownership, subgraph
// export — in memory, with a constant number of SQL statements per question.
//
// Why an in-memory index rather than a recursive CTE: impact needs each entity once, at its
// smallest depth, with one shortest path. A recursive CTE over (ref, depth, path) cannot drop
// longer paths to an already-reached node, so on diamond-shaped graphs the number of rows it
// produces grows with the number of paths, not entities; at 100,000 entities and thousands of
// affected ones that is seconds, not milliseconds. A breadth-first search over adjacency lists
// visits every node and edge once.
//
// Keeping it in step: every write that changes entities bumps catalog_state.generation in the
// same transaction (store.Apply). Each question first reads the generation (one indexed
// single-row statement). When it moved, a rebuild from the relations table starts in the
// background, with a context of its own, and the question is answered from the snapshot at
// hand: a rebuild at 100,000 entities takes about a second, and no question waits for it
// (only the very first, when there is no snapshot yet). serve also starts a rebuild as soon
// as it learns of a change, its own or another replica's (store.WatchGeneration), so the
// question after a change usually finds the new snapshot ready. Rebuilds happen only after
// the catalog actually changed.
package depgraph

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"catalogd/internal/catalog"
	"catalogd/internal/store"
)

// Index is the relation graph of the catalog, rebuilt in the background when the catalog changes.
type Index struct {
	st  *store.Store
	log *slog.Logger

	snap atomic.Pointer[Snapshot] // the newest built; immutable once built

	mu       sync.Mutex
	want     int64         // the newest generation asked for
	building bool          // a rebuild goroutine runs
	built    chan struct{} // closed (and replaced) when a rebuild ends
	err      error         // of the last rebuild (nil when it worked)
}

// New returns an index over the store; it is built on first use (or by Refresh).
func New(st *store.Store) *Index { return &Index{st: st, built: make(chan struct{})} }

// SetLogger sets where failed background rebuilds are reported (default slog's).
func (x *Index) SetLogger(l *slog.Logger) { x.log = l }

// Snapshot is an immutable view of the relation graph at one generation.
type Snapshot struct {
	Generation int64
	refs       []string         // node id -> canonical ref
	ids        map[string]int32 // canonical ref -> node id
	exists     []bool           // node id -> an entity with this ref exists
	types      map[string]int   // relation type -> adjacency index
	typeNames  []string
	adj        []csr   // per relation type: node -> targets, sorted by ref
	rank       []int32 // node id -> position of its ref among all refs in order
	byRank     []int32 // position in ref order -> node id

	quoteOnce sync.Once
	quoted    []byte  // every ref as a JSON string (AppendQuoted), one after another
	quotedEnd []int32 // node id -> end of its quoted ref in quoted

	typeOrder []int // adjacency indexes in byte order of their type names (EachOut)

	seenSets sync.Pool // of *bitset: empty sets of the nodes, for traversals
	walks    walkCache // large traversals made, and what was derived from them (Walk)
}

// csr is a compressed adjacency list: the targets of node n are targets[offsets[n]:offsets[n+1]].
type csr struct {
	offsets []int32
	targets []int32
}

func (c *csr) of(n int32) []int32 {
	if c == nil || int(n)+1 >= len(c.offsets) {
		return nil
	}
	return c.targets[c.offsets[n]:c.offsets[n+1]]
}

// buildTimeout bounds one rebuild (it runs on a context of its own).
const buildTimeout = 5 * time.Minute

// Current returns the newest snapshot built. When the catalog's generation moved past it, a
// rebuild starts in the background and the previous snapshot answers meanwhile; only when
// there is none yet does Current wait (as long as ctx allows) for the first.
func (x *Index) Current(ctx context.Context) (*Snapshot, error) {
	s, gen, err := x.caught(ctx)
	if err != nil || s != nil {
		return s, err
	}
	built := x.Refresh(gen)
	if s := x.snap.Load(); s != nil {
		return s, nil
	}
	return x.wait(ctx, built, gen)
}

// caught returns the newest snapshot when it is at the catalog's generation (as this request
// read it) or newer, else nil; and that generation.
func (x *Index) caught(ctx context.Context) (*Snapshot, int64, error) {
	gen, err := x.st.Generation(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("read catalog generation: %w", err)
	}
	if s := x.snap.Load(); s != nil && s.Generation >= gen {
		return s, gen, nil
	}
	return nil, gen, nil
}

// Fresh returns a snapshot at the catalog's current generation or newer, waiting (as long as
// ctx allows) for the rebuild. Requests use Current; Fresh is for callers that must see their
// own write.
func (x *Index) Fresh(ctx context.Context) (*Snapshot, error) {
	s, gen, err := x.caught(ctx)
	if err != nil || s != nil {
		return s, err
	}
	return x.wait(ctx, x.Refresh(gen), gen)
}

// Built returns the generation of the newest snapshot built, -1 before the first. Snapshots
// only move forward.
func (x *Index) Built() int64 {
	if s := x.snap.Load(); s != nil {
		return s.Generation
	}
	return -1
}

// wait waits for rebuilds until one reaches gen.
func (x *Index) wait(ctx context.Context, built <-chan struct{}, gen int64) (*Snapshot, error) {
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-built:
		}
		if s := x.snap.Load(); s != nil && s.Generation >= gen {
			return s, nil
		}
		x.mu.Lock()
		err := x.err
		x.mu.Unlock()
		if err != nil {
			return nil, err
		}
		built = x.Refresh(gen)
	}
}

// Refresh asks for a snapshot at generation gen or newer: unless one is built or being built,
// a rebuild starts in the background. It returns a channel closed when the rebuild in progress
// ends (it may have built an older generation: look again).
func (x *Index) Refresh(gen int64) <-chan struct{} {
	x.mu.Lock()
	defer x.mu.Unlock()
	if gen > x.want {
		x.want = gen
	}
	if s := x.snap.Load(); s != nil && s.Generation >= x.want && !x.building {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	if !x.building {
		x.building = true
		go x.rebuild()
	}
	return x.built
}

// rebuild builds snapshots until one is at least at the generation asked for (a write may
// land while it builds).
func (x *Index) rebuild() {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		var s *Snapshot
		gen, err := x.st.Generation(ctx)
		if err == nil {
			s, err = build(ctx, x.st, gen)
		}
		cancel()
		x.mu.Lock()
		x.err = err
		if err == nil {
			x.snap.Store(s)
		} else {
			log := x.log
			if log == nil {
				log = slog.Default()
			}
			log.Warn("rebuilding the dependency graph index", "err", err)
		}
		close(x.built)
		x.built = make(chan struct{})
		if err != nil || s.Generation >= x.want {
			x.building = false
			x.mu.Unlock()
			return
		}
		x.mu.Unlock()
	}
}

type edge struct {
	from, to int32
}

func build(ctx context.Context, st *store.Store, gen int64) (*Snapshot, error) {
	s := &Snapshot{Generation: gen, ids: map[string]int32{}, types: map[string]int{}}
	intern := func(ref string) int32 {
		if id, ok := s.ids[ref]; ok {
			return id
		}
		id := int32(len(s.refs))
		s.refs = append(s.refs, ref)
		s.ids[ref] = id
		return id
	}
	rows, err := st.DB.QueryContext(ctx, "SELECT ref FROM entities")
	if err != nil {
		return nil, fmt.Errorf("load entity refs: %w", err)
	}
	for rows.Next() {
		var ref string
		if err := rows.Scan(&ref); err != nil {
			rows.Close()
			return nil, err
		}
		intern(ref)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	s.exists = make([]bool, len(s.refs))
	for i := range s.exists {
		s.exists[i] = true
	}
	rows, err = st.DB.QueryContext(ctx, "SELECT source_ref, type, target_ref FROM relations")
	if err != nil {
		return nil, fmt.Errorf("load relations: %w", err)
	}
	var byType [][]edge
	for rows.Next() {
		var src, typ, dst string
		if err := rows.Scan(&src, &typ, &dst); err != nil {
			rows.Close()
			return nil, err
		}
		t, ok := s.types[typ]
		if !ok {
			t = len(s.typeNames)
			s.types[typ] = t
			s.typeNames = append(s.typeNames, typ)
			byType = append(byType, nil)
		}
		byType[t] = append(byType[t], edge{intern(src), intern(dst)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	s.typeOrder = make([]int, len(s.typeNames))
	for i := range s.typeOrder {
		s.typeOrder[i] = i
	}
	slices.SortFunc(s.typeOrder, func(a, b int) int { return strings.Compare(s.typeNames[a], s.typeNames[b]) })
	for len(s.exists) < len(s.refs) {
		s.exists = append(s.exists, false)
	}
	n := len(s.refs)
	s.byRank = make([]int32, n)
	for i := range s.byRank {
		s.byRank[i] = int32(i)
	}
	slices.SortFunc(s.byRank, func(a, b int32) int { return strings.Compare(s.refs[a], s.refs[b]) })
	s.rank = make([]int32, n)
	for r, id := range s.byRank {
		s.rank[id] = int32(r)
	}
	s.adj = make([]csr, len(byType))
	for t, edges := range byType {
		// Sort by source, then by target ref, so traversals are deterministic; drop duplicates
		// (two entities may declare the same relation).
		sort.Slice(edges, func(i, j int) bool {
			if edges[i].from != edges[j].from {
				return edges[i].from < edges[j].from
			}
			return s.rank[edges[i].to] < s.rank[edges[j].to]
		})
		c := csr{offsets: make([]int32, n+1), targets: make([]int32, 0, len(edges))}
		prev := edge{-1, -1}
		for _, e := range edges {
			if e == prev {
				continue
			}
			prev = e
			c.targets = append(c.targets, e.to)
			c.offsets[e.from+1]++
		}
		for i := 1; i <= n; i++ {
			c.offsets[i] += c.offsets[i-1]
		}
		s.adj[t] = c
	}
	return s, nil
}

// ID returns the node of a canonical ref.
func (s *Snapshot) ID(ref string) (int32, bool) {
	id, ok := s.ids[ref]
	return id, ok
}

// Ref returns the canonical ref of a node.
func (s *Snapshot) Ref(id int32) string { return s.refs[id] }

// Exists reports whether an entity has the node's ref (false for dangling refs).
func (s *Snapshot) Exists(id int32) bool { return s.exists[id] }

// Out returns the targets of node's relations of one type, sorted by ref.
func (s *Snapshot) Out(id int32, relType string) []int32 {
	t, ok := s.types[relType]
	if !ok {
		return nil
	}
	return s.adj[t].of(id)
}

// Nodes is the number of refs the snapshot knows (entities and dangling targets).
func (s *Snapshot) Nodes() int { return len(s.refs) }

// kindOf returns the kind part of a canonical ref.
func kindOf(ref string) string {
	if i := strings.IndexByte(ref, ':'); i >= 0 {
		return ref[:i]
	}
	return ""
}

var _ = catalog.RelDependsOn

// AppendQuotedRef appends the node's ref as a JSON string, as AppendQuoted writes it; the
// snapshot quotes all refs once, when first asked.
func (s *Snapshot) AppendQuotedRef(buf []byte, id int32) []byte {
	s.quoteOnce.Do(func() {
		n := 0
		for _, r := range s.refs {
			n += len(r) + 2
		}
		s.quoted = make([]byte, 0, n)
		s.quotedEnd = make([]int32, len(s.refs))
		for i, r := range s.refs {
			s.quoted = AppendQuoted(s.quoted, r)
			s.quotedEnd[i] = int32(len(s.quoted))
		}
	})
	start := int32(0)
	if id > 0 {
		start = s.quotedEnd[id-1]
	}
	return append(buf, s.quoted[start:s.quotedEnd[id]]...)
}

// AppendQuoted appends s as a JSON string the way gqlgen's String marshaller writes it: in
// quotes, with \t, \r, \n, \\, \" and \u00XX for the other control characters, everything else
// (invalid UTF-8 included) as it is. gqlgen loops over runes; every byte it escapes is a
// single-byte rune, so a loop over bytes writes the same.
func AppendQuoted(buf []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '\\' && c != '"' {
			continue
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '\t':
			buf = append(buf, `\t`...)
		case '\r':
			buf = append(buf, `\r`...)
		case '\n':
			buf = append(buf, `\n`...)
		case '\\':
			buf = append(buf, `\\`...)
		case '"':
			buf = append(buf, `\"`...)
		default:
			buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// Caught returns the newest snapshot when it is at the catalog's generation (as this request
// read it) or newer; otherwise nil, after starting the rebuild that catches up. Callers that
// have another way to answer (the database) use it instead of waiting.
func (x *Index) Caught(ctx context.Context) *Snapshot {
	s, gen, err := x.caught(ctx)
	if err == nil && s == nil {
		x.Refresh(gen)
	}
	return s
}

// EachOut calls fn for each relation type of node's relations, in byte order of the type
// names, with its targets sorted by ref: what SELECT DISTINCT type, target_ref ... ORDER BY
// type, target_ref gives for one source, bytewise.
func (s *Snapshot) EachOut(id int32, fn func(relType string, targets []int32)) {
	for _, t := range s.typeOrder {
		if ts := s.adj[t].of(id); len(ts) > 0 {
			fn(s.typeNames[t], ts)
		}
	}
}
