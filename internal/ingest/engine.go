// Package ingest turns what providers read into catalog entities and applies them to the store.
// A provider only reads (see Provider); everything after that — parsing, placeholders,
// validation, relation derivation, following Location entities, conflicts and retention — is
// done here, the same way for every provider.
package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"log/slog"
	"net/url"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"catalogd/internal/catalog"
	"catalogd/internal/docs"
	"catalogd/internal/ingest/git"
	"catalogd/internal/reading"
	"catalogd/internal/store"
)

// Provider reads one configured location. Read returns the tree to ingest and a release
// function for whatever the read holds (a checkout, a temp dir); an error means the location
// could not be read at all, and then nothing it holds changes.
type Provider interface {
	Location() catalog.LocationSpec
	Read(ctx context.Context) (catalog.Tree, func(), error)
}

// Engine processes and applies locations.
type Engine struct {
	Store     *store.Store
	Validator *catalog.Validator
	Log       *slog.Logger
	// MaxFileBytes and MaxDocumentBytes limit what is read (0: 32 MiB and catalog.MaxDocumentBytes).
	MaxFileBytes     int64
	MaxDocumentBytes int
	// MaxPlaceholderBytes bounds what the placeholders of one document may add to it, and
	// MaxEntityBytes the stored JSON of one entity (0: the defaults below).
	MaxPlaceholderBytes int
	MaxEntityBytes      int
	// URLs fetches $text/$json/$yaml placeholders that name http(s) URLs, as its allow-list
	// permits; nil refuses them all.
	URLs *reading.Reader
	// Changed, when set, is called after an apply that changed entities (e.g. to rebuild caches).
	Changed func()
	// Interval is how often a location is read when its configuration does not say (0: one minute).
	Interval time.Duration
	// MaxRemovalShare is the share of a location's entities one read may remove before the
	// guard refuses it (0: DefaultMaxRemovalShare).
	MaxRemovalShare float64
	// OnRead, when set, is called after every scheduled read with its error (nil when it worked).
	OnRead func(key string, err error)
	// Docs reads the docs of entities that name them (nil: docs.Reader with its defaults).
	Docs *docs.Reader
	// DocsAllowDirs are the directories whose file:// repositories url: techdocs-refs may name
	// (--read-allow-dir); http(s) ones must be admitted by URLs. DocsGitCache is where their
	// bare repositories are kept (default: $XDG_CACHE_HOME/catalogd/git-docs, apart from the git
	// locations', which hold what their credentials fetched) and DocsGitTimeout bounds one
	// fetch (0: one minute).
	DocsAllowDirs  []string
	DocsGitCache   string
	DocsGitTimeout time.Duration
	// Metrics, when set, is told about every read (cmd/ wires it to the metrics).
	Metrics Metrics
	// Progress, when set, is called as a read advances, from the goroutines doing the work:
	// it must be cheap and safe for concurrent use.
	Progress func(location string, p Progress)
	// Locks, when coordinated (PostgreSQL), share the scheduled reads among the replicas of
	// one database: a location is read by the replica holding its lock, when the last read by
	// any replica is an interval old (see schedule.go). Nil: this process reads every
	// location on its own schedule.
	Locks *store.LocationLocks

	applyMu sync.Mutex
	sched   scheduler

	docsOnce sync.Once

	docsProvMu    sync.Mutex
	docsProviders map[string]*git.Provider // url: docs repositories by url#ref

	memoMu    sync.Mutex
	memo      map[string]map[string]*fileMemo // location key -> file path -> what it produced
	memoDirty map[string]bool                 // the last applied read left conflicts
}

func (e *Engine) memoClean(key string) bool {
	e.memoMu.Lock()
	defer e.memoMu.Unlock()
	return !e.memoDirty[key]
}

func (e *Engine) setMemoClean(key string, clean bool) {
	e.memoMu.Lock()
	defer e.memoMu.Unlock()
	if e.memoDirty == nil {
		e.memoDirty = map[string]bool{}
	}
	e.memoDirty[key] = !clean
}

// fileMemo is what one descriptor file produced at the last applied read of its location,
// kept so a file whose bytes did not change is not parsed again: its entities are handed to
// the store as stubs (ref and hash), which it checks against what it holds.
type fileMemo struct {
	sum      [sha256.Size]byte
	entities []memoEntity
	errors   []store.ErrorRecord
	keepRefs []string
	targets  []string
	optional []string
}

type memoEntity struct {
	ref, hash         string
	techdocs          string // the entity's backstage.io/techdocs-ref
	docIndex, docLine int
}

func (e *Engine) memoOf(key string) map[string]*fileMemo {
	e.memoMu.Lock()
	defer e.memoMu.Unlock()
	return e.memo[key]
}

func (e *Engine) setMemo(key string, m map[string]*fileMemo) {
	e.memoMu.Lock()
	defer e.memoMu.Unlock()
	if e.memo == nil {
		e.memo = map[string]map[string]*fileMemo{}
	}
	if m == nil {
		delete(e.memo, key)
		return
	}
	e.memo[key] = m
}

// Metrics receives what each location read did. It is an interface of its own so that
// neither the engine nor a provider imports a metrics library.
type Metrics interface {
	ObserveRead(provider string, took time.Duration, res store.ApplyResult, err error)
}

// Progress is how far one read has come.
type Progress struct {
	Documents int64 // descriptor documents processed (files unchanged since the last read are not parsed again)
	Entities  int64 // entities handed to the store
}

func (e *Engine) progress(rd *read) {
	if e.Progress != nil {
		e.Progress(rd.loc.Key, Progress{Documents: rd.docs.Load(), Entities: rd.entities.Load()})
	}
}

// Refresh reads one location and applies what it holds.
func (e *Engine) Refresh(ctx context.Context, p Provider) (store.ApplyResult, error) {
	return e.RefreshWith(ctx, p, RefreshOptions{})
}

// RefreshOptions modify one refresh.
type RefreshOptions struct {
	// Force applies a snapshot the guards would refuse (an operator's decision), and
	// processes a revision that was applied already.
	Force bool
}

// RefreshWith reads one location and applies what it holds. A read that fails changes no
// entity (the error is recorded); a read whose revision is the one applied last costs no
// processing and only records that the location was observed.
func (e *Engine) RefreshWith(ctx context.Context, p Provider, opts RefreshOptions) (res store.ApplyResult, err error) {
	started := time.Now()
	loc := p.Location()
	if e.Metrics != nil {
		defer func() { e.Metrics.ObserveRead(loc.Provider, time.Since(started), res, err) }()
	}
	tree, release, err := p.Read(ctx)
	if err == nil && tree.Revision != "" && !opts.Force && !e.urlDocsIn(loc.Key) {
		same, n, serr := e.Store.Observe(ctx, loc, tree.Revision, started)
		if serr == nil && same {
			release()
			return store.ApplyResult{Unchanged: n}, nil
		}
	}
	// Applies from this process take turns (SQLite would serialise them anyway, but a writer
	// waiting on SQLite's lock gives up after its busy timeout). The lock is taken before
	// processing starts because processing streams into the apply.
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	if err != nil {
		b := &store.Batch{Failed: fmt.Errorf("read %s: %w", loc.Key, err), Started: started}
		if _, aerr := e.Store.Apply(ctx, loc, b); aerr != nil {
			return store.ApplyResult{}, fmt.Errorf("apply %s: %w", loc.Key, aerr)
		}
		return store.ApplyResult{Errors: 1}, b.Failed
	}
	defer release()
	res, err = e.apply(ctx, loc, tree, opts, started, true)
	if errors.Is(err, store.ErrStaleMemo) {
		// The store no longer holds what the memo says (another writer changed it): parse
		// everything.
		e.setMemo(loc.Key, nil)
		res, err = e.apply(ctx, loc, tree, opts, started, false)
	}
	return res, err
}

func (e *Engine) apply(ctx context.Context, loc catalog.LocationSpec, tree catalog.Tree, opts RefreshOptions, started time.Time, memo bool) (store.ApplyResult, error) {
	b, rd := e.process(ctx, loc, tree, memo)
	next := rd.next
	if prev := e.memoOf(loc.Key); memo && prev != nil {
		// A re-read: finish processing (placeholder fetches included) before the write
		// transaction, and PostgreSQL's apply lock, are taken. Only a first read, which
		// writes a location's entities from nothing, streams into the transaction; so
		// does what passes the budget.
		var stop func()
		var done bool
		b.Parts, done, stop = prefetch(b.Parts, prefetchBudget)
		defer stop()
		// Every file is byte for byte what the last applied read had (and that read left
		// no conflict to resolve): the store holds this read already. Record the
		// observation only.
		if done && b.Failed == nil && rd.misses.Load() == 0 && len(next) == len(prev) && e.memoClean(loc.Key) && ctx.Err() == nil {
			if same, n, err := e.Store.Observe(ctx, loc, tree.Revision, started); err == nil && same {
				return store.ApplyResult{Unchanged: n}, nil
			}
		}
	}
	b.Revision = tree.Revision
	b.Started = started
	b.Force = opts.Force
	b.MaxRemovalShare = e.MaxRemovalShare
	if e.Progress != nil && b.Parts != nil {
		parts := b.Parts
		b.Parts = func(yield func([]store.EntityRecord) bool) {
			for p := range parts {
				rd.entities.Add(int64(len(p)))
				e.progress(rd)
				if !yield(p) {
					return
				}
			}
		}
	}
	res, aerr := e.Store.Apply(ctx, loc, b)
	if b.Parts != nil {
		for range b.Parts {
			// Apply may stop early on an error; let the producer finish.
		}
	}
	if aerr != nil {
		if errors.Is(aerr, store.ErrStaleMemo) {
			return res, aerr
		}
		return res, fmt.Errorf("apply %s: %w", loc.Key, aerr)
	}
	if b.Failed == nil && ctx.Err() == nil {
		e.setMemo(loc.Key, next)
		e.setMemoClean(loc.Key, res.Conflicts == 0)
	}
	if res.GenerationChanged() && e.Changed != nil { // docs too: search's index follows them
		e.Changed()
	}
	if b.Failed != nil {
		return res, b.Failed
	}
	return res, nil
}

// Run refreshes every provider now and then every interval until ctx ends. firstDone is called
// once per provider after its first refresh, whether it worked or not.
func (e *Engine) Run(ctx context.Context, providers []Provider, interval time.Duration, firstDone func(catalog.LocationSpec)) {
	if interval > 0 {
		e.Interval = interval
	}
	for _, p := range providers {
		e.Add(LocationConfig{Type: p.Location().Provider, Target: p.Location().Target}, p, func(err error) {
			if firstDone != nil {
				firstDone(p.Location())
			}
		})
	}
	e.Start(ctx)
	<-ctx.Done()
	e.Wait()
}

func (e *Engine) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.New(slog.DiscardHandler)
}

// fileResult is what one descriptor file produced.
type fileResult struct {
	path     string
	url      string
	entities []store.EntityRecord
	errors   []store.ErrorRecord
	keepRefs []string
	keepFile bool     // the file or one of its documents could not be read
	targets  []string // paths of further descriptor files named by Location entities
	optional []string // those of targets whose Location says spec.presence: optional
	// external is set when a document read a placeholder: its content depends on more than
	// the file's bytes, so the file is never memoised.
	external bool
	// techdocs holds the backstage.io/techdocs-ref of the entities that have one, by ref.
	techdocs map[string]string
}

// Process reads every descriptor file reachable from the tree's root and returns the batch to
// apply. Its parts (one per file) are produced in the background while Apply writes them, so
// reading and writing overlap. Files are processed in parallel, but the parts come in a fixed
// order, breadth-first by Location and then by path, so the first of two documents defining
// one entity is always the same one: it wins, the other is reported.
func (e *Engine) Process(ctx context.Context, loc catalog.LocationSpec, tree catalog.Tree) *store.Batch {
	b, _ := e.process(ctx, loc, tree, false)
	return b
}

// process is Process; with memo, files whose bytes are those of the last applied read are
// not parsed again, and it also returns what this read's files produced, for the next read.
func (e *Engine) process(ctx context.Context, loc catalog.LocationSpec, tree catalog.Tree, memo bool) (*store.Batch, *read) {
	b := &store.Batch{}
	level, err := e.rootFiles(tree)
	if err != nil {
		b.Failed = err
		b.Parts = store.Entities(nil)
		return b, &read{}
	}
	parts := make(chan []store.EntityRecord, 2)
	rd := &read{loc: loc, tree: tree, urls: e.URLs.NewSession(), optional: map[string]bool{}}
	if memo {
		rd.memo, rd.next = e.memoOf(loc.Key), map[string]*fileMemo{}
	}
	go func() {
		defer close(parts)
		defer rd.releaseDocs() // the docs read are in the records by now
		e.walk(ctx, rd, level, b, parts)
	}()
	b.Parts = func(yield func([]store.EntityRecord) bool) {
		for p := range parts {
			if !yield(p) {
				return
			}
		}
	}
	return b, rd
}

// Collect drains a batch's parts into one slice (for callers that want them all at once).
func Collect(b *store.Batch) []store.EntityRecord {
	var out []store.EntityRecord
	for p := range b.Parts {
		out = append(out, p...)
	}
	return out
}

// aheadFiles is how many files beyond one per worker may wait, processed, to be written.
const aheadFiles = 2

// walk processes the files level by level and sends each file's entities on parts, in order.
// It fills b's errors and keep lists before it returns (and parts is closed).
func (e *Engine) walk(ctx context.Context, rd *read, level []string, b *store.Batch, parts chan<- []store.EntityRecord) {
	visited := map[string]bool{}
	firstAt := map[string]string{} // ref -> where it was first defined
	workers := runtime.GOMAXPROCS(0)
	for len(level) > 0 {
		var todo []string
		for _, p := range level {
			if !visited[p] {
				visited[p] = true
				todo = append(todo, p)
			}
		}
		results := make([]fileResult, len(todo))
		done := make([]chan struct{}, len(todo))
		for i := range done {
			done[i] = make(chan struct{})
		}
		// Workers run at most aheadFiles files ahead of the one being handed on: when
		// processing outpaces the writer, finished files would otherwise pile up in memory
		// until the whole level is read.
		next := make(chan int)
		ahead := make(chan struct{}, workers+aheadFiles)
		go func() {
			defer close(next)
			for i := range todo {
				ahead <- struct{}{}
				next <- i
			}
		}()
		for range workers {
			go func() {
				for i := range next {
					results[i] = e.processFile(ctx, rd, todo[i])
					e.processDocs(ctx, rd, &results[i])
					close(done[i])
				}
			}()
		}
		level = nil
		for i := range todo {
			<-done[i]
			r := &results[i]
			part := r.entities[:0]
			for _, ent := range r.entities {
				if where, dup := firstAt[ent.Ref]; dup {
					b.Errors = append(b.Errors, errorRecord(r.url, ent.DocIndex, ent.DocLine, ent.Ref, "",
						fmt.Sprintf("entity %s is defined twice in this location (first in %s); this copy is ignored", ent.Ref, where)))
					continue
				}
				firstAt[ent.Ref] = r.url
				part = append(part, ent)
			}
			if len(part) > 0 {
				select {
				case parts <- part:
				case <-ctx.Done():
				}
			}
			b.Errors = append(b.Errors, r.errors...)
			b.KeepRefs = append(b.KeepRefs, r.keepRefs...)
			if r.keepFile || ctx.Err() != nil {
				b.KeepSources = append(b.KeepSources, r.url)
			}
			level = append(level, r.targets...)
			for _, o := range r.optional {
				rd.optional[o] = true // read only by the next level's workers
			}
			results[i] = fileResult{} // let the part be freed once written
			<-ahead
		}
	}
}

// rootFiles lists the descriptor files of the root: the file itself, or every .yaml/.yml file
// under the directory (hidden directories skipped), sorted.
func (e *Engine) rootFiles(tree catalog.Tree) ([]string, error) {
	if reading.IsURL(tree.Root) {
		return []string{tree.Root}, nil
	}
	st, err := fs.Stat(tree.FS, tree.Root)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tree.URL(tree.Root), unwrapPathError(err))
	}
	if !st.IsDir() {
		return []string{tree.Root}, nil
	}
	var files []string
	err = fs.WalkDir(tree.FS, tree.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != tree.Root && strings.HasPrefix(d.Name(), ".") {
			return fs.SkipDir
		}
		if !d.IsDir() && isYAML(p) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tree.URL(tree.Root), unwrapPathError(err))
	}
	sort.Strings(files)
	return files, nil
}

func isYAML(p string) bool {
	ext := strings.ToLower(path.Ext(p))
	return ext == ".yaml" || ext == ".yml"
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (e *Engine) maxFile() int64 {
	if e.MaxFileBytes > 0 {
		return e.MaxFileBytes
	}
	return 32 << 20
}

// read is one read of a location: its tree and the URL session that fetches each URL once.
type read struct {
	loc      catalog.LocationSpec
	tree     catalog.Tree
	urls     *reading.Session
	optional map[string]bool // targets whose Location says spec.presence: optional

	// memo is what the files produced at the last applied read (nil: parse everything);
	// next collects what this read's files produced, for the next read.
	memo   map[string]*fileMemo
	nextMu sync.Mutex
	next   map[string]*fileMemo
	misses atomic.Int32 // files processed in full (not from memo)

	docs, entities atomic.Int64 // progress (see Progress)

	docsOnce sync.Once
	docsPrev map[string]*store.DocsPrevious // what the store holds of the location's docs

	docsFetchMu sync.Mutex
	docsFetches map[string]*docsFetch // url: docs repositories fetched by this read, by url#ref
}

// errorRecord builds a processing error, bounding what it quotes of the input.
func errorRecord(source string, doc, line int, ref, path, msg string) store.ErrorRecord {
	return store.ErrorRecord{Source: source, Document: doc, Line: line,
		EntityRef: catalog.Excerpt(ref, catalog.MaxExcerpt), Path: catalog.Excerpt(path, catalog.MaxExcerpt),
		Message: catalog.Excerpt(msg, 4*catalog.MaxExcerpt)}
}

func (e *Engine) processFile(ctx context.Context, rd *read, p string) (r fileResult) {
	r = fileResult{path: p, url: rd.tree.URL(p)}
	var data []byte
	var err error
	if reading.IsURL(p) {
		// A target of a url-type Location (bounded by the URL reader's size limit), or the
		// root of a url location, which its provider fetched already.
		r.url = "url:" + p
		if p == rd.tree.Root && rd.tree.FS != nil {
			data, err = readLimited(rd.tree.FS, p, e.maxFile())
		} else {
			data, err = rd.urls.Fetch(ctx, p)
		}
	} else {
		data, err = readLimited(rd.tree.FS, p, e.maxFile())
	}
	if err != nil {
		rd.misses.Add(1)
		if p != rd.tree.Root && errors.Is(err, fs.ErrNotExist) {
			// A target that is gone is a file someone deleted: what it held goes too (through
			// the guard, which stops a read that would empty the location). Only a target its
			// Location marks spec.presence: optional may be missing without an error.
			if !rd.optional[p] {
				r.errors = append(r.errors, errorRecord(r.url, 0, 0, "", "",
					"a target of a Location is missing (spec.presence is required; say optional if it may be): "+err.Error()))
			}
			return r
		}
		r.keepFile = true
		r.errors = append(r.errors, errorRecord(r.url, 0, 0, "", "", err.Error()))
		return r
	}
	var sum [sha256.Size]byte
	if rd.next != nil {
		sum = sha256.Sum256(data)
		if m := rd.memo[p]; m != nil && m.sum == sum {
			rd.remember(p, m)
			return m.result(r)
		}
		rd.misses.Add(1)
		defer func() {
			if !r.keepFile && !r.external && ctx.Err() == nil {
				rd.remember(p, newFileMemo(sum, &r))
			}
		}()
	}
	for _, doc := range catalog.ParseDocuments(data, e.MaxDocumentBytes) {
		if ctx.Err() != nil {
			r.keepFile = true
			return r
		}
		if doc.Err != nil {
			// Which entity this document held is unknown, so keep everything the file had.
			r.keepFile = true
			r.errors = append(r.errors, errorRecord(r.url, doc.Index, doc.Line, "", "", doc.Err.Error()))
			continue
		}
		e.processDocument(ctx, rd, &r, doc)
	}
	return r
}

func readLimited(fsys fs.FS, p string, limit int64) ([]byte, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("is a directory, not a descriptor file")
	}
	if st.Size() > limit {
		return nil, &tooLargeError{limit}
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if int64(len(data)) > limit {
		return nil, &tooLargeError{limit}
	}
	return data, nil
}

type tooLargeError struct{ limit int64 }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("file is larger than the limit of %d bytes", e.limit)
}

func (e *Engine) processDocument(ctx context.Context, rd *read, r *fileResult, doc catalog.Document) {
	rd.docs.Add(1)
	e.progress(rd)
	fail := func(ref string, problems []catalog.Problem) {
		if ref != "" {
			r.keepRefs = append(r.keepRefs, ref)
		}
		for _, pr := range problems {
			r.errors = append(r.errors, errorRecord(r.url, doc.Index, doc.Line, ref, pr.Path, pr.String()))
		}
	}
	ref := guessRef(doc.Value)
	budget := e.maxPlaceholder()
	if problems := catalog.ResolvePlaceholders(doc.Value, func(target string) ([]byte, error) {
		r.external = true
		data, err := e.readPlaceholder(ctx, rd, r.path, target, budget)
		if err != nil {
			return nil, err
		}
		budget -= int64(len(data))
		return data, nil
	}); len(problems) > 0 {
		fail(ref, problems)
		return
	}
	if problems := e.Validator.Validate(doc.Value); len(problems) > 0 {
		fail(ref, problems)
		return
	}
	ent, err := catalog.EntityFromDocument(doc.Value)
	if err != nil {
		fail(ref, []catalog.Problem{{Message: err.Error()}})
		return
	}
	ref = ent.Ref().String()
	ent.SetAnnotation(catalog.AnnotationManagedByLocation, r.url)
	ent.SetAnnotation(catalog.AnnotationManagedByOriginLocation, rd.loc.Key)
	rels, problems := catalog.DeriveRelations(ent)
	if len(problems) > 0 {
		fail(ref, problems)
		return
	}
	if strings.EqualFold(ent.Kind, "Location") {
		targets, problems := locationTargets(rd, r.path, ent)
		r.targets = append(r.targets, targets...)
		if hasGlob(ent) {
			r.external = true // what a glob matches changes without this file changing
		}
		if presence, _ := ent.Spec()["presence"].(string); strings.EqualFold(presence, "optional") {
			r.optional = append(r.optional, targets...)
		}
		for _, pr := range problems {
			r.errors = append(r.errors, errorRecord(r.url, doc.Index, doc.Line, ref, pr.Path, pr.String()))
		}
	}
	// Aliases and placeholders can make a document far larger than its text: measure before
	// encoding, so an oversized one is refused without being built.
	limit := e.maxEntity()
	if jsonSizeAtLeast(ent.Doc, limit) > limit {
		fail(ref, []catalog.Problem{{Message: fmt.Sprintf("entity is larger than the limit of %s as JSON", byteSize(int64(limit)))}})
		return
	}
	docJSON, err := catalog.MarshalJSON(ent.Doc)
	if err != nil {
		fail(ref, []catalog.Problem{{Message: "cannot encode document: " + err.Error()}})
		return
	}
	if len(docJSON) > limit {
		fail(ref, []catalog.Problem{{Message: fmt.Sprintf("entity is %s as JSON, larger than the limit of %s", byteSize(int64(len(docJSON))), byteSize(int64(limit)))}})
		return
	}
	sum := sha256.Sum256(docJSON)
	if v, ok := ent.Annotations[AnnotationTechDocsRef]; ok {
		if r.techdocs == nil {
			r.techdocs = map[string]string{}
		}
		r.techdocs[ref] = v
	}
	owner, _ := canonicalSpecRef(ent, "owner", "Group")
	system, _ := canonicalSpecRef(ent, "system", "System")
	r.entities = append(r.entities, store.EntityRecord{
		Ref: ref, Kind: strings.ToLower(ent.Kind), Namespace: strings.ToLower(ent.Namespace), Name: ent.Name,
		APIVersion: ent.APIVersion, Title: ent.Title, Description: ent.Description,
		Type: strings.ToLower(ent.SpecString("type")), Lifecycle: strings.ToLower(ent.SpecString("lifecycle")),
		OwnerRef: owner, SystemRef: system,
		Tags: ent.Tags, Labels: ent.Labels, Annotations: ent.Annotations,
		Document: docJSON, Hash: hex.EncodeToString(sum[:16]), Source: r.url, Relations: rels,
		DocIndex: doc.Index, DocLine: doc.Line,
	})
}

func canonicalSpecRef(e *catalog.Entity, field, defaultKind string) (string, error) {
	s := e.SpecString(field)
	if s == "" {
		return "", nil
	}
	return catalog.CanonicalRef(s, catalog.RefDefaults{Kind: defaultKind, Namespace: e.Namespace})
}

// guessRef names the entity of a document that may be invalid, so its error can say which
// entity it is about and its last good version can be kept.
func guessRef(doc map[string]any) string {
	kind, _ := doc["kind"].(string)
	meta, _ := doc["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	ns, _ := meta["namespace"].(string)
	if kind == "" || name == "" {
		return ""
	}
	if ns == "" {
		ns = catalog.DefaultNamespace
	}
	return catalog.Ref{Kind: kind, Namespace: ns, Name: name}.String()
}

// locationTargets resolves a Location entity's spec.target and spec.targets against from, the
// file or URL that holds it. A file target is a path relative to the file's directory (globs
// expanded, as Backstage's file reader does); a url target an http(s) URL, or a reference
// relative to the URL that holds it. The type defaults to the kind of from. A target the tree
// or the URL allow-list refuses is reported at its field and not followed.
func locationTargets(rd *read, from string, e *catalog.Entity) ([]string, []catalog.Problem) {
	spec := e.Spec()
	fromURL := reading.IsURL(from)
	typ, _ := spec["type"].(string)
	if typ == "" {
		typ = "file"
		if fromURL {
			typ = "url"
		}
	}
	var raw []string
	var paths []string
	if t, ok := spec["target"].(string); ok && t != "" {
		raw = append(raw, t)
		paths = append(paths, "/spec/target")
	}
	if ts, ok := spec["targets"].([]any); ok {
		for i, t := range ts {
			if s, ok := t.(string); ok && s != "" {
				raw = append(raw, s)
				paths = append(paths, fmt.Sprintf("/spec/targets/%d", i))
			}
		}
	}
	var out []string
	var problems []catalog.Problem
	for i, t := range raw {
		quoted := catalog.Excerpt(t, catalog.MaxExcerpt)
		problem := func(format string, args ...any) {
			problems = append(problems, catalog.Problem{Path: paths[i], Message: fmt.Sprintf("target %s: ", quoted) + fmt.Sprintf(format, args...)})
		}
		switch {
		case typ == "url":
			u := t
			if fromURL {
				var err error
				if u, err = resolveURL(from, t); err != nil {
					problem("%v", err)
					continue
				}
			} else if !reading.IsURL(t) {
				problem("a target of type url must be an http(s) URL")
				continue
			}
			if err := rd.urls.Check(u); err != nil {
				problem("%v", err)
				continue
			}
			out = append(out, u)
			continue
		case typ != "file":
			problem("type %q is not read (file and url are)", catalog.Excerpt(typ, 50))
			continue
		case fromURL:
			problem("refused: a descriptor read from a URL names no files")
			continue
		case strings.Contains(t, "://"):
			problem("a URL in a Location of type file (give the Location type url)")
			continue
		}
		p, err := resolvePath(path.Dir(from), t)
		if err != nil {
			problem("%v", err)
			continue
		}
		if strings.ContainsAny(p, "*?[") {
			matches, err := fs.Glob(rd.tree.FS, p)
			if err != nil {
				problem("%v", err)
				continue
			}
			sort.Strings(matches)
			for _, m := range matches {
				if err := mayRead(rd.tree, m); err != nil {
					problem("%s: %v", catalog.Excerpt(rd.tree.URL(m), catalog.MaxExcerpt), err)
					continue
				}
				out = append(out, m)
			}
			continue
		}
		if err := mayRead(rd.tree, p); err != nil {
			problem("%v", err)
			continue
		}
		out = append(out, p)
	}
	return out, problems
}

// resolveURL resolves ref against base, the URL of the descriptor that names it: what a
// descriptor read from a URL names is read from URLs only.
func resolveURL(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("not a URL")
	}
	r, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("neither a URL nor a path relative to %s", catalog.Excerpt(base, catalog.MaxExcerpt))
	}
	u := b.ResolveReference(r)
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("refused: a descriptor read from a URL reads only http(s) URLs")
	}
	return u.String(), nil
}

// mayRead returns the tree's refusal of p, if it refuses it (a missing file is not refused:
// it is reported on its own when it is read).
func mayRead(tree catalog.Tree, p string) error {
	if _, err := fs.Stat(tree.FS, p); errors.Is(err, catalog.ErrOutsideTree) {
		return catalog.ErrOutsideTree
	}
	return nil
}

// resolvePath resolves a relative target against dir inside an fs.FS. Absolute targets are
// refused: a descriptor names what it reads relative to itself. Whether the result may be read
// is the tree's to say (a location reads only inside its directories).
func resolvePath(dir, target string) (string, error) {
	if path.IsAbs(target) {
		return "", errAbsolute
	}
	p := path.Join(dir, target)
	if p == "" {
		p = "."
	}
	if !fs.ValidPath(p) {
		return "", catalog.ErrOutsideTree
	}
	return p, nil
}

var errAbsolute = errors.New("refused: an absolute path (name files relative to the descriptor)")

// readPlaceholder reads a placeholder's target for the document read from from (a file path in
// the tree, or a URL): a URL, or a path relative to from.
func (e *Engine) readPlaceholder(ctx context.Context, rd *read, from, target string, budget int64) ([]byte, error) {
	over := fmt.Errorf("placeholders may add at most %s to one document, and this one would add more", byteSize(e.maxPlaceholder()))
	if budget <= 0 {
		return nil, over
	}
	if reading.IsURL(from) {
		u, err := resolveURL(from, target)
		if err != nil {
			return nil, err
		}
		target = u
	}
	if reading.IsURL(target) {
		data, err := rd.urls.Fetch(ctx, target)
		if err != nil {
			return nil, err
		}
		if int64(len(data)) > budget {
			return nil, over
		}
		return data, nil
	}
	if strings.Contains(target, "://") {
		return nil, fmt.Errorf("only http and https URLs are read")
	}
	p, err := resolvePath(path.Dir(from), target)
	if err != nil {
		return nil, err
	}
	limit := min(e.maxFile(), budget)
	data, err := readLimited(rd.tree.FS, p, limit)
	var tl *tooLargeError
	if errors.As(err, &tl) && limit == budget {
		return nil, over
	}
	return data, err
}

// Defaults of Engine's budgets: a placeholder's content is usually an API definition, which is
// rarely above a few hundred KiB; an entity holds its document (at most
// catalog.MaxDocumentBytes) and its placeholders' content, with room for JSON escaping.
const (
	DefaultMaxPlaceholderBytes = 2 << 20
	DefaultMaxEntityBytes      = 4 << 20
)

func (e *Engine) maxPlaceholder() int64 {
	if e.MaxPlaceholderBytes > 0 {
		return int64(e.MaxPlaceholderBytes)
	}
	return DefaultMaxPlaceholderBytes
}

func (e *Engine) maxEntity() int {
	if e.MaxEntityBytes > 0 {
		return e.MaxEntityBytes
	}
	return DefaultMaxEntityBytes
}

// jsonSizeAtLeast returns a lower bound of the size of v encoded as JSON, or a number above
// limit as soon as the bound passes it (so a document that aliases made huge is not walked whole).
func jsonSizeAtLeast(v any, limit int) int {
	n := 0
	var walk func(v any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case map[string]any:
			n += 2
			for k, val := range x {
				n += len(k) + 4
				if n > limit || !walk(val) {
					return false
				}
			}
		case []any:
			n += 2
			for _, val := range x {
				n++
				if n > limit || !walk(val) {
					return false
				}
			}
		case string:
			n += len(x) + 2
		case json.Number:
			n += len(x)
		default:
			n += 4
		}
		return n <= limit
	}
	walk(v)
	return n
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// Check processes the tree's root file alone, without following Locations or touching the
// store, and returns its problems: what `catalogd validate` prints.
func (e *Engine) Check(ctx context.Context, tree catalog.Tree) []store.ErrorRecord {
	rd := &read{loc: catalog.LocationSpec{Key: tree.URL(tree.Root)}, tree: tree, urls: e.URLs.NewSession(), optional: map[string]bool{}}
	r := e.processFile(ctx, rd, tree.Root)
	errs := r.errors
	first := map[string]int{}
	for _, ent := range r.entities {
		if doc, dup := first[ent.Ref]; dup {
			errs = append(errs, errorRecord(r.url, ent.DocIndex, ent.DocLine, ent.Ref, "",
				fmt.Sprintf("entity %s is defined twice in this file (first in document %d; refs are case-insensitive); this copy would be ignored", ent.Ref, doc)))
			continue
		}
		first[ent.Ref] = ent.DocIndex
	}
	return errs
}

// DryRun reads and processes a location as Refresh would, and returns the refs of the
// entities it would hold (at most maxRefs) and its processing errors. Nothing is stored.
func (e *Engine) DryRun(ctx context.Context, p Provider, maxRefs int) ([]string, []store.ErrorRecord, error) {
	tree, release, err := p.Read(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	b := e.Process(ctx, p.Location(), tree)
	refs := []string{}
	for part := range b.Parts {
		for _, r := range part {
			if len(refs) < maxRefs {
				refs = append(refs, r.Ref)
			}
		}
	}
	if b.Failed != nil {
		return nil, nil, b.Failed
	}
	sort.Strings(refs)
	return refs, b.Errors, nil
}

func (rd *read) remember(p string, m *fileMemo) {
	rd.nextMu.Lock()
	rd.next[p] = m
	rd.nextMu.Unlock()
}

func newFileMemo(sum [sha256.Size]byte, r *fileResult) *fileMemo {
	m := &fileMemo{sum: sum, errors: r.errors, keepRefs: r.keepRefs, targets: r.targets, optional: r.optional,
		entities: make([]memoEntity, len(r.entities))}
	for i, e := range r.entities {
		m.entities[i] = memoEntity{ref: e.Ref, hash: e.Hash, docIndex: e.DocIndex, docLine: e.DocLine, techdocs: r.techdocs[e.Ref]}
	}
	return m
}

// result is the file's result from the memo: its entities as stubs.
func (m *fileMemo) result(r fileResult) fileResult {
	r.errors, r.keepRefs, r.targets, r.optional = m.errors, m.keepRefs, m.targets, m.optional
	r.entities = make([]store.EntityRecord, len(m.entities))
	for i, e := range m.entities {
		r.entities[i] = store.EntityRecord{Ref: e.ref, Hash: e.hash, Source: r.url, DocIndex: e.docIndex, DocLine: e.docLine, Stub: true}
		if e.techdocs != "" {
			if r.techdocs == nil {
				r.techdocs = map[string]string{}
			}
			r.techdocs[e.ref] = e.techdocs
		}
	}
	return r
}

// hasGlob reports whether a Location entity names a target by a glob.
func hasGlob(e *catalog.Entity) bool {
	spec := e.Spec()
	ts, _ := spec["targets"].([]any)
	if t, ok := spec["target"].(string); ok {
		ts = append(ts, t)
	}
	for _, t := range ts {
		if s, ok := t.(string); ok && strings.ContainsAny(s, "*?[") {
			return true
		}
	}
	return false
}

// prefetchBudget bounds what a re-read holds in memory before it writes (documents' bytes and
// their docs').
const prefetchBudget = 64 << 20

// prefetch drains parts until they end or hold more than budget bytes of documents, and
// returns a sequence of what it read followed by the rest.
func prefetch(parts iter.Seq[[]store.EntityRecord], budget int) (iter.Seq[[]store.EntityRecord], bool, func()) {
	next, stop := iter.Pull(parts)
	var held [][]store.EntityRecord
	size, done := 0, false
	for size <= budget {
		p, ok := next()
		if !ok {
			done = true
			break
		}
		held = append(held, p)
		for i := range p {
			size += len(p[i].Document) + docsSize(p[i].Docs)
		}
	}
	return func(yield func([]store.EntityRecord) bool) {
		for i, p := range held {
			held[i] = nil
			if !yield(p) {
				return
			}
		}
		if done {
			return
		}
		for {
			p, ok := next()
			if !ok || !yield(p) {
				return
			}
		}
	}, done, stop
}
