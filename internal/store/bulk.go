package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"entgo.io/ent/dialect"
	"github.com/lib/pq"

	"catalogd/ent/entity"
	"catalogd/ent/relation"
	"catalogd/internal/catalog"
)

// entityRowColumns are the columns of a new entity row that differ from row to row, in the
// order sqliteEntityValues and flushPostgres give them; entitySharedColumns are the same for
// every row of an Apply.
var (
	entityRowColumns = []string{
		entity.FieldRef, entity.FieldKind, entity.FieldNamespace, entity.FieldName, entity.FieldAPIVersion,
		entity.FieldTitle, entity.FieldDescription, entity.FieldType, entity.FieldLifecycle,
		entity.FieldOwnerRef, entity.FieldSystemRef, entity.FieldTags, entity.FieldLabels, entity.FieldAnnotations,
		entity.FieldDocument, entity.FieldHash, entity.FieldSource,
	}
	entitySharedColumns = []string{entity.FieldLocation, entity.FieldCreatedAt, entity.FieldUpdatedAt}
)

var relationColumns = []string{relation.FieldEntityID, relation.FieldSourceRef, relation.FieldType, relation.FieldTargetRef}

const (
	// SQLite writes new rows with one multi-row INSERT per chunk. The chunk sizes are fixed so
	// the statement text is the same every time and is prepared once per Apply: compiling a
	// statement with thousands of parameters each time cost a tenth of the insert. Rows wait
	// in the writer until a whole chunk is there (or Apply reaches the end). Larger chunks
	// (1,600 entities, 8,000 relation rows) were slower; smaller ones no faster.
	sqliteEntityChunk   = 500  // 3 shared + 17 parameters a row
	sqliteRelationChunk = 4000 // 4 parameters a row; SQLite allows 32,766

	// PostgreSQL writes with one COPY per table once this many new entities (or eight times
	// as many relation rows) are queued. Every statement is a round trip, and while the
	// processing goroutines keep both cores busy, the writer waits for a scheduler time slice
	// to run again after each one (a query that takes 1 ms alone took 10 ms in an ingest):
	// with a COPY per part (a file, ~1,000 entities) the first ingest of 100,000 took 13 s,
	// with batches of 5,000 10 s. Larger batches were no faster and leave more to write after
	// the last part arrives.
	pgBatchEntities  = 5000
	pgBatchRelations = 8 * pgBatchEntities

	// appendCacheKiB is the SQLite page cache of a large first Apply (see shrinkCache).
	appendCacheKiB = 32 << 10

	// deferIndexesAt is how many new rows an Apply into an empty table writes before it drops
	// the table's indexes, to build them once at the end (see bulkWriter.maybeDeferIndexes).
	// Small applies are not worth the schema change.
	deferIndexesAt = 5000

	// PostgreSQL's deferIndexesAt, for relation rows and for entities (see bulkdefer.go).
	pgDeferRelationsAt = 20000
	pgDeferEntitiesAt  = 5000
)

// bulkWriter writes the new entities and relation rows of one Apply, batching them and using
// the fastest way each database has: on SQLite, prepared multi-row INSERTs; on PostgreSQL, COPY.
type bulkWriter struct {
	s    *Store
	conn *sql.Conn // the connection tx runs on
	tx   *sql.Tx
	loc  catalog.LocationSpec
	now  time.Time

	entities []*EntityRecord // new, not yet written (SQLite: less than a chunk between parts)
	rels     []relRow        // relation rows not yet written

	// SQLite statements for a whole chunk, prepared on first use; and the update statement.
	entityStmt, relationStmt, updateStmt *sql.Stmt
	// PostgreSQL: the temporary table of updates exists.
	updateTable bool
	// PostgreSQL: the sequence entity IDs come from, once looked up.
	entitySeq string

	// Tables that were empty at the start of the Apply: no conflicts are possible, and SQLite
	// may build their indexes at the end instead (maybeDeferIndexes).
	emptyEntities, emptyRelations bool
	written                       map[string]int // rows written per table
	deferred                      []string       // statements to run before commit: CREATE INDEX, and what bulkdefer.go puts off
	restore                       *[]string      // statements that set the connection back after the Apply

	revision string          // of the read, for the docs it writes
	docsSeen map[string]bool // refs whose docs this read named
	// docsKept are refs whose stored docs stay as they are (unchanged, or unreadable this
	// time); removeStaleDocs gives any another location stored to this one, in batches.
	docsKept []string
	// docsChanged: doc pages were written or removed.
	docsChanged bool
	// docsPending are docs to write, held back to be written together (flushDocs).
	docsPending []docsWrite
}

func (w *bulkWriter) close() {
	for _, st := range []*sql.Stmt{w.entityStmt, w.relationStmt, w.updateStmt} {
		if st != nil {
			st.Close()
		}
	}
}

// addEntities queues new entities (and their relations); full chunks are written at once.
func (w *bulkWriter) addEntities(ctx context.Context, recs []*EntityRecord) error {
	w.entities = append(w.entities, recs...)
	return w.flush(ctx, false)
}

// addRelations queues relation rows of an entity whose ID is known (an updated one).
func (w *bulkWriter) addRelations(id int, rels []catalog.Relation) {
	w.rels = appendRelations(w.rels, id, rels)
}

// flush writes what is queued. Unless final, it keeps back what does not fill a chunk
// (SQLite) or a batch (PostgreSQL).
func (w *bulkWriter) flush(ctx context.Context, final bool) error {
	if w.s.Dialect == dialect.Postgres {
		if final || len(w.entities) >= pgBatchEntities || len(w.rels) >= pgBatchRelations {
			return w.flushPostgres(ctx)
		}
		return nil
	}
	for len(w.entities) >= sqliteEntityChunk || (final && len(w.entities) > 0) {
		n := min(len(w.entities), sqliteEntityChunk)
		if err := w.maybeDeferIndexes(ctx, entity.Table, w.emptyEntities, n); err != nil {
			return err
		}
		ids, err := w.insertEntitiesSQLite(ctx, w.entities[:n])
		if err != nil {
			return err
		}
		for i, e := range w.entities[:n] {
			w.rels = appendRelations(w.rels, ids[i], e.Relations)
		}
		w.entities = w.entities[n:]
	}
	if len(w.entities) == 0 {
		w.entities = nil // let the written records go
	}
	for len(w.rels) >= sqliteRelationChunk || (final && len(w.rels) > 0) {
		n := min(len(w.rels), sqliteRelationChunk)
		if err := w.maybeDeferIndexes(ctx, relation.Table, w.emptyRelations, n); err != nil {
			return err
		}
		if err := w.insertRelationsSQLite(ctx, w.rels[:n]); err != nil {
			return err
		}
		w.rels = w.rels[n:]
	}
	if len(w.rels) == 0 {
		w.rels = nil
	}
	return nil
}

// maybeDeferIndexes is called before n more rows are written to table. When the table was
// empty at the start of the Apply and the Apply turns out large, it drops the table's
// indexes, to be built again before the commit: building an index from all rows at once
// (SQLite sorts them first) costs a fraction of keeping it up to date row by row, and the
// relation index on (source_ref, type) was written in random order. At 100,000 entities
// writing the rows took 2.4 s instead of 5 s, for 1.5 s of building the indexes.
//
// SQLite only. Its readers keep reading the snapshot they started with, which has the
// indexes (and no rows), until the commit brings rows and indexes together; the Apply holds
// the only write lock, so no other writer sees the table without them either. On
// PostgreSQL, DROP INDEX locks every reader of the table out until the commit: there it is
// done for the relations of a first Apply into an empty catalog only (bulkdefer.go).
func (w *bulkWriter) maybeDeferIndexes(ctx context.Context, table string, empty bool, n int) error {
	if !empty || w.s.Dialect != dialect.SQLite {
		return nil
	}
	before := w.written[table]
	w.written[table] = before + n
	if before >= deferIndexesAt || before+n < deferIndexesAt {
		return nil
	}
	if len(w.deferred) == 0 && w.emptyEntities && w.emptyRelations {
		if err := w.shrinkCache(ctx); err != nil {
			return err
		}
	}
	// The statements that made them, as SQLite keeps them: rebuilding from these keeps the
	// indexes exactly as the migration created them, whatever the schema says today.
	// The text index's triggers (see textindex.go) go too, and the index is left stale for
	// RebuildTextIndex, after the commit: building it here would lengthen the ingest by half.
	rows, err := w.tx.QueryContext(ctx, "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND tbl_name = ? AND sql IS NOT NULL", table)
	if err != nil {
		return fmt.Errorf("list indexes of %s: %w", table, err)
	}
	var types, names, defs []string
	for rows.Next() {
		var typ, name, def string
		if err := rows.Scan(&typ, &name, &def); err != nil {
			rows.Close()
			return fmt.Errorf("list indexes of %s: %w", table, err)
		}
		types = append(types, typ)
		names = append(names, name)
		defs = append(defs, def)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list indexes of %s: %w", table, err)
	}
	stale := map[*ftsIndex]bool{}
	for i, name := range names {
		if _, err := w.tx.ExecContext(ctx, "DROP "+strings.ToUpper(types[i])+" "+quoteIdent(name)); err != nil {
			return fmt.Errorf("drop %s %s: %w", types[i], name, err)
		}
		owned := false
		for _, x := range sqliteIndexes {
			if types[i] == "trigger" && x.ownsTrigger(name) {
				stale[x], owned = true, true // RebuildTextIndex brings its triggers back
			}
		}
		if !owned {
			w.deferred = append(w.deferred, defs[i])
		}
	}
	for _, x := range sqliteIndexes {
		if stale[x] {
			w.deferred = append(w.deferred, x.markStale())
		}
	}
	return nil
}

// shrinkCache lowers the connection's page cache for the rest of a large first Apply into an
// empty catalog (the Apply sets it back). The large cache Apply gives its connection
// (Options.SQLiteApplyCacheSize) serves applies into full tables, whose index pages are changed again and
// again: with 32 MiB a second location of 100,000 took 13 s instead of 9.5. Here rows are only appended, so a page that
// is full can go to the WAL at once, while processing still runs on the other core, instead
// of waiting in memory for the commit: at 100,000 entities the commit took 0.7 s instead of
// 0.8-1.6 s, and the ingest's peak RSS fell from 750 to 260 MB.
func (w *bulkWriter) shrinkCache(ctx context.Context) error {
	var old int64
	if err := w.tx.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&old); err != nil {
		return fmt.Errorf("read cache size: %w", err)
	}
	if old < -appendCacheKiB { // a negative size is in KiB
		if _, err := w.tx.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = %d", -appendCacheKiB)); err != nil {
			return fmt.Errorf("set cache size: %w", err)
		}
		*w.restore = append(*w.restore, fmt.Sprintf("PRAGMA cache_size = %d", old))
	}
	return nil
}

// buildDeferredIndexes creates the indexes maybeDeferIndexes dropped. A unique index fails to
// build if the rows break it, and then the Apply fails, as the insert would have.
func (w *bulkWriter) buildDeferredIndexes(ctx context.Context) error {
	for _, def := range w.deferred {
		if _, err := w.tx.ExecContext(ctx, def); err != nil {
			return fmt.Errorf("build index: %w", err)
		}
	}
	w.deferred = nil
	return nil
}

// insertSQL is a multi-row INSERT of n rows for SQLite. The shared columns take the same
// value in every row: they are bound once, as parameters ?1, ?2, ..., and each row repeats
// those names before its own anonymous parameters (which SQLite numbers on from the largest
// so far), so a statement binds fewer values (and the driver formats fewer times). Only the
// shared parameters have names: the driver looks up every parameter's name, and SQLite finds
// a name by a linear search, which made numbering every parameter quadratic.
//
// OR FAIL rather than the default ABORT: with ABORT, SQLite keeps a statement journal so that
// a failing statement can be undone alone, and in a large transaction nearly every page the
// statement touches was already changed, so each one was copied there first (a third of the
// insert time). A failed statement fails the whole Apply, which rolls the transaction back,
// so undoing one statement alone is never needed.
func insertSQL(table string, shared, columns []string, n int, returning string) string {
	var b strings.Builder
	b.WriteString("INSERT OR FAIL INTO ")
	b.WriteString(quoteIdent(table))
	b.WriteString(" (")
	for i, c := range append(shared[:len(shared):len(shared)], columns...) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteIdent(c))
	}
	b.WriteString(") VALUES ")
	var row strings.Builder
	row.WriteByte('(')
	for j := range shared {
		row.WriteString("?")
		row.WriteString(strconv.Itoa(j + 1))
		row.WriteString(", ")
	}
	row.WriteString("?" + strings.Repeat(", ?", len(columns)-1) + ")")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row.String())
	}
	if returning != "" {
		b.WriteString(" RETURNING ")
		b.WriteString(returning)
	}
	return b.String()
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// stmtFor returns the prepared statement for a whole chunk, or nil for a shorter one.
func (w *bulkWriter) stmtFor(ctx context.Context, cache **sql.Stmt, n, chunk int, query func() string) (*sql.Stmt, error) {
	if n != chunk {
		return nil, nil
	}
	if *cache == nil {
		st, err := w.tx.PrepareContext(ctx, query())
		if err != nil {
			return nil, err
		}
		*cache = st
	}
	return *cache, nil
}

// sqliteEntityValues appends the values of entityRowColumns for a new entity. JSON goes in
// as a BLOB, as ent writes it (and as rows ent updates later hold it).
func sqliteEntityValues(args []any, e *EntityRecord) []any {
	return append(args, e.Ref, e.Kind, e.Namespace, e.Name, e.APIVersion, e.Title, e.Description, e.Type, e.Lifecycle,
		e.OwnerRef, e.SystemRef, appendJSONStrings(nil, e.Tags), appendJSONObject(nil, e.Labels),
		appendJSONObject(nil, e.Annotations), []byte(e.Document), e.Hash, e.Source)
}

// insertEntitiesSQLite inserts one chunk and returns the new IDs in the order of recs.
func (w *bulkWriter) insertEntitiesSQLite(ctx context.Context, recs []*EntityRecord) ([]int, error) {
	args := make([]any, 0, len(entitySharedColumns)+len(recs)*len(entityRowColumns))
	args = append(args, w.loc.Key, w.now, w.now) // entitySharedColumns
	for _, e := range recs {
		args = sqliteEntityValues(args, e)
	}
	query := func() string {
		return insertSQL(entity.Table, entitySharedColumns, entityRowColumns, len(recs),
			quoteIdent(entity.FieldID)+", "+quoteIdent(entity.FieldRef))
	}
	st, err := w.stmtFor(ctx, &w.entityStmt, len(recs), sqliteEntityChunk, query)
	if err != nil {
		return nil, fmt.Errorf("insert entities: %w", err)
	}
	var rows *sql.Rows
	if st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = w.tx.QueryContext(ctx, query(), args...)
	}
	if err != nil {
		return nil, fmt.Errorf("insert entities: %w", err)
	}
	defer rows.Close()
	byRef := make(map[string]int, len(recs))
	for rows.Next() {
		var id int
		var ref string
		if err := rows.Scan(&id, &ref); err != nil {
			return nil, fmt.Errorf("insert entities: %w", err)
		}
		byRef[ref] = id
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("insert entities: %w", err)
	}
	return idsInOrder(recs, byRef)
}

func idsInOrder(recs []*EntityRecord, byRef map[string]int) ([]int, error) {
	ids := make([]int, len(recs))
	for i, e := range recs {
		id, ok := byRef[e.Ref]
		if !ok {
			return nil, fmt.Errorf("insert entities: no ID returned for %s (%d returned for %d inserted)", e.Ref, len(byRef), len(recs))
		}
		ids[i] = id
	}
	return ids, nil
}

func (w *bulkWriter) insertRelationsSQLite(ctx context.Context, rows []relRow) error {
	args := make([]any, 0, len(rows)*len(relationColumns))
	for _, r := range rows {
		args = append(args, r.entityID, r.r.Source, r.r.Type, r.r.Target)
	}
	query := func() string { return insertSQL(relation.Table, nil, relationColumns, len(rows), "") }
	st, err := w.stmtFor(ctx, &w.relationStmt, len(rows), sqliteRelationChunk, query)
	if err != nil {
		return fmt.Errorf("insert relations: %w", err)
	}
	if st != nil {
		_, err = st.ExecContext(ctx, args...)
	} else {
		_, err = w.tx.ExecContext(ctx, query(), args...)
	}
	if err != nil {
		return fmt.Errorf("insert relations: %w", err)
	}
	return nil
}

// flushPostgres writes everything queued with COPY: the new entities, with IDs taken from the
// table's sequence beforehand (COPY returns nothing; reading the IDs back by ref cost a tenth
// of the insert), then the relation rows. COPY skips parsing and planning statements with
// tens of thousands of parameters, and the server inserts its rows in batches.
func (w *bulkWriter) flushPostgres(ctx context.Context) error {
	if len(w.entities) > 0 {
		recs := w.entities
		w.entities = nil
		if err := w.maybeDeferTagsPostgres(ctx, len(recs)); err != nil {
			return err
		}
		ids, err := w.nextEntityIDs(ctx, len(recs))
		if err != nil {
			return err
		}
		columns := append([]string{entity.FieldID}, entityRowColumns...)
		columns = append(columns, entitySharedColumns...)
		// The values every row shares, encoded once.
		shared := appendCopyString(nil, w.loc.Key)
		now := pq.FormatTimestamp(w.now)
		shared = append(append(append(append(shared, '\t'), now...), '\t'), now...)
		var js []byte
		err = w.copyIn(ctx, entity.Table, columns, len(recs), func(b []byte, i int) []byte {
			b, js = appendEntityCopyRow(b, js, ids[i], recs[i])
			return append(append(b, '\t'), shared...) // entitySharedColumns
		})
		if err != nil {
			return fmt.Errorf("insert entities: %w", err)
		}
		for i, e := range recs {
			w.rels = appendRelations(w.rels, ids[i], e.Relations)
		}
	}
	if len(w.rels) > 0 {
		rels := w.rels
		w.rels = nil
		// In the order of the (source_ref, type) index, so that consecutive rows go to the
		// same index pages: the index, written in random order, is most of the server's
		// work for relations (a batch sorted saved 0.3 s of 10 at 100,000 entities). Rows
		// are read back ordered by their columns, never by ID.
		slices.SortFunc(rels, func(a, b relRow) int {
			if c := strings.Compare(a.r.Source, b.r.Source); c != 0 {
				return c
			}
			return strings.Compare(a.r.Type, b.r.Type)
		})
		if err := w.maybeDeferRelationIndexesPostgres(ctx, len(rels)); err != nil {
			return err
		}
		err := w.copyIn(ctx, relation.Table, relationColumns, len(rels), func(b []byte, i int) []byte {
			r := &rels[i]
			b = strconv.AppendInt(b, int64(r.entityID), 10)
			b = appendCopyString(append(b, '\t'), r.r.Source)
			b = appendCopyString(append(b, '\t'), r.r.Type)
			return appendCopyString(append(b, '\t'), r.r.Target)
		})
		if err != nil {
			return fmt.Errorf("insert relations: %w", err)
		}
	}
	return nil
}

// nextEntityIDs takes n IDs from the sequence behind entities.id, the one an INSERT without
// an ID would have used. The server hands back only the range when the IDs are consecutive,
// as they are unless another session draws from the sequence at the same time; else the IDs
// themselves. (Naming the sequence by text made the server look it up for every ID.)
func (w *bulkWriter) nextEntityIDs(ctx context.Context, n int) ([]int, error) {
	if w.entitySeq == "" {
		var seq sql.NullString
		if err := w.tx.QueryRowContext(ctx, "SELECT pg_get_serial_sequence($1, $2)", quoteIdent(entity.Table), entity.FieldID).Scan(&seq); err != nil {
			return nil, fmt.Errorf("find the entity ID sequence: %w", err)
		}
		if !seq.Valid {
			return nil, fmt.Errorf("find the entity ID sequence: %s.%s has none", entity.Table, entity.FieldID)
		}
		w.entitySeq = seq.String
	}
	var lo, hi, count int
	if err := w.tx.QueryRowContext(ctx, "SELECT min(v), max(v), count(*) FROM (SELECT nextval($1::regclass) AS v FROM generate_series(1, $2)) s",
		w.entitySeq, n).Scan(&lo, &hi, &count); err != nil {
		return nil, fmt.Errorf("allocate entity IDs: %w", err)
	}
	ids := make([]int, 0, n)
	if count == n && hi-lo+1 == n {
		for id := lo; id <= hi; id++ {
			ids = append(ids, id)
		}
		return ids, nil
	}
	rows, err := w.tx.QueryContext(ctx, "SELECT nextval($1::regclass) FROM generate_series(1, $2)", w.entitySeq, n)
	if err != nil {
		return nil, fmt.Errorf("allocate entity IDs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("allocate entity IDs: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("allocate entity IDs: %w", err)
	}
	if len(ids) != n {
		return nil, fmt.Errorf("allocate entity IDs: %d for %d entities", len(ids), n)
	}
	return ids, nil
}

// copyIn runs COPY table (columns) FROM STDIN in the transaction, with n rows that row
// appends in COPY's text format. It feeds the driver's connection directly: through
// database/sql each row was a statement execution of its own, whose argument conversion
// and per-value encoding cost twice what encoding the rows here does.
func (w *bulkWriter) copyIn(ctx context.Context, table string, columns []string, n int, row func(b []byte, i int) []byte) error {
	var q strings.Builder
	q.WriteString("COPY ")
	q.WriteString(quoteIdent(table))
	q.WriteString(" (")
	for i, c := range columns {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(quoteIdent(c))
	}
	q.WriteString(") FROM STDIN")
	return w.conn.Raw(func(dc any) (err error) {
		c, ok := dc.(driver.Conn)
		if !ok {
			return fmt.Errorf("COPY: driver connection %T", dc)
		}
		st, err := c.Prepare(q.String())
		if err != nil {
			return err
		}
		defer func() {
			if cerr := st.Close(); err == nil {
				err = cerr
			}
		}()
		cd, ok := st.(copyDataStmt)
		if !ok {
			return fmt.Errorf("COPY: driver statement %T cannot take data", st)
		}
		const chunk = 256 << 10
		buf := make([]byte, 0, chunk+8<<10)
		for i := range n {
			if len(buf) > 0 {
				buf = append(buf, '\n')
			}
			buf = row(buf, i)
			if len(buf) >= chunk || i == n-1 {
				// CopyData adds the newline that ends the last row of the chunk. It copies
				// the data into its own buffer before it returns, so the string may share
				// buf's memory; converting it instead allocated as much as the data is long.
				if _, err := cd.CopyData(ctx, unsafe.String(unsafe.SliceData(buf), len(buf))); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
		// An Exec without arguments ends the COPY and reports errors of any row.
		_, err = st.Exec(nil) //nolint:staticcheck // the driver's way to end a COPY
		return err
	})
}

// copyDataStmt is what lib/pq's statement for COPY ... FROM STDIN offers beyond database/sql:
// CopyData sends raw rows (lib/pq v1.12's own CopyIn path takes one Exec per row). It is not
// part of lib/pq's documented API, so TestLibPQCopyStatementTakesCopyData (PostgreSQL suite)
// fails the day a lib/pq upgrade drops it, rather than ingestion failing in production.
type copyDataStmt interface {
	CopyData(ctx context.Context, line string) (driver.Result, error)
}

// appendEntityCopyRow appends the id and entityRowColumns of e as the start of a row in COPY's
// text format; js is scratch space for its JSON columns, returned for reuse.
func appendEntityCopyRow(b, js []byte, id int, e *EntityRecord) ([]byte, []byte) {
	b = strconv.AppendInt(b, int64(id), 10)
	for _, v := range [...]string{e.Ref, e.Kind, e.Namespace, e.Name, e.APIVersion, e.Title, e.Description,
		e.Type, e.Lifecycle, e.OwnerRef, e.SystemRef} {
		b = appendCopyString(append(b, '\t'), v)
	}
	js = appendJSONStrings(js[:0], e.Tags)
	b = appendCopyBytes(append(b, '\t'), js)
	js = appendJSONObject(js[:0], e.Labels)
	b = appendCopyBytes(append(b, '\t'), js)
	js = appendJSONObject(js[:0], e.Annotations)
	b = appendCopyBytes(append(b, '\t'), js)
	b = appendCopyBytes(append(b, '\t'), e.Document)
	b = appendCopyString(append(b, '\t'), e.Hash)
	b = appendCopyString(append(b, '\t'), e.Source)
	return b, js
}

// appendCopyString appends s as a value of COPY's text format: backslash, newline, carriage
// return and tab escaped.
func appendCopyString(b []byte, s string) []byte {
	for {
		i := copySpecial(s)
		if i < 0 {
			return append(b, s...)
		}
		b = append(b, s[:i]...)
		b = appendCopyEscape(b, s[i])
		s = s[i+1:]
	}
}

// appendCopyBytes is appendCopyString for bytes.
func appendCopyBytes(b, s []byte) []byte {
	for {
		i := copySpecial(string(s))
		if i < 0 {
			return append(b, s...)
		}
		b = append(b, s[:i]...)
		b = appendCopyEscape(b, s[i])
		s = s[i+1:]
	}
}

// copySpecial returns the index of the first byte COPY's text format escapes, or -1. On long
// values (the JSON documents, which rarely hold any) four vectorised searches, each shortened
// by the last match, beat a byte-by-byte loop; on short ones (refs) the loop wins.
func copySpecial(s string) int {
	if len(s) < 64 {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c <= '\\' && (c == '\\' || c == '\n' || c == '\r' || c == '\t') {
				return i
			}
		}
		return -1
	}
	i := -1
	for _, c := range [...]byte{'\\', '\n', '\r', '\t'} {
		if j := strings.IndexByte(s, c); j >= 0 {
			i, s = j, s[:j]
		}
	}
	return i
}

func appendCopyEscape(b []byte, c byte) []byte {
	switch c {
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	return append(b, '\\', c)
}

// newBulkWriter starts the writer of an Apply; existing is how many entities the location had.
func newBulkWriter(ctx context.Context, s *Store, conn *sql.Conn, tx *sql.Tx, loc catalog.LocationSpec, existing int, now time.Time,
	restore *[]string) (*bulkWriter, error) {
	w := &bulkWriter{s: s, conn: conn, tx: tx, loc: loc, now: now, written: map[string]int{}, restore: restore}
	// Only a location that has no entities yet can find empty tables, and then nothing of
	// what it writes is ever deleted or looked up by an index during the Apply.
	if existing == 0 {
		var err error
		if w.emptyEntities, err = isEmpty(ctx, tx, entity.Table); err != nil {
			return nil, err
		}
		if w.emptyRelations, err = isEmpty(ctx, tx, relation.Table); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func isEmpty(ctx context.Context, tx *sql.Tx, table string) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, "SELECT 1 FROM "+quoteIdent(table)+" LIMIT 1").Scan(&one)
	if err == sql.ErrNoRows {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("check %s: %w", table, err)
	}
	return false, nil
}
