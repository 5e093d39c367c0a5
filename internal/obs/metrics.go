package obs

import (
	"crypto/subtle"
	"database/sql"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are catalogd's Prometheus metrics, on a registry of their own (no package globals).
// Every label takes values from a bounded set: routes from the mux's patterns, operation
// names capped at MaxOperationNames, error codes at maxErrorCodes.
type Metrics struct {
	reg *prometheus.Registry

	httpDuration  *prometheus.HistogramVec
	opDuration    *prometheus.HistogramVec
	gqlErrors     *prometheus.CounterVec
	ingestRuns    *prometheus.CounterVec
	ingestTook    *prometheus.HistogramVec
	ingestChanged *prometheus.CounterVec
	ingestErrors  *prometheus.CounterVec

	ops   *boundedSet
	codes *boundedSet

	tasksMu sync.Mutex
	tasks   func() map[string]int
}

// MaxOperationNames caps the distinct GraphQL operation names a histogram is kept for; the
// rest are counted as "other".
const MaxOperationNames = 200

const maxErrorCodes = 50

// TaskStates are the scaffolder task states reported (as 0) before the scaffolder says more.
var TaskStates = []string{"pending", "running", "succeeded", "failed"}

// NewMetrics registers every metric, with Go runtime and process metrics.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), ops: newBoundedSet(MaxOperationNames), codes: newBoundedSet(maxErrorCodes)}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "catalogd_http_request_duration_seconds", Help: "HTTP requests by route (the mux pattern), method and status code.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route", "method", "code"})
	m.opDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "catalogd_graphql_operation_duration_seconds", Help: "GraphQL operations by operation name (unnamed, persisted:HASH, or other past the cap).",
		Buckets: prometheus.DefBuckets,
	}, []string{"operation", "type"})
	m.gqlErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "catalogd_graphql_errors_total", Help: "GraphQL errors answered, by extensions.code.",
	}, []string{"code"})
	m.ingestRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "catalogd_ingest_runs_total", Help: "Location reads by provider type and result (ok, failed).",
	}, []string{"provider", "result"})
	m.ingestTook = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "catalogd_ingest_duration_seconds", Help: "Duration of location reads (read, process and apply) by provider type.",
		Buckets: []float64{.01, .05, .1, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
	}, []string{"provider"})
	m.ingestChanged = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "catalogd_ingest_entities_total", Help: "Entities handled by location reads, by provider type and outcome (added, updated, removed, unchanged).",
	}, []string{"provider", "outcome"})
	m.ingestErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "catalogd_ingest_errors_total", Help: "Processing errors recorded by location reads (a failed read counts one), by provider type.",
	}, []string{"provider"})
	m.reg.MustRegister(m.httpDuration, m.opDuration, m.gqlErrors, m.ingestRuns, m.ingestTook, m.ingestChanged, m.ingestErrors, taskCollector{m})
	return m
}

// Registry is where the metrics are registered (tests, and components adding their own).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveDB reports a database pool's statistics (open, in use, idle, waits) as
// go_sql_* metrics labelled db_name.
func (m *Metrics) ObserveDB(name string, db *sql.DB) {
	m.reg.MustRegister(collectors.NewDBStatsCollector(db, name))
}

// SetTaskCounter installs the scaffolder's count of tasks by state (catalogd_scaffolder_tasks).
func (m *Metrics) SetTaskCounter(f func() map[string]int) {
	m.tasksMu.Lock()
	m.tasks = f
	m.tasksMu.Unlock()
}

var taskDesc = prometheus.NewDesc("catalogd_scaffolder_tasks", "Scaffolder tasks by state.", []string{"state"}, nil)

type taskCollector struct{ m *Metrics }

func (c taskCollector) Describe(ch chan<- *prometheus.Desc) { ch <- taskDesc }

func (c taskCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.tasksMu.Lock()
	f := c.m.tasks
	c.m.tasksMu.Unlock()
	counts := map[string]int{}
	for _, s := range TaskStates {
		counts[s] = 0
	}
	if f != nil {
		for s, n := range f() {
			counts[s] = n
		}
	}
	for s, n := range counts {
		ch <- prometheus.MustNewConstMetric(taskDesc, prometheus.GaugeValue, float64(n), s)
	}
}

// IngestRead records one location read.
func (m *Metrics) IngestRead(provider string, took time.Duration, added, updated, removed, unchanged, errors int, failed bool) {
	result := "ok"
	if failed {
		result = "failed"
	}
	m.ingestRuns.WithLabelValues(provider, result).Inc()
	m.ingestTook.WithLabelValues(provider).Observe(took.Seconds())
	for outcome, n := range map[string]int{"added": added, "updated": updated, "removed": removed, "unchanged": unchanged} {
		m.ingestChanged.WithLabelValues(provider, outcome).Add(float64(n))
	}
	m.ingestErrors.WithLabelValues(provider).Add(float64(errors))
}

// Handler serves the metrics in Prometheus's text format. With a token, a scrape must send
// Authorization: Bearer TOKEN.
func (m *Metrics) Handler(token string) http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, MaxRequestsInFlight: 4, Timeout: 10 * time.Second})
	if token == "" {
		return h
	}
	return RequireToken(token, "metrics", h)
}

// RequireToken serves h to requests that carry token as their bearer token, and answers 401
// naming realm to the rest.
func RequireToken(token, realm string, h http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`"`)
			http.Error(w, realm+" need the "+realm+" token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

var knownMethods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true}

// ObserveHTTP records one request; pattern is the mux pattern that served it ("" for none).
func (m *Metrics) ObserveHTTP(pattern, method string, code int, took time.Duration) {
	if !knownMethods[method] {
		method = "other"
	}
	route := pattern
	if route == "" {
		route = "unmatched"
	}
	// A pattern may name its method ("GET /healthz"): the label holds the path alone.
	if i := strings.IndexByte(route, ' '); i >= 0 {
		route = route[i+1:]
	}
	m.httpDuration.WithLabelValues(route, method, statusText(code)).Observe(took.Seconds())
}

func statusText(code int) string {
	if code < 100 || code > 999 {
		return "other"
	}
	const digits = "0123456789"
	return string([]byte{digits[code/100], digits[code/10%10], digits[code%10]})
}

// ObserveOperation records one GraphQL operation.
func (m *Metrics) ObserveOperation(name, typ string, took time.Duration) {
	m.opDuration.WithLabelValues(m.ops.label(name), typ).Observe(took.Seconds())
}

// ObserveGraphQLError counts one error answered with code.
func (m *Metrics) ObserveGraphQLError(code string) {
	if code == "" {
		code = "none"
	}
	m.gqlErrors.WithLabelValues(m.codes.label(code)).Inc()
}

var labelValue = regexp.MustCompile(`^[A-Za-z0-9_:.\-]{1,80}$`)

// boundedSet admits the first max distinct sane values as labels; later ones and insane ones
// become "other", so a client cannot grow the label space.
type boundedSet struct {
	mu   sync.Mutex
	max  int
	seen map[string]bool
}

func newBoundedSet(max int) *boundedSet { return &boundedSet{max: max, seen: map[string]bool{}} }

func (b *boundedSet) label(v string) string {
	if !labelValue.MatchString(v) {
		return "other"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen[v] {
		return v
	}
	if len(b.seen) >= b.max {
		return "other"
	}
	b.seen[v] = true
	return v
}
