package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"catalogd/internal/catalog"
	"catalogd/internal/feed"
	"catalogd/internal/reading"
	"catalogd/internal/store"
)

// feedFileConfig is the configuration file's feed section.
type feedFileConfig struct {
	Retention    string `json:"retention"`
	PollInterval string `json:"pollInterval"`
	Webhooks     []struct {
		Name       string `json:"name"`
		URL        string `json:"url"`
		Secret     string `json:"secret"`
		SecretFile string `json:"secretFile"`
		Filter     struct {
			Kind  string   `json:"kind"`
			Owner string   `json:"owner"`
			Ref   string   `json:"ref"`
			Type  []string `json:"type"`
		} `json:"filter"`
	} `json:"webhooks"`
}

// feedConfig turns the feed section into feed.Config (its Client set from the read allow-list
// by the caller). The schema has checked shapes; this checks what it cannot.
func feedConfig(fc feedFileConfig) (feed.Config, error) {
	var c feed.Config
	if fc.Retention != "" {
		c.Retention, _ = time.ParseDuration(fc.Retention)
	}
	if fc.PollInterval != "" {
		c.Poll, _ = time.ParseDuration(fc.PollInterval)
	}
	seen := map[string]bool{}
	for i, w := range fc.Webhooks {
		at := fmt.Sprintf("feed.webhooks[%d]", i)
		if seen[w.Name] {
			return c, fmt.Errorf("config: %s: name %q is used twice (it names the webhook's cursor)", at, w.Name)
		}
		seen[w.Name] = true
		secret := w.Secret
		if w.SecretFile != "" {
			b, err := os.ReadFile(w.SecretFile)
			if err != nil {
				return c, fmt.Errorf("config: %s.secretFile: %w", at, err)
			}
			secret = strings.TrimSpace(string(b))
		}
		if len(secret) < 16 {
			return c, fmt.Errorf("config: %s: the secret must have at least 16 characters", at)
		}
		f := store.ChangeFilter{Types: w.Filter.Type}
		if w.Filter.Kind != "" {
			f.Kinds = []string{strings.ToLower(w.Filter.Kind)}
		}
		for _, r := range []struct {
			v    string
			dst  *string
			kind string
			key  string
		}{{w.Filter.Owner, &f.Owner, "group", "owner"}, {w.Filter.Ref, &f.Ref, "component", "ref"}} {
			if r.v == "" {
				continue
			}
			ref, err := catalog.CanonicalRef(r.v, catalog.RefDefaults{Kind: r.kind})
			if err != nil {
				return c, fmt.Errorf("config: %s.filter.%s: %v", at, r.key, err)
			}
			*r.dst = ref
		}
		c.Webhooks = append(c.Webhooks, feed.Webhook{Name: w.Name, URL: w.URL, Secret: secret, Filter: f})
	}
	return c, nil
}

// feedClient is the webhooks' HTTP client: the read allow-list and dialer, with more retries
// and time than a read (a receiver restarting should not cost a round of backoff).
func feedClient(allow []reading.Allow) *reading.Reader {
	return reading.New(reading.Options{Allow: allow, Retries: 4, Timeout: 60 * time.Second})
}
