package synth

import (
	"strconv"
	"strings"
)

// Word lists used to build realistic, unique entity names. No word contains a
// hyphen or a digit, so joined combinations are unambiguous and unique. None of
// them is "shared" or "legacy", which keeps the hand-named hot and cold
// resources distinct from generated names.

var areas = []string{
	"payments", "checkout", "ledger", "billing", "invoicing", "payouts",
	"settlement", "treasury", "risk", "fraud", "compliance", "identity",
	"onboarding", "merchant", "acquiring", "issuing", "cards", "wallet",
	"lending", "credit", "disputes", "refunds", "pricing", "fx", "tax",
	"reporting", "analytics", "notifications", "search", "catalog",
	"subscriptions", "loyalty", "partners", "support", "auth", "accounts",
	"kyc", "tokenization", "routing", "reconciliation",
}

var nouns = []string{
	"order", "invoice", "transfer", "charge", "account", "balance", "card",
	"token", "customer", "merchant", "payout", "refund", "dispute", "fee",
	"rate", "quote", "ledger", "journal", "receipt", "statement", "limit",
	"score", "rule", "alert", "case", "document", "profile", "session",
	"consent", "mandate", "plan", "coupon", "report", "export", "webhook",
	"event", "batch", "schedule", "address", "device",
}

// Roles of back-end components (layers 1..top-1).
var backRoles = []string{
	"service", "worker", "processor", "gateway", "adapter", "scheduler",
	"sync", "engine", "router", "indexer", "exporter", "importer", "bridge",
	"aggregator", "validator",
}

// Roles of libraries (layer 1).
var libRoles = []string{"lib", "sdk", "client", "kit"}

// Roles of front-ends (top layer).
var topRoles = []string{"web", "portal", "console", "app", "dashboard"}

var teamWords = []string{
	"core", "squad", "crew", "ops", "platform", "guild", "builders",
	"foundations", "experience", "integrations", "data", "reliability",
}

var deptWords = []string{"engineering", "product", "operations", "infrastructure", "data", "security"}

var divisionWords = []string{"division", "group", "unit"}

var domainQualifiers = []string{
	"core", "emea", "americas", "apac", "retail", "enterprise", "platform",
	"services", "network", "ops", "growth", "operations",
}

var systemWords = []string{
	"hub", "platform", "pipeline", "suite", "stack", "mesh", "backbone",
	"core", "flow", "center", "store", "exchange",
}

type resourceKind struct{ suffix, typ string }

var resourceKinds = []resourceKind{
	{"db", "database"}, {"cache", "cache"}, {"topic", "kafka-topic"},
	{"bucket", "s3-bucket"}, {"queue", "queue"}, {"index", "search-index"},
	{"stream", "kinesis-stream"}, {"secrets", "secret-store"}, {"cluster", "database-cluster"},
}

var firstNames = []string{
	"alice", "bob", "carla", "dmitri", "elena", "farid", "grace", "hiro",
	"ines", "jamal", "kofi", "lena", "mateo", "nadia", "oscar", "priya",
	"quentin", "rosa", "sven", "tara", "umar", "vera", "wei", "ximena",
	"yusuf", "zoe", "amara", "bruno", "chen", "dana", "emil", "fatima",
	"gustav", "hana", "ivan", "julia", "kenji", "leila", "marco", "noor",
	"olga", "pablo", "rania", "sofia", "tomas", "ulla", "viktor", "wanda",
	"yara", "zain",
}

var lastNames = []string{
	"nguyen", "martins", "diaz", "ivanov", "rossi", "haddad", "okafor",
	"tanaka", "silva", "johnson", "mensah", "schmidt", "garcia", "khan",
	"larsen", "patel", "dubois", "moreno", "berg", "walsh", "rahman",
	"novak", "zhang", "lopez", "demir", "fischer", "ali", "costa", "li",
	"kowalski", "andersen", "sato", "mueller", "kim", "ortiz", "nowak",
	"santos", "yilmaz", "hansen", "murphy", "fernandes", "petrov",
	"abe", "romero", "lindqvist", "osei", "wright", "horvat", "cruz", "singh",
}

var langTags = []string{"go", "java", "kotlin", "python", "typescript", "rust", "scala", "c#"}

var extraTags = []string{
	"grpc", "rest", "kafka", "postgres", "redis", "pci", "gdpr", "tier-1",
	"tier-2", "tier-3", "critical", "batch", "realtime", "internal",
	"public", "experimental", "k8s", "serverless",
}

// namer produces unique names from combinations of word lists. Index i is
// scattered over the combination space with a stride coprime to its size, so
// consecutive entities do not share prefixes; once the space is exhausted a
// numeric suffix (-2, -3, ...) keeps names unique.
type namer struct {
	sep    string
	lists  [][]string
	size   int
	stride int
}

func newNamer(sep string, lists ...[]string) *namer {
	size := 1
	for _, l := range lists {
		size *= len(l)
	}
	stride := size*618/1000 + 1
	for gcd(stride, size) != 1 {
		stride++
	}
	return &namer{sep: sep, lists: lists, size: size, stride: stride}
}

func (n *namer) name(i int) string {
	cycle, j := i/n.size, (i%n.size)*n.stride%n.size
	parts := make([]string, len(n.lists))
	for k, l := range n.lists {
		parts[k] = l[j%len(l)]
		j /= len(l)
	}
	s := strings.Join(parts, n.sep)
	if cycle > 0 {
		s += "-" + strconv.Itoa(cycle+1)
	}
	return s
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// title turns "ledger-sync-worker" into "Ledger Sync Worker".
func title(name string) string {
	words := strings.FieldsFunc(name, func(r rune) bool { return r == '-' || r == '.' || r == '_' })
	for i, w := range words {
		if w == "" {
			continue
		}
		words[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(words, " ")
}

// camel turns "ledger-sync" into "LedgerSync".
func camel(name string) string {
	return strings.ReplaceAll(title(name), " ", "")
}
