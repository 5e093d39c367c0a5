package synth

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Doc pages read like engineering docs: sentences built from common words, the catalog's own
// vocabulary (areas, nouns, roles) and a few words that occur in doc pages only (docWords),
// so that a search for one of them finds pages and no entity.

var docCommon = []string{
	"the", "service", "handles", "requests", "from", "and", "to", "with", "when", "each",
	"data", "is", "stored", "in", "a", "table", "after", "before", "every", "call",
	"retries", "timeout", "configured", "deploy", "release", "metrics", "alerts", "on",
	"latency", "errors", "logs", "traces", "dashboard", "owner", "team", "runbook",
	"incident", "rollback", "feature", "flag", "config", "secret", "database", "queue",
	"message", "consumer", "producer", "schema", "migration", "version", "client", "server",
	"cache", "expires", "minutes", "seconds", "hourly", "daily", "batch", "job", "cluster",
	"region", "replica", "primary", "failover", "health", "check", "endpoint", "returns",
	"status", "response", "payload", "field", "required", "optional", "default", "value",
}

var docWords = []string{
	"idempotency", "backpressure", "reconciler", "watermark", "sharding", "throttling",
	"checksum", "heartbeat", "quorum", "tombstone", "compaction", "debounce", "canary",
	"blue", "green", "circuit", "breaker", "bulkhead", "saga", "outbox", "inbox", "ledgering",
	"dedupe", "snapshot", "backfill", "replay", "hotfix", "postmortem", "toil", "oncall",
	"escalation", "paging", "slo", "sli", "budget", "burn", "playbook", "drill", "chaos",
	"fencing", "lease", "epoch", "vector", "clock", "gossip", "raft", "paxos", "leader",
	"follower", "rebalance", "partition", "offset", "commit", "cursor", "pagination", "etag",
	"conditional", "precondition", "optimistic", "pessimistic", "locking", "deadlock",
	"starvation", "jitter", "exponential", "backoff", "hedging", "coalescing", "batching",
}

var pageTopics = []string{"overview", "runbook", "architecture", "api", "operations", "faq", "onboarding", "alerts"}

// sampleDocWords are words only doc pages hold.
func sampleDocWords() []string {
	return append([]string(nil), docWords...)
}

// site writes the techdocs site of component i: docs/<name>/mkdocs.yml and one to three
// pages under docs/<name>/docs/, beside the component's descriptor file.
func (w *writer) site(i int, cp component) {
	if w.err != nil {
		return
	}
	root := filepath.Join(w.dir, "components", "docs", cp.name)
	if err := os.MkdirAll(filepath.Join(root, "docs"), 0o755); err != nil {
		w.err = err
		return
	}
	n := 1 + h(i, 60)%3
	var yml strings.Builder
	fmt.Fprintf(&yml, "site_name: %s\nnav:\n", q(title(cp.name)))
	for k := range n {
		topic, file := "Overview", "index.md"
		if k > 0 {
			t := pageTopics[1+h(i, 61+k)%(len(pageTopics)-1)]
			topic, file = title(t), fmt.Sprintf("%s-%d.md", t, k)
		}
		fmt.Fprintf(&yml, "  - %s: %s\n", q(topic), file)
		if err := os.WriteFile(filepath.Join(root, "docs", file), w.page(i, k, cp, topic), 0o644); err != nil {
			w.err = err
			return
		}
		w.pages++
	}
	if err := os.WriteFile(filepath.Join(root, "mkdocs.yml"), []byte(yml.String()), 0o644); err != nil {
		w.err = err
		return
	}
	w.sites++
}

// page returns page k of component i's site: a title, two or three sections of a few
// sentences, now and then a list or a code block (about 150-300 words).
func (w *writer) page(i, k int, cp component, topic string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s %s\n\n", title(cp.name), topic)
	salt := 100 + 17*k
	sentence := func(j int) string {
		words := make([]string, 0, 14)
		n := 8 + h(i, salt+j)%7
		for m := range n {
			x := h(i, salt+j*31+m)
			switch x % 10 {
			case 0:
				words = append(words, docWords[(x/10)%len(docWords)])
			case 1:
				words = append(words, areas[(x/10)%len(areas)])
			case 2:
				words = append(words, nouns[(x/10)%len(nouns)])
			case 3:
				words = append(words, backRoles[(x/10)%len(backRoles)])
			default:
				words = append(words, docCommon[(x/10)%len(docCommon)])
			}
		}
		s := strings.Join(words, " ")
		return strings.ToUpper(s[:1]) + s[1:] + "."
	}
	fmt.Fprintf(&b, "%s is %s. %s %s\n\n", title(cp.name), strings.ToLower(sentence(0)), sentence(1), sentence(2))
	sections := 2 + h(i, salt+500)%2
	for sec := range sections {
		fmt.Fprintf(&b, "## %s %s\n\n", title(docWords[h(i, salt+600+sec)%len(docWords)]), nouns[h(i, salt+700+sec)%len(nouns)])
		for j := range 3 + h(i, salt+800+sec)%3 {
			b.WriteString(sentence(10 + sec*10 + j))
			b.WriteByte(' ')
		}
		b.WriteString("\n\n")
		switch h(i, salt+900+sec) % 4 {
		case 0:
			for j := range 3 {
				fmt.Fprintf(&b, "- %s\n", sentence(50+sec*10+j))
			}
			b.WriteByte('\n')
		case 1:
			fmt.Fprintf(&b, "```yaml\n%s:\n  timeout: %ds\n  retries: %d\n```\n\n", nouns[h(i, salt+950)%len(nouns)], 1+h(i, salt+951)%30, h(i, salt+952)%5)
		}
	}
	return []byte(b.String())
}
