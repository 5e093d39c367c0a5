package main

// The mixed load (-mix): entity pages, lists, impact and search at once, spread round-robin
// over one or several catalogd replicas (-replicas, or -urls of a running deployment), while
// a location is re-read with changes (each read moves the catalog generation, so every
// replica rebuilds its graph index during the load). It reports p50/p99, requests/second
// and errors for the whole mix and per kind of question, and the replicas' resident memory
// after warm-up, after the load and (with -soak) after a long run at lower concurrency.

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"catalogd/internal/synth"
)

const mixSearchQuery = `query($q:String!){ search(query:$q, first:20){ totalCount edges{ node { entity { ref } snippet score } } } }`

var (
	flagMix             = flag.Bool("mix", false, "run the mixed load (entity, list, impact, search) while a location changes, instead of the phases")
	flagReplicas        = flag.String("replicas", "1", "with -mix: comma-separated numbers of catalogd serve processes on the one database, loaded in turn (postgres only for more than one), e.g. 1,2")
	flagURLs            = flag.String("urls", "", "with -mix: comma-separated base URLs of a running deployment to load instead (no generation, ingest or serve)")
	flagWarmup          = flag.Duration("warmup", 15*time.Second, "with -mix: warm-up before the measured load")
	flagChurnEvery      = flag.Duration("churn-every", 5*time.Second, "with -mix: how often the changing location is rewritten (and read, by one replica)")
	flagSoak            = flag.Duration("soak", 0, "with -mix: after the load, run the mix this long at -soak-concurrency and report memory again (0: no soak)")
	flagSoakConcurrency = flag.Int("soak-concurrency", 10, "concurrency of the soak")
)

// kinds of question in the mix, with their share of requests (out of 20).
var mixKinds = []struct {
	name  string
	share int
}{{"entity", 8}, {"list", 5}, {"impact", 4}, {"search", 3}}

// mixTarget is what the mix asks about.
type mixTarget struct {
	comps, owners, words []string
	impacts              []string // resource refs
}

// mix runs the mixed load for one (database, N): serve the ingested catalog from
// -replicas processes, with a changing location beside it.
func (r *run) mix(dbURL string, st synth.Stats) {
	churnDir := filepath.Join(r.tmp, "churn")
	if err := writeChurn(churnDir, st.HotResource, 0); err != nil {
		r.fail("churn", err)
		return
	}
	// The synthetic catalog is read again only after an hour (catalogd ingest read it); the
	// changing location every -churn-every, by one replica at a time.
	cfg := fmt.Sprintf("locations:\n  - type: file\n    target: %s\n    interval: 1h\n  - type: file\n    target: %s\n    interval: %s\n",
		strconv.Quote(st.Root), strconv.Quote(churnDir), flagChurnEvery.String())
	cfgPath := filepath.Join(r.tmp, "catalogd.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		r.fail("config", err)
		return
	}
	counts, err := parseCounts(*flagReplicas)
	if err != nil {
		r.fail("replicas", err)
		return
	}
	for _, n := range counts {
		if n > 1 && r.db != "postgres" {
			r.fail("replicas", fmt.Errorf("-replicas %d needs -db postgres", n))
			return
		}
		r.mixReplicas(dbURL, st, n, cfgPath, churnDir)
	}
}

func (r *run) mixReplicas(dbURL string, st synth.Stats, n int, cfgPath, churnDir string) {
	var servers []*server
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	for i := range n {
		s, err := r.serveWith(dbURL, fmt.Sprintf("serve-%d-of-%d.log", i, n), "--config", cfgPath)
		if err != nil {
			r.fail("serve", err)
			return
		}
		servers = append(servers, s)
	}
	var bases []string
	for _, s := range servers {
		bases = append(bases, s.base)
	}
	stopChurn := churn(churnDir, st.HotResource, r.log)
	defer stopChurn()
	tg := mixTarget{comps: st.SampleComponents, owners: st.SampleOwners, words: textSamples(st.SampleComponents),
		impacts: []string{st.HotResource, st.ColdResource}}
	r.runMix(bases, tg, servers)
}

func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad -replicas value %q", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return []int{1}, nil
	}
	return out, nil
}

// mixURLs runs the mixed load against a running deployment (-urls), asking about what its
// catalog holds.
func mixURLs(urls []string, log func(string, ...any)) []row {
	client := newClient(*flagConcurrency)
	endpoint := urls[0] + "/graphql"
	var tg mixTarget
	var comps struct {
		Entities struct {
			Edges []struct{ Node struct{ Ref, Name string } }
		}
	}
	if err := query(client, endpoint, `{ entities(filter:{kind:["Component"]}, first:500){ edges{ node { ref name } } } }`, nil, &comps); err != nil {
		fatal(err)
	}
	for _, e := range comps.Entities.Edges {
		tg.comps = append(tg.comps, e.Node.Ref)
	}
	var res struct {
		Entities struct {
			Edges []struct{ Node struct{ Ref string } }
		}
	}
	if err := query(client, endpoint, `{ entities(filter:{kind:["Resource"]}, first:50){ edges{ node { ref } } } }`, nil, &res); err != nil {
		fatal(err)
	}
	for _, e := range res.Entities.Edges {
		tg.impacts = append(tg.impacts, e.Node.Ref)
	}
	var groups struct {
		Entities struct {
			Edges []struct{ Node struct{ Ref string } }
		}
	}
	if err := query(client, endpoint, `{ entities(filter:{kind:["Group"]}, first:100){ edges{ node { ref } } } }`, nil, &groups); err != nil {
		fatal(err)
	}
	for _, e := range groups.Entities.Edges {
		tg.owners = append(tg.owners, e.Node.Ref)
	}
	if len(tg.comps) == 0 || len(tg.impacts) == 0 || len(tg.owners) == 0 {
		fatal(fmt.Errorf("the catalog at %s has no components, resources or groups to ask about", urls[0]))
	}
	tg.words = textSamples(tg.comps)
	r := &run{db: "urls", log: log}
	r.runMix(urls, tg, nil)
	return r.rows
}

func (r *run) runMix(bases []string, tg mixTarget, servers []*server) {
	label := fmt.Sprintf("mix, %d replica(s)", len(bases))
	r.log("  warm-up %v", *flagWarmup)
	for _, w := range mixLoad(bases, tg, *flagWarmup, *flagConcurrency)[:1] {
		r.log("  warm-up: %d req, %d err, p50 %s, p99 %s", w.requests, w.errors, ms(w.p50), ms(w.p99))
	}
	warm := rssOf(servers)
	r.log("  load: %d clients for %v", *flagConcurrency, *flagDuration)
	rows := mixLoad(bases, tg, *flagDuration, *flagConcurrency)
	after := rssOf(servers)
	for i := range rows {
		rows[i].db, rows[i].n = r.db, r.n
		rows[i].phase = label + ": " + rows[i].phase
		r.log("  %-34s %6d req  %4d err  p50 %8s  p99 %8s  %8.1f req/s  %s", rows[i].phase, rows[i].requests, rows[i].errors,
			ms(rows[i].p50), ms(rows[i].p99), rows[i].rps, rows[i].note)
	}
	r.rows = append(r.rows, rows...)
	if len(servers) > 0 {
		r.rows = append(r.rows, row{db: r.db, n: r.n, phase: label + ": memory",
			note: fmt.Sprintf("RSS after warm-up %s, after the load %s", warm, after)})
	}
	if *flagSoak > 0 {
		r.log("  soak: %d clients for %v", *flagSoakConcurrency, *flagSoak)
		rows := mixLoad(bases, tg, *flagSoak, *flagSoakConcurrency)
		soaked := rssOf(servers)
		all := rows[0]
		all.db, all.n, all.phase = r.db, r.n, fmt.Sprintf("%s: soak %v at concurrency %d", label, *flagSoak, *flagSoakConcurrency)
		all.note = fmt.Sprintf("RSS after warm-up %s, after the soak %s", warm, soaked)
		r.log("  %s: %d req, %d err, p50 %s, p99 %s; %s", all.phase, all.requests, all.errors, ms(all.p50), ms(all.p99), all.note)
		r.rows = append(r.rows, all)
	}
	for _, rw := range r.rows {
		if rw.errors > 0 {
			r.failed = true
		}
	}
}

// mixLoad runs the mix for d at conc clients, request k going to bases[k % len(bases)], and
// returns a row for the whole mix and one per kind.
func mixLoad(bases []string, tg mixTarget, d time.Duration, conc int) []row {
	client := newClient(conc)
	type sample struct {
		kind int
		lat  time.Duration
		err  bool
	}
	var (
		next     atomic.Int64
		mu       sync.Mutex
		firstErr = map[int]string{}
		wg       sync.WaitGroup
	)
	var deck []int // kinds by share
	for i, k := range mixKinds {
		for range k.share {
			deck = append(deck, i)
		}
	}
	samples := make([][]sample, conc)
	deadline := time.Now().Add(d)
	start := time.Now()
	for w := range conc {
		rng := rand.New(rand.NewPCG(uint64(w), 7))
		wg.Go(func() {
			for time.Now().Before(deadline) {
				k := int(next.Add(1) - 1)
				kind := deck[rng.IntN(len(deck))]
				var q string
				var vars map[string]any
				switch mixKinds[kind].name {
				case "entity":
					q, vars = entityQuery, map[string]any{"ref": tg.comps[rng.IntN(len(tg.comps))]}
				case "list":
					q, vars = listQuery, map[string]any{"owner": tg.owners[rng.IntN(len(tg.owners))]}
				case "impact":
					q, vars = impactQuery, map[string]any{"ref": tg.impacts[rng.IntN(len(tg.impacts))]}
				case "search":
					q, vars = mixSearchQuery, map[string]any{"q": strings.Split(tg.words[rng.IntN(len(tg.words))], "-")[0]}
				}
				body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
				t0 := time.Now()
				_, err := post(client, bases[k%len(bases)]+"/graphql", body)
				samples[w] = append(samples[w], sample{kind, time.Since(t0), err != nil})
				if err != nil {
					mu.Lock()
					if firstErr[kind] == "" {
						firstErr[kind] = oneLine(err.Error(), 200)
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	summarise := func(name string, keep func(sample) bool, note string) row {
		var lat []time.Duration
		errs := 0
		for _, ss := range samples {
			for _, s := range ss {
				if keep(s) {
					lat = append(lat, s.lat)
					if s.err {
						errs++
					}
				}
			}
		}
		slices.Sort(lat)
		return row{phase: name, requests: len(lat), errors: errs, p50: percentile(lat, 50), p99: percentile(lat, 99),
			rps: float64(len(lat)) / elapsed.Seconds(), note: note}
	}
	var notes []string
	for i, k := range mixKinds {
		if e := firstErr[i]; e != "" {
			notes = append(notes, k.name+": "+e)
		}
	}
	rows := []row{summarise("all", func(sample) bool { return true }, strings.Join(notes, "; "))}
	for i, k := range mixKinds {
		rows = append(rows, summarise(k.name, func(s sample) bool { return s.kind == i }, firstErr[i]))
	}
	return rows
}

func newClient(conc int) *http.Client {
	return &http.Client{
		Timeout:   2 * time.Minute,
		Transport: &http.Transport{MaxIdleConns: conc * 2, MaxIdleConnsPerHost: conc},
	}
}

// writeChurn writes the changing location's round: 200 components, each depending on the
// synthetic catalog's hot resource or not by round, with the round in their description, so
// every read changes entities and relations.
func writeChurn(dir, hot string, round int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	for i := range 200 {
		deps := "[]"
		if (i+round)%2 == 0 {
			deps = "[" + hot + "]"
		}
		fmt.Fprintf(&b, "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: churn-%d, description: \"round %d\"}\nspec: {type: service, lifecycle: experimental, owner: group:default/churn, dependsOn: %s}\n", i, round, deps)
	}
	b.WriteString("---\napiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: churn}\nspec: {type: team, children: []}\n")
	tmp := filepath.Join(dir, ".catalog-info.yaml.tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "catalog-info.yaml"))
}

// churn rewrites the changing location every -churn-every until stopped.
func churn(dir, hot string, log func(string, ...any)) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(*flagChurnEvery)
		defer t.Stop()
		for round := 1; ; round++ {
			select {
			case <-done:
				return
			case <-t.C:
			}
			if err := writeChurn(dir, hot, round); err != nil {
				log("  churn: %v", err)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// rssOf returns the servers' current resident memory (VmRSS), e.g. "412 MiB, 398 MiB".
func rssOf(servers []*server) string {
	var out []string
	for _, s := range servers {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
		if err != nil {
			out = append(out, "?")
			continue
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kib, _ := strconv.ParseInt(f[1], 10, 64)
				out = append(out, mib(kib))
			}
		}
	}
	return strings.Join(out, ", ")
}
