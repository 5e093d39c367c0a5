// Command loadgen benchmarks a catalogd binary on synthetic catalogs.
//
// For each database and catalog size it generates a catalog with
// internal/synth, runs `catalogd ingest` (wall time and peak RSS), starts
// `catalogd serve` on the ingested database, and drives GraphQL load phases
// against it, each at a fixed concurrency for a fixed duration (or request
// count). It prints a markdown table and writes it to bench-results/.
//
// It is normally run through scripts/bench, which builds the binary:
//
//	scripts/bench -n 10000 -duration 5s -impact
//
// With -mix it runs one mixed load instead of the phases, over one or several replicas on one
// database while a location changes (see mix.go):
//
//	scripts/bench -n 100000 -db postgres -mix -replicas 1,2 -concurrency 50 -duration 60s
//
// Databases: sqlite (a file in the run's temp dir) and postgres, which needs
// CATALOGD_BENCH_POSTGRES, the URL of a server where psql may create and drop
// a database per run (e.g. postgres://postgres@127.0.0.1:5432/postgres).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"catalogd/internal/synth"
)

const (
	entityQuery = `query($ref:String!){ entity(ref:$ref){ id ref kind name title description tags ... on Component { type lifecycle owner { ref name title } system { ref name } } relations { type targetRef target { ref kind name title } } } }`
	listQuery   = `query($owner:String){ entities(filter:{kind:["Component"], owner:$owner}, first:50){ totalCount pageInfo{hasNextPage endCursor} edges{ cursor node { ref name title ... on Component { lifecycle owner { ref } } } } } }`
	impactQuery = `query($ref:String!){ impact(ref:$ref){ totalAffected affected{ ref depth } owners{ ref entityRefs } } }`
	depsQuery   = `query($ref:String!){ dependencies(ref:$ref){ totalAffected affected{ ref depth } owners{ ref entityRefs } } }`

	// The query-path issue's set: what Backstage's REST answer carries for an entity
	// (ref kind apiVersion metadata spec relations), one by name and 50 of one owner; the text
	// filter; and the impact of the largest of the first 30 resources.
	floorQuery       = `{ __typename }`
	wholeEntityQuery = `query($ref:String!){ entity(ref:$ref){ ref kind apiVersion metadata spec relations { type targetRef } } }`
	wholeListQuery   = `query($owner:String){ entities(filter:{kind:["Component"], owner:$owner}, first:50){ edges{ node { ref kind apiVersion metadata spec relations { type targetRef } } } } }`
	textQuery        = `query($text:String){ entities(filter:{text:$text}, first:50){ totalCount edges{ node { ref title } } } }`
	resourcesQuery   = `{ entities(filter:{kind:["Resource"]}, first:30, orderBy:{field: REF, direction: ASC}){ edges{ node { ref } } } }`
	largestQuery     = `query($ref:String!){ impact(ref:$ref){ totalAffected affected{ ref depth path } } }`
	postgresEnv      = "CATALOGD_BENCH_POSTGRES"
	// defaultAffectedPage is affected's page when first is absent (graph/model.DefaultAffectedPage).
	defaultAffectedPage = 10_000

	// Search as a search box sends it while someone types, and facets for a catalog page.
	searchQuery = `query($q:String!){ search(query:$q, first:20){ totalCount edges{ cursor node{ entity{ ref kind name title } page{ path title } snippet score } } } }`
	facetsQuery = `query($kinds:[String!]){ facets(fields:["kind","spec.type","spec.lifecycle","owner","tags"], filter:{kind:$kinds}){ field values{ value count } } }`
)

var (
	flagN           = flag.String("n", "10000,100000", "comma-separated catalog sizes (entities)")
	flagDB          = flag.String("db", "", "comma-separated databases: sqlite, postgres (default: sqlite, plus postgres when $"+postgresEnv+" is set)")
	flagDuration    = flag.Duration("duration", 10*time.Second, "duration of each load phase")
	flagRequests    = flag.Int("requests", 0, "requests per load phase instead of -duration (0: use -duration)")
	flagConcurrency = flag.Int("concurrency", 10, "concurrent clients per load phase")
	flagImpact      = flag.Bool("impact", false, "also run the impact and dependencies phases")
	flagKeep        = flag.Bool("keep", false, "keep temp dirs (catalog, database, logs) and postgres databases")
	flagBinary      = flag.String("catalogd", "catalogd", "path of the catalogd binary")
	flagSeed        = flag.Int64("seed", 1, "seed of the synthetic catalogs")
	flagShape       = flag.String("shape", "", "shape of the synthetic catalogs: \"\" (default) or dense (see internal/synth)")
	flagOut         = flag.String("out", "bench-results", "directory for the markdown report (empty: don't write one)")
	flagReady       = flag.Duration("ready-timeout", 3*time.Minute, "how long to wait for /readyz")
	flagRuns        = flag.Int("runs", 1, "runs of each load phase; the report gives the medians of p50, p99 and req/s")
	flagDocs        = flag.Bool("docs", false, "give every second component a techdocs site (about one doc page per two entities)")
	flagPhases      = flag.String("phases", "", "comma-separated prefixes of the load phases to run (default: all), e.g. search,facets")
	flagNoWarm      = flag.Bool("no-warm", false, "measure each phase from its first request: without the unmeasured pass that first asks each of its distinct requests once")
	flagServeArgs   = flag.String("serve-args", "", "space-separated arguments added to every `catalogd serve`, e.g. \"--answer-cache-size 0\" to measure without the answer cache")
)

// row is one line of the result table.
type row struct {
	db, phase        string
	n                int
	requests, errors int
	p50, p99         time.Duration
	rps              float64
	// serverCPU is the server process's CPU time (user and system) per request: what the
	// machine's shared cores spent on each answer, less noisy than latency when comparing
	// builds. Zero when unknown.
	serverCPU time.Duration
	note      string
}

// catalogInfo describes one generated catalog for the report.
type catalogInfo struct {
	n     int
	st    synth.Stats
	took  time.Duration
	bytes int64
}

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: loadgen [flags]\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	log := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	if urls := splitList(*flagURLs); len(urls) > 0 {
		started := time.Now()
		rows := mixURLs(urls, log)
		report := render(started, []string{"urls " + strings.Join(urls, " ")}, nil, rows)
		fmt.Print(report)
		for _, r := range rows {
			if r.errors > 0 {
				os.Exit(1)
			}
		}
		return
	}

	sizes, err := parseSizes(*flagN)
	if err != nil {
		fatal(err)
	}
	dbs := splitList(*flagDB)
	if len(dbs) == 0 {
		dbs = []string{"sqlite"}
		if os.Getenv(postgresEnv) != "" {
			dbs = append(dbs, "postgres")
		}
	}
	for _, db := range dbs {
		switch db {
		case "sqlite":
		case "postgres":
			if os.Getenv(postgresEnv) == "" {
				fatal(fmt.Errorf("-db postgres needs $%s (a postgres:// URL of a server)", postgresEnv))
			}
		default:
			fatal(fmt.Errorf("unknown database %q (want sqlite or postgres)", db))
		}
	}
	bin, err := exec.LookPath(*flagBinary)
	if err != nil {
		fatal(fmt.Errorf("catalogd binary: %w", err))
	}
	if bin, err = filepath.Abs(bin); err != nil {
		fatal(err)
	}

	started := time.Now()
	failed := false
	var rows []row
	var catalogs []catalogInfo
	for _, db := range dbs {
		for _, n := range sizes {
			log("== %s, N=%d", db, n)
			r := &run{db: db, n: n, bin: bin, log: log}
			r.do()
			rows = append(rows, r.rows...)
			failed = failed || r.failed
			if len(catalogs) < len(sizes) && r.info.n != 0 {
				catalogs = append(catalogs, r.info)
			}
		}
	}

	report := render(started, dbs, catalogs, rows)
	fmt.Print(report)
	if *flagOut != "" {
		if err := os.MkdirAll(*flagOut, 0o755); err != nil {
			fatal(err)
		}
		path := filepath.Join(*flagOut, started.UTC().Format("20060102T150405Z")+".md")
		if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
			fatal(err)
		}
		log("report written to %s", path)
	}
	if failed {
		os.Exit(1)
	}
}

// run is one (database, N) combination.
type run struct {
	db     string
	n      int
	bin    string
	log    func(string, ...any)
	tmp    string
	info   catalogInfo
	rows   []row
	failed bool // setup, ingest or serve failed
}

func (r *run) fail(phase string, err error) {
	r.log("  %s failed: %v", phase, err)
	r.failed = true
	r.rows = append(r.rows, row{db: r.db, n: r.n, phase: phase, errors: 1, note: "FAILED: " + oneLine(err.Error(), 200)})
}

// do runs the whole sequence for one (database, N), appending to r.rows.
func (r *run) do() {
	var err error
	r.tmp, err = os.MkdirTemp("", fmt.Sprintf("catalogd-bench-%s-%d-", r.db, r.n))
	if err != nil {
		r.fail("setup", err)
		return
	}
	if *flagKeep {
		r.log("  keeping %s", r.tmp)
	} else {
		defer os.RemoveAll(r.tmp)
	}

	// 1. Generate the catalog.
	t0 := time.Now()
	st, err := synth.Write(filepath.Join(r.tmp, "catalog"), synth.Config{N: r.n, Seed: *flagSeed, Shape: synth.Shape(*flagShape), Docs: *flagDocs, Hubs: *flagImpact})
	if err != nil {
		r.fail("generate", err)
		return
	}
	r.info = catalogInfo{n: r.n, st: st, took: time.Since(t0), bytes: dirSize(filepath.Join(r.tmp, "catalog"))}
	r.log("  generated %d entities, %d relations in %d files (%.1f MB) in %v",
		st.Entities, st.DeclaredRelations, st.Files, float64(r.info.bytes)/1e6, r.info.took.Round(time.Millisecond))

	// The database.
	var dbURL string
	switch r.db {
	case "sqlite":
		dbURL = "sqlite:" + filepath.Join(r.tmp, "catalog.db")
	case "postgres":
		var drop func()
		dbURL, drop, err = createPostgres(r.n)
		if err != nil {
			r.fail("createdb", err)
			return
		}
		if *flagKeep {
			r.log("  keeping database %s", redact(dbURL))
		} else {
			defer drop()
		}
	}

	// 2. Ingest.
	res, err := r.ingest(dbURL, st.Root)
	if err != nil {
		r.fail("ingest", err)
		return
	}
	r.rows = append(r.rows, res)
	if *flagMix {
		r.mix(dbURL, st)
		return
	}

	// 3. Serve.
	srv, err := r.serve(dbURL)
	if err != nil {
		r.fail("serve", err)
		return
	}
	defer func() {
		rss := srv.stop()
		r.rows = append(r.rows, row{db: r.db, n: r.n, phase: "serve (after load)", note: fmt.Sprintf("peak RSS %s", mib(rss))})
	}()

	// serve builds the text index after a first ingest in the background (and says so in its
	// log); until then the text filter scans. Then it builds search's in-memory index, which a
	// first search waits for: one search here, so the phases do not measure the build.
	if err := srv.waitForLog("built the text index", *flagReady); err != nil {
		r.log("  %v; measuring anyway", err)
	}

	// 4. Load phases.
	client := &http.Client{
		Timeout:   2 * time.Minute,
		Transport: &http.Transport{MaxIdleConns: *flagConcurrency, MaxIdleConnsPerHost: *flagConcurrency},
	}
	endpoint := srv.base + "/graphql"
	warmStart := time.Now()
	var warm struct{ Search struct{ TotalCount int } }
	if err := query(client, endpoint, `query{ search(query:"warm", first:1){ totalCount } }`, nil, &warm); err != nil {
		r.log("  warm-up search: %v; measuring anyway", err)
	} else {
		r.log("  search index ready after %v", time.Since(warmStart).Round(time.Millisecond))
	}
	comps, owners := st.SampleComponents, st.SampleOwners
	words := textSamples(comps)
	phases := []phase{
		// The floor under every phase: the smallest answer, from the answer cache, through the
		// same HTTP, GraphQL and generation read as the others.
		{name: "floor", query: floorQuery, vars: one(nil), check: nullCheck("__typename")},
		{name: "entity", query: entityQuery, vars: each("ref", comps), check: nullCheck("entity")},
		{name: "whole entity", query: wholeEntityQuery, vars: each("ref", comps), check: nullCheck("entity")},
		{name: "list 50 by owner", query: listQuery, vars: each("owner", owners), check: emptyPageCheck},
		{name: "list 50 whole", query: wholeListQuery, vars: each("owner", owners), check: emptyPageCheck},
		{name: "text filter", query: textQuery, vars: each("text", words), check: emptyPageCheck, note: fmt.Sprintf("%d words such as %q", len(words), words[0])},
	}
	prefixes2, prefixes4, names := searchSamples(comps)
	phases = append(phases,
		phase{name: "search name", query: searchQuery, vars: each("q", names), check: searchCheck, note: fmt.Sprintf("%d names such as %q", len(names), names[0])},
		phase{name: "search prefix 2", query: searchQuery, vars: each("q", prefixes2), check: searchCheck, note: fmt.Sprintf("%d prefixes such as %q", len(prefixes2), prefixes2[0])},
		phase{name: "search prefix 4", query: searchQuery, vars: each("q", prefixes4), check: searchCheck, note: fmt.Sprintf("%d prefixes such as %q", len(prefixes4), prefixes4[0])},
	)
	if len(st.SampleDocWords) > 0 {
		phases = append(phases, phase{name: "search doc word", query: searchQuery, vars: each("q", st.SampleDocWords), check: searchCheck,
			note: fmt.Sprintf("%d words of doc pages only, such as %q", len(st.SampleDocWords), st.SampleDocWords[0])})
	}
	phases = append(phases,
		phase{name: "facets 5", query: facetsQuery, vars: one(map[string]any{"kinds": nil})},
		phase{name: "facets 5 components", query: facetsQuery, vars: one(map[string]any{"kinds": []string{"Component"}})},
	)
	if *flagImpact {
		ref, total, err := largestImpact(client, endpoint)
		if err != nil {
			r.fail("impact largest of 30", err)
		} else {
			phases = append(phases, phase{name: "impact largest of 30", query: largestQuery,
				vars:  one(map[string]any{"ref": ref}),
				check: totalCheck("impact"), note: fmt.Sprintf("%s: %d affected", ref, total)})
		}
		// The same question about the generator's most used resource: thousands affected.
		phases = append(phases, phase{name: "impact hot paths", query: largestQuery,
			vars:  one(map[string]any{"ref": st.HotResource}),
			check: totalCheck("impact"), note: st.HotResource})
		// The generator's hubs, which about 6.9 % and 69 % of the catalog depend on (issue 7's
		// catalog: 6,902 and 68,937 affected at 10k and 100k). The query asks for affected
		// without first, as a UI does, so the answer holds its default page: the first
		// DefaultAffectedPage entities by depth and ref, with their paths, and totalAffected.
		for _, h := range []struct {
			name, ref string
			deps      int
		}{{"impact hub 7k", st.IdentityHub, st.IdentityDependents}, {"impact hub 70k", st.NetworkHub, st.NetworkDependents}} {
			phases = append(phases, phase{name: h.name, query: largestQuery,
				vars:  one(map[string]any{"ref": h.ref}),
				check: totalCheck("impact"),
				note:  fmt.Sprintf("%s: %d dependents, answer lists %d", h.ref, h.deps, min(h.deps, defaultAffectedPage))})
		}
	}
	if *flagImpact {
		for _, p := range []struct{ field, query string }{{"impact", impactQuery}, {"dependencies", depsQuery}} {
			for _, target := range []struct {
				label, ref string
				bfs        int
			}{{"hot", st.HotResource, st.HotDependents}, {"cold", st.ColdResource, st.ColdDependents}} {
				want := ""
				if p.field == "impact" {
					want = fmt.Sprintf(" (generator BFS: %d dependents)", target.bfs)
				}
				phases = append(phases, phase{
					name:  fmt.Sprintf("%s %s", p.field, target.label),
					query: p.query,
					vars:  one(map[string]any{"ref": target.ref}),
					check: totalCheck(p.field),
					note:  target.ref + want,
				})
			}
		}
	}
	for _, p := range phases {
		if !selected(p.name) {
			continue
		}
		res := p.runMedian(client, endpoint, max(1, *flagRuns), srv.cpu)
		res.db, res.n = r.db, r.n
		r.log("  %-18s %6d req  %4d err  p50 %8s  p99 %8s  %8.1f req/s  %s", p.name, res.requests, res.errors,
			ms(res.p50), ms(res.p99), res.rps, res.note)
		r.rows = append(r.rows, res)
	}
}

func (r *run) ingest(dbURL, root string) (row, error) {
	logPath := filepath.Join(r.tmp, "ingest.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return row{}, err
	}
	defer logf.Close()
	var tail bytes.Buffer
	cmd := exec.Command(r.bin, "ingest", "--database", dbURL, "--location", root)
	cmd.Stdout = io.MultiWriter(logf, &tail)
	cmd.Stderr = cmd.Stdout
	r.log("  ingest: %s", strings.Join(redactArgs(cmd.Args), " "))
	t0 := time.Now()
	err = cmd.Run()
	wall := time.Since(t0)
	if err != nil {
		return row{}, fmt.Errorf("%w: %s", err, lastLines(tail.String(), 5))
	}
	rss := maxRSS(cmd.ProcessState)
	r.log("  ingest took %v, peak RSS %s; it said: %s", wall.Round(time.Millisecond), mib(rss), lastLines(tail.String(), 3))
	return row{
		db: r.db, n: r.n, phase: "ingest", requests: r.info.st.Entities,
		note: fmt.Sprintf("wall %.2f s, peak RSS %s, %.0f entities/s%s", wall.Seconds(), mib(rss), float64(r.info.st.Entities)/wall.Seconds(), docsNote(r.info.st, wall)),
	}, nil
}

type server struct {
	cmd  *exec.Cmd
	base string
	done chan struct{}
	logf *os.File
}

func (r *run) serve(dbURL string) (*server, error) { return r.serveWith(dbURL, "serve.log") }

// cpu is the CPU time the server process has used so far, user and system (0 when it cannot
// be read: /proc/PID/stat is Linux's).
func (s *server) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The fields after the command name (which may hold spaces, in parentheses): utime and
	// stime are the 12th and 13th, in clock ticks of 1/100 s (USER_HZ on Linux).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// serveWith starts `catalogd serve` with more arguments, logging to logName in the run's dir.
func (r *run) serveWith(dbURL, logName string, args ...string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(r.tmp, logName))
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s := &server{
		cmd:  exec.Command(r.bin, append(append([]string{"serve", "--addr", addr, "--database", dbURL}, strings.Fields(*flagServeArgs)...), args...)...),
		base: "http://" + addr,
		done: make(chan struct{}),
		logf: logf,
	}
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	r.log("  serve: %s", strings.Join(redactArgs(s.cmd.Args), " "))
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { s.cmd.Wait(); close(s.done) }()

	t0 := time.Now()
	deadline := t0.Add(*flagReady)
	probe := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-s.done:
			logf.Close()
			log, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("catalogd serve exited (%v) before it was ready: %s", s.cmd.ProcessState, lastLines(string(log), 5))
		case <-time.After(100 * time.Millisecond):
		}
		if resp, err := probe.Get(s.base + "/readyz"); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				r.log("  ready after %v", time.Since(t0).Round(time.Millisecond))
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("/readyz not 200 after %v", *flagReady)
		}
	}
}

// waitForLog waits until the server's log holds text.
func (s *server) waitForLog(text string, timeout time.Duration) error {
	t0 := time.Now()
	for time.Since(t0) < timeout {
		if b, err := os.ReadFile(s.logf.Name()); err == nil && bytes.Contains(b, []byte(text)) {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("catalogd serve exited before its log said %q", text)
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("catalogd serve's log did not say %q within %v", text, timeout)
}

// stop terminates the server (SIGTERM, then SIGKILL after 15 s) and returns
// its peak RSS in KiB.
func (s *server) stop() int64 {
	defer s.logf.Close()
	select {
	case <-s.done:
	default:
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	}
	return maxRSS(s.cmd.ProcessState)
}

// phase is one load phase: the same query with per-request variables.
type phase struct {
	name  string
	query string
	// vars are the variables the phase asks with, in turn: request k has vars[k%len(vars)].
	// Their bodies are encoded once, before the clock runs, as autocannon sends the bodies it
	// was given.
	vars  []map[string]any
	check func(data json.RawMessage) (anomaly, note string) // optional
	note  string
}

type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message string `json:"message"`
	} `json:"errors"`
}

// runMedian runs the phase n times and returns the medians of p50, p99 and req/s.
func (p phase) runMedian(client *http.Client, endpoint string, n int, cpu func() time.Duration) row {
	var cold string
	if !*flagNoWarm {
		// Each of the phase's distinct requests once, unmeasured: the runs then measure the
		// server as a UI meets it after its first visits, not the first computation of each
		// answer (which the cold pass's p99 reports).
		w := p.run(client, endpoint, len(p.vars))
		cold = fmt.Sprintf("cold pass of %d requests: p99 %s", w.requests, ms(w.p99))
		if w.errors > 0 {
			cold += fmt.Sprintf(", %d errors", w.errors)
		}
	}
	var runs []row
	for range n {
		before := cpu()
		r := p.run(client, endpoint, 0)
		if used := cpu() - before; before > 0 && r.requests > 0 {
			r.serverCPU = used / time.Duration(r.requests)
		}
		runs = append(runs, r)
	}
	if n == 1 {
		runs[0].note = cpuNote(runs[0].serverCPU, joinNotes(cold, runs[0].note))
		return runs[0]
	}
	med := func(f func(row) float64) float64 {
		v := make([]float64, n)
		for i, r := range runs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[n/2]
	}
	out := runs[0]
	out.p50 = time.Duration(med(func(r row) float64 { return float64(r.p50) }))
	out.p99 = time.Duration(med(func(r row) float64 { return float64(r.p99) }))
	out.rps = med(func(r row) float64 { return r.rps })
	out.serverCPU = time.Duration(med(func(r row) float64 { return float64(r.serverCPU) }))
	p99s := make([]string, n)
	for i, r := range runs {
		out.requests += r.requests
		out.errors += r.errors
		p99s[i] = ms(r.p99)
	}
	out.requests -= runs[0].requests
	out.errors -= runs[0].errors
	out.note = cpuNote(out.serverCPU, joinNotes(fmt.Sprintf("median of %d runs (p99s %s)", n, strings.Join(p99s, ", ")), cold, out.note))
	return out
}

// joinNotes joins the notes that are not empty.
func joinNotes(notes ...string) string {
	var out []string
	for _, n := range notes {
		if n != "" {
			out = append(out, n)
		}
	}
	return strings.Join(out, "; ")
}

// cpuNote puts the server's CPU per request in front of note.
func cpuNote(cpu time.Duration, note string) string {
	if cpu <= 0 {
		return note
	}
	return joinNotes(fmt.Sprintf("server CPU %.0f µs/req", float64(cpu)/float64(time.Microsecond)), note)
}

// The answers a phase checks (phase.check): the first checkFirst, which covers every sample
// it asks about, and then one in checkEvery. Decoding every answer to check it cost the shared
// CPU a tenth of what the server did for an entity page; autocannon, the query-path issue's
// tool, checks none. Every answer is still read whole, and one that is not an HTTP 200 with
// data counts as an error.
const (
	checkFirst = 2000
	checkEvery = 100
)

// run runs the phase for -duration or -requests, or for exactly n requests when n > 0.
func (p phase) run(client *http.Client, endpoint string, n int) row {
	limit := int64(*flagRequests)
	if n > 0 {
		limit = int64(n)
	}
	var (
		next      atomic.Int64
		okCount   atomic.Int64
		errCount  atomic.Int64
		anomalies atomic.Int64
		mu        sync.Mutex
		firstErr  string
		firstNote string
		firstAnom string
		wg        sync.WaitGroup
	)
	conc := max(1, *flagConcurrency)
	lat := make([][]time.Duration, conc)
	bodies := make([][]byte, len(p.vars))
	for i, v := range p.vars {
		bodies[i], _ = json.Marshal(map[string]any{"query": p.query, "variables": v})
	}
	deadline := time.Now().Add(*flagDuration)
	start := time.Now()
	for w := range conc {
		wg.Go(func() {
			// Each client reads answers into one buffer it keeps, as autocannon (the query-path
			// issue's tool) does not allocate per answer: reading megabytes of impact answers
			// into fresh, growing slices cost the shared CPU more than the server's work.
			var buf bytes.Buffer
			for {
				k := next.Add(1) - 1
				if limit > 0 && k >= limit || limit <= 0 && time.Now().After(deadline) {
					return
				}
				if errCount.Load() >= 50 && okCount.Load() == 0 {
					return // everything fails (e.g. an unsupported query): don't insist
				}
				body := bodies[k%int64(len(bodies))]
				// The clock stops when the answer is read, as autocannon's does (the query-path
				// issue's measurements); decoding megabytes of JSON is the client's time.
				t0 := time.Now()
				raw, err := fetchInto(client, endpoint, body, &buf)
				lat[w] = append(lat[w], time.Since(t0))
				var data json.RawMessage
				if err == nil {
					data, err = decode(raw)
				}
				if err != nil {
					errCount.Add(1)
					mu.Lock()
					if firstErr == "" {
						firstErr = oneLine(err.Error(), 300)
					}
					mu.Unlock()
					continue
				}
				okCount.Add(1)
				if p.check != nil && (k < checkFirst || k%checkEvery == 0) {
					anomaly, note := p.check(data)
					mu.Lock()
					if note != "" && firstNote == "" {
						firstNote = note
					}
					if anomaly != "" {
						anomalies.Add(1)
						if firstAnom == "" {
							firstAnom = anomaly
						}
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	res := row{
		phase:    p.name,
		requests: len(all),
		errors:   int(errCount.Load()),
		p50:      percentile(all, 50),
		p99:      percentile(all, 99),
		rps:      float64(len(all)) / elapsed.Seconds(),
	}
	var notes []string
	if p.note != "" {
		notes = append(notes, p.note)
	}
	if firstNote != "" {
		notes = append(notes, firstNote)
	}
	if a := anomalies.Load(); a > 0 {
		notes = append(notes, fmt.Sprintf("%d× %s", a, firstAnom))
	}
	if firstErr != "" {
		notes = append(notes, "first error: "+firstErr)
	}
	res.note = strings.Join(notes, "; ")
	return res
}

// post sends one GraphQL request; a non-200 status or a response with errors
// is an error.
func post(client *http.Client, endpoint string, body []byte) (json.RawMessage, error) {
	raw, err := fetch(client, endpoint, body)
	if err != nil {
		return nil, err
	}
	return decode(raw)
}

// fetch posts a GraphQL request and reads the answer (an error unless HTTP 200).
func fetch(client *http.Client, endpoint string, body []byte) ([]byte, error) {
	return fetchInto(client, endpoint, body, new(bytes.Buffer))
}

// fetchInto is fetch reading the answer into buf, which it resets first; the answer it returns
// is buf's bytes, valid until buf is used again.
func fetchInto(client *http.Client, endpoint string, body []byte, buf *bytes.Buffer) ([]byte, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	buf.Reset()
	if resp.ContentLength > 0 && resp.ContentLength < 1<<30 {
		buf.Grow(int(resp.ContentLength))
	}
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, oneLine(string(raw), 200))
	}
	return raw, nil
}

// decode returns the data of an answer, or its first error. An answer that is only data
// (catalogd writes "errors" first when there are any, and nothing after "data" here) is cut
// rather than decoded: decoding megabytes of impact answers took as much of the shared CPU
// as the server's work; the checks decode what they need.
func decode(raw []byte) (json.RawMessage, error) {
	if p := []byte(`{"data":`); bytes.HasPrefix(raw, p) && bytes.HasSuffix(raw, []byte("}")) {
		return raw[len(p) : len(raw)-1], nil
	}
	var gr gqlResponse
	if err := json.Unmarshal(raw, &gr); err != nil {
		return nil, fmt.Errorf("bad JSON response: %v: %s", err, oneLine(string(raw), 200))
	}
	if len(gr.Errors) > 0 {
		return nil, fmt.Errorf("graphql: %s", gr.Errors[0].Message)
	}
	return gr.Data, nil
}

// nullCheck flags responses whose top-level field is null (e.g. an entity
// that was not found).
func nullCheck(field string) func(json.RawMessage) (string, string) {
	return func(data json.RawMessage) (string, string) {
		var m map[string]json.RawMessage
		if json.Unmarshal(data, &m) != nil || len(m[field]) == 0 || string(m[field]) == "null" {
			return "null " + field, ""
		}
		return "", ""
	}
}

func emptyPageCheck(data json.RawMessage) (string, string) {
	var m struct {
		Entities *struct {
			TotalCount int               `json:"totalCount"`
			Edges      []json.RawMessage `json:"edges"`
		} `json:"entities"`
	}
	if json.Unmarshal(data, &m) != nil || m.Entities == nil {
		return "null entities", ""
	}
	if len(m.Entities.Edges) == 0 {
		return "empty page", ""
	}
	return "", ""
}

// totalCheck reports the totalAffected of the first good response.
func totalCheck(field string) func(json.RawMessage) (string, string) {
	return func(data json.RawMessage) (string, string) {
		if n, ok := totalAffected(data, field); ok {
			return "", fmt.Sprintf("totalAffected %d", n)
		}
		return "null " + field, ""
	}
}

// percentile returns the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

// createPostgres creates a fresh database on the server named by
// $CATALOGD_BENCH_POSTGRES and returns its URL and a function dropping it.
func createPostgres(n int) (string, func(), error) {
	admin := os.Getenv(postgresEnv)
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("$%s is not a postgres:// URL", postgresEnv)
	}
	name := fmt.Sprintf("catalogd_bench_%d_%d_%d", n, os.Getpid(), time.Now().Unix())
	psql := func(sql string) error {
		out, err := exec.Command("psql", admin, "-v", "ON_ERROR_STOP=1", "-qc", sql).CombinedOutput()
		if err != nil {
			return fmt.Errorf("psql %q: %v: %s", sql, err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if err := psql("CREATE DATABASE " + name); err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		if err := psql("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			fmt.Fprintln(os.Stderr, "  ", err)
		}
	}
	return u.String(), drop, nil
}

func render(started time.Time, dbs []string, catalogs []catalogInfo, rows []row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# catalogd benchmark, %s\n\n", started.UTC().Format("2006-01-02 15:04 UTC"))
	load := fmt.Sprintf("%v per phase", *flagDuration)
	if *flagRequests > 0 {
		load = fmt.Sprintf("%d requests per phase", *flagRequests)
	}
	fmt.Fprintf(&b, "%s, %s/%s, %d CPUs; commit %s; databases %s; concurrency %d, %s; seed %d.\n\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), commit(), strings.Join(dbs, ", "),
		*flagConcurrency, load, *flagSeed)
	if len(catalogs) > 0 {
		b.WriteString("| N | entities | files | MB | declared relations | hot resource (dependents) | cold resource (dependents) | generated in |\n")
		b.WriteString("|---:|---:|---:|---:|---:|---|---|---:|\n")
		for _, c := range catalogs {
			fmt.Fprintf(&b, "| %d | %d | %d | %.1f | %d | %s (%d, depth %d) | %s (%d) | %.2f s |\n",
				c.n, c.st.Entities, c.st.Files, float64(c.bytes)/1e6, c.st.DeclaredRelations,
				c.st.HotResource, c.st.HotDependents, c.st.HotDepth, c.st.ColdResource, c.st.ColdDependents, c.took.Seconds())
		}
		b.WriteString("\n")
	}
	b.WriteString("| database | N | phase | requests | errors | p50 | p99 | req/s | notes |\n")
	b.WriteString("|---|---:|---|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rows {
		reqs, p50, p99, rps := "", "", "", ""
		if r.p50 > 0 || r.p99 > 0 {
			reqs, p50, p99, rps = strconv.Itoa(r.requests), ms(r.p50), ms(r.p99), fmt.Sprintf("%.1f", r.rps)
		} else if r.requests > 0 {
			reqs = strconv.Itoa(r.requests) + " entities"
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %d | %s | %s | %s | %s |\n",
			r.db, r.n, r.phase, reqs, r.errors, p50, p99, rps, strings.ReplaceAll(r.note, "|", `\|`))
	}
	return b.String()
}

// Helpers.

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(strings.ReplaceAll(strings.ReplaceAll(f, "_", ""), ",", ""))
		if err != nil || n < 100 {
			return nil, fmt.Errorf("bad -n value %q (want integers ≥ 100)", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("-n is empty")
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// maxRSS returns the peak resident set size of a finished process, in KiB
// (ru_maxrss is in KiB on Linux).
func maxRSS(ps *os.ProcessState) int64 {
	if ps == nil {
		return 0
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return int64(ru.Maxrss)
	}
	return 0
}

func mib(kib int64) string { return fmt.Sprintf("%.0f MiB", float64(kib)/1024) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "none"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		c += "+dirty"
	}
	return c
}

func oneLine(s string, limit int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}

// redact hides a password in a database URL.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxx")
			return u.String()
		}
	}
	return s
}

func redactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = redact(a)
	}
	return out
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(2)
}

// textSamples are text-filter searches: the middle parts of sample component names (a word
// and the next word's start, e.g. "ledger-w"), as someone types into a search box.
func textSamples(comps []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, ref := range comps {
		_, name, _ := strings.Cut(ref, "/")
		parts := strings.Split(name, "-")
		if len(parts) < 2 || len(parts[0]) < 3 {
			continue
		}
		w := parts[0] + "-" + parts[1][:min(1, len(parts[1]))]
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	if len(out) == 0 {
		out = []string{"service"}
	}
	return out
}

// largestImpact finds the resource with the most affected entities among the first 30 by ref,
// as the query-path issue measured it.
func largestImpact(client *http.Client, endpoint string) (string, int, error) {
	var list struct {
		Entities struct {
			Edges []struct{ Node struct{ Ref string } }
		}
	}
	if err := query(client, endpoint, resourcesQuery, nil, &list); err != nil {
		return "", 0, err
	}
	best, bestN := "", -1
	for _, e := range list.Entities.Edges {
		var imp struct{ Impact struct{ TotalAffected int } }
		if err := query(client, endpoint, `query($ref:String!){ impact(ref:$ref){ totalAffected } }`, map[string]any{"ref": e.Node.Ref}, &imp); err != nil {
			return "", 0, err
		}
		if imp.Impact.TotalAffected > bestN {
			best, bestN = e.Node.Ref, imp.Impact.TotalAffected
		}
	}
	if best == "" {
		return "", 0, fmt.Errorf("no resources")
	}
	return best, bestN, nil
}

// query posts one GraphQL query and decodes its data into out.
func query(client *http.Client, endpoint, q string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	data, err := post(client, endpoint, body)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, out)
}

// docsNote describes the doc pages an ingest read, if any.
func docsNote(st synth.Stats, wall time.Duration) string {
	if st.DocPages == 0 {
		return ""
	}
	return fmt.Sprintf("; %d doc sites, %d doc pages (%.0f pages/s of the whole ingest)", st.DocSites, st.DocPages, float64(st.DocPages)/wall.Seconds())
}

// selected reports whether -phases asks for the phase named name.
func selected(name string) bool {
	list := splitList(*flagPhases)
	if len(list) == 0 {
		return true
	}
	for _, p := range list {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// pick returns variables with key set to the k-th of list, round robin.
// each is the variables {key: v} for each v of list.
func each(key string, list []string) []map[string]any {
	vars := make([]map[string]any, len(list))
	for i, v := range list {
		vars[i] = map[string]any{key: v}
	}
	return vars
}

// one is a phase's variables when it asks one question again and again.
func one(vars map[string]any) []map[string]any { return []map[string]any{vars} }

// searchSamples are what a search box sends for sample components: the first two and four
// letters of the name, and the whole name.
func searchSamples(comps []string) (prefixes2, prefixes4, names []string) {
	seen2, seen4 := map[string]bool{}, map[string]bool{}
	for _, ref := range comps {
		_, name, _ := strings.Cut(ref, "/")
		names = append(names, name)
		if p := name[:min(2, len(name))]; !seen2[p] {
			seen2[p] = true
			prefixes2 = append(prefixes2, p)
		}
		if p := name[:min(4, len(name))]; !seen4[p] {
			seen4[p] = true
			prefixes4 = append(prefixes4, p)
		}
	}
	if len(names) == 0 {
		names, prefixes2, prefixes4 = []string{"service"}, []string{"se"}, []string{"serv"}
	}
	return prefixes2, prefixes4, names
}

// searchCheck flags a search that found nothing and notes the first total.
func searchCheck(data json.RawMessage) (string, string) {
	var m struct {
		Search *struct {
			TotalCount int               `json:"totalCount"`
			Edges      []json.RawMessage `json:"edges"`
		} `json:"search"`
	}
	if json.Unmarshal(data, &m) != nil || m.Search == nil {
		return "null search", ""
	}
	if len(m.Search.Edges) == 0 {
		return "no hits", ""
	}
	return "", fmt.Sprintf("first totalCount %d", m.Search.TotalCount)
}

// totalAffected reads data.<field>.totalAffected, token by token, stopping when it has it (it
// comes first in the loadgen's impact queries, before megabytes of affected entities).
func totalAffected(data json.RawMessage, field string) (int, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return 0, false
	}
	for depth := 0; dec.More(); {
		key, err := dec.Token()
		if err != nil {
			return 0, false
		}
		if depth == 0 && key == field {
			if t, err := dec.Token(); err != nil || t != json.Delim('{') {
				return 0, false
			}
			depth = 1
			continue
		}
		if depth == 1 && key == "totalAffected" {
			var n int
			if dec.Decode(&n) != nil {
				return 0, false
			}
			return n, true
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return 0, false
		}
	}
	return 0, false
}
