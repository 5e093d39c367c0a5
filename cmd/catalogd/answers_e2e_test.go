package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"catalogd/internal/auth/oidctest"
	"catalogd/internal/testdb"
)

// The answer cache over HTTP, as an attacker meets it: a kept answer is given only to callers
// the door admits, and answers that depend on the caller are never shared.
func TestCachedAnswersAreGivenOnlyToAdmittedCallersAndNeverShareTheCaller(t *testing.T) {
	iss := oidctest.Start(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "c.yaml"), authCatalog)
	s, _ := startServerEnv(t, map[string]string{"CATALOGD_OIDC_ISSUER": iss.URL, "CATALOGD_OIDC_AUDIENCE": "catalogd"},
		"--location", filepath.Join(dir, "c.yaml"))
	jane := "Bearer " + iss.Sign(t, map[string]any{"sub": "u1", "email": "jane@example.com", "aud": "catalogd"})
	other := "Bearer " + iss.Sign(t, map[string]any{"sub": "u2", "email": "other@example.com", "aud": "catalogd"})
	q := `{ entity(ref: "component:default/checkout") { ref title } }`
	for range 3 { // asked, then answered from the cache
		if a := s.postAs(jane, q, nil); a.status != http.StatusOK || !strings.Contains(a.raw, `"ref":"component:default/checkout"`) {
			t.Fatalf("admitted caller: status %d, %s", a.status, a.raw)
		}
	}
	for name, authz := range map[string]string{
		"no token":         "",
		"a wrong audience": "Bearer " + iss.Sign(t, map[string]any{"sub": "u1", "aud": "another-app"}),
		"garbage":          "Bearer x.y.z",
	} {
		if a := s.postAs(authz, q, nil); a.status != http.StatusUnauthorized || strings.Contains(a.raw, "checkout") {
			t.Errorf("%s: status %d, %s", name, a.status, a.raw)
		}
	}
	viewer := `{ viewer { name } entity(ref: "component:default/checkout") { ref } }`
	s.postAs(jane, viewer, nil)
	if a := s.postAs(other, viewer, nil); !strings.Contains(a.raw, "other@example.com") || strings.Contains(a.raw, "jane") {
		t.Errorf("the viewer of another caller: %s", a.raw)
	}
}

func TestAnswerCacheSizeIsCheckedAndZeroTurnsItOff(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--database", testdb.SQLite(t)},
		func(k string) string { return map[string]string{"CATALOGD_ANSWER_CACHE_SIZE": "lots"}[k] }, &out, &out)
	if err == nil || !strings.Contains(err.Error(), `CATALOGD_ANSWER_CACHE_SIZE="lots"`) {
		t.Errorf("err = %v", err)
	}
	s := startServer(t, "--answer-cache-size", "0", "--location", demoLocation(t))
	if resp, body := postGraphQL(t, s.base, `{"query":"{ entities(first: 1) { totalCount } }"}`, nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, "totalCount") {
		t.Errorf("without a cache: %d %s", resp.StatusCode, body)
	}
}
