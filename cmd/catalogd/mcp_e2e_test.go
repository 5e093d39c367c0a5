package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"catalogd/internal/auth"
	"catalogd/internal/auth/oidctest"
)

const mcpCatalog = `apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: platform, annotations: {slack.com/channel: "#platform"}}
spec: {type: department, children: [team-a]}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a, annotations: {pagerduty.com/service-id: PTEAMA}}
spec: {type: team, parent: platform, children: [], members: [alice]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: alice}
spec: {profile: {email: alice@example.com}, memberOf: [team-a]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: db-proxy, annotations: {pagerduty.com/service-id: PDBPROXY}}
spec: {type: service, lifecycle: production, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: payments, description: Takes the money}
spec: {type: service, lifecycle: production, owner: team-a, dependsOn: [component:db-proxy]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: checkout}
spec: {type: website, lifecycle: production, owner: platform, dependsOn: [component:payments]}
`

func mcpSession(t *testing.T, s *testServer, header http.Header) *mcp.ClientSession {
	t.Helper()
	hc := &http.Client{Transport: headerTransport{header}}
	c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: s.base + "/mcp", HTTPClient: hc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

type headerTransport struct{ h http.Header }

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	for k, v := range t.h {
		r.Header[k] = v
	}
	return http.DefaultTransport.RoundTrip(r)
}

func callTool(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any, out any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if out != nil && !res.IsError {
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s: structuredContent %s: %v", name, b, err)
		}
	}
	return res
}

func resultText(r *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func TestMCPToolsThroughTheGoSDKClient(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "c.yaml"), mcpCatalog)
	s := startServer(t, "--location", filepath.Join(dir, "c.yaml"))
	cs := mcpSession(t, s, nil)

	t.Run("tools/list names every tool, each with input and output schemas", func(t *testing.T) {
		res, err := cs.ListTools(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tool := range res.Tools {
			names = append(names, tool.Name)
			if tool.InputSchema == nil || tool.OutputSchema == nil {
				t.Errorf("%s: input schema %v, output schema %v", tool.Name, tool.InputSchema != nil, tool.OutputSchema != nil)
			}
		}
		slices.Sort(names)
		want := []string{"describe_catalog", "get_dependencies", "get_entity", "get_team", "impact_analysis", "list_owned",
			"recent_changes", "refresh_entity", "register_location", "search_entities", "who_owns", "whoami"}
		if !slices.Equal(names, want) {
			t.Errorf("tools (as the local admin) %q, want %q", names, want)
		}
	})
	t.Run("who_owns gives the owner, escalation through parent groups, contacts and on-call", func(t *testing.T) {
		var out struct {
			Owner      string
			Contacts   []struct{ Type, Value string }
			Escalation []struct{ Ref string }
			OnCall     []struct{ Type, Value string }
		}
		callTool(t, cs, "who_owns", map[string]any{"ref": "component:db-proxy"}, &out)
		var esc []string
		for _, e := range out.Escalation {
			esc = append(esc, e.Ref)
		}
		if out.Owner != "group:default/team-a" || !slices.Equal(esc, []string{"group:default/platform"}) ||
			len(out.OnCall) != 1 || out.OnCall[0].Value != "PDBPROXY" || len(out.Contacts) == 0 {
			t.Errorf("who_owns: %+v", out)
		}
	})
	t.Run("impact_analysis groups the affected by owner and states its bounds", func(t *testing.T) {
		var out struct {
			TotalAffected, TotalOwners int
			Owners                     []struct {
				Ref        string
				EntityRefs []string
			}
			Bounds    string
			Truncated bool
		}
		callTool(t, cs, "impact_analysis", map[string]any{"ref": "component:db-proxy"}, &out)
		if out.TotalAffected != 2 || out.TotalOwners != 2 || out.Bounds == "" || out.Truncated {
			t.Errorf("impact: %+v", out)
		}
	})
	t.Run("other tools answer with structured content", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args map[string]any
			want string
		}{
			{"describe_catalog", nil, `"component"`},
			{"search_entities", map[string]any{"query": "money"}, "component:default/payments"},
			{"get_entity", map[string]any{"ref": "payments"}, "Takes the money"},
			{"list_owned", map[string]any{"owner": "team-a"}, "component:default/db-proxy"},
			{"get_dependencies", map[string]any{"ref": "checkout", "direction": "downstream"}, "component:default/db-proxy"},
			{"get_team", map[string]any{"ref": "team-a"}, "user:default/alice"},
			{"recent_changes", map[string]any{"types": []string{"added"}}, "component:default/checkout"},
			{"whoami", nil, `"local"`},
		} {
			res := callTool(t, cs, tc.name, tc.args, nil)
			b, _ := json.Marshal(res.StructuredContent)
			if res.IsError || !strings.Contains(string(b), tc.want) {
				t.Errorf("%s: isError %v, %s %.300s", tc.name, res.IsError, resultText(res), b)
			}
		}
	})
	t.Run("bad input is a tool error that says what is wrong", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args map[string]any
			want string
		}{
			{"who_owns", map[string]any{}, "ref"},
			{"who_owns", map[string]any{"ref": "component:"}, "ref"},
			{"who_owns", map[string]any{"ref": "component:nope"}, "NOT_FOUND"},
			{"impact_analysis", map[string]any{"ref": "db-proxy", "maxDepth": -1}, "maxDepth"},
			{"get_dependencies", map[string]any{"ref": "db-proxy", "direction": "sideways"}, "direction"},
			{"recent_changes", map[string]any{"types": []string{"exploded"}}, "exploded"},
		} {
			res := callTool(t, cs, tc.name, tc.args, nil)
			if !res.IsError || !strings.Contains(resultText(res), tc.want) {
				t.Errorf("%s %v: isError %v, %q", tc.name, tc.args, res.IsError, resultText(res))
			}
		}
	})
}

// rpc posts one JSON-RPC message as a 2025-06-18 client would and returns the decoded answer.
func rpc(t *testing.T, base string, header http.Header, msg string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(msg))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(bytes.TrimSpace(b), &out)
	return resp.StatusCode, resp.Header, out
}

func TestMCPRawJSONRPCHandshake20250618(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "c.yaml"), mcpCatalog)
	s := startServer(t, "--location", filepath.Join(dir, "c.yaml"))
	status, _, init := rpc(t, s.base, nil, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}`)
	result, _ := init["result"].(map[string]any)
	if status != http.StatusOK || result["protocolVersion"] != "2025-06-18" {
		t.Fatalf("initialize: %d %v", status, init)
	}
	// Stateless: no session id is needed for what follows.
	h := http.Header{"Mcp-Protocol-Version": {"2025-06-18"}}
	status, _, _ = rpc(t, s.base, h, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	if status != http.StatusAccepted {
		t.Errorf("initialized notification: %d", status)
	}
	_, _, list := rpc(t, s.base, h, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	if !strings.Contains(mustJSON(list), `"impact_analysis"`) {
		t.Errorf("tools/list: %.300s", mustJSON(list))
	}
	_, _, call := rpc(t, s.base, h, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"impact_analysis","arguments":{"ref":"component:db-proxy","maxDepth":1}}}`)
	res, _ := call["result"].(map[string]any)
	sc, _ := res["structuredContent"].(map[string]any)
	if sc == nil || sc["totalAffected"] != float64(1) {
		t.Errorf("tools/call: %.500s", mustJSON(call))
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestMCPWithOIDCAnswers401WithTheMetadataAndListsWritesOnlyToWriters(t *testing.T) {
	iss := oidctest.Start(t)
	iss.AddClient("reader-bot", "reader-secret", "catalogd")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "c.yaml"), mcpCatalog)
	key := "ck_5f0e7c1d2b3a49687766554433221100"
	keys := filepath.Join(dir, "keys")
	writeFile(t, keys, "ci:editor:"+auth.HashAPIKey(key)+"\n")
	s, _ := startServerEnv(t, map[string]string{"CATALOGD_OIDC_ISSUER": iss.URL, "CATALOGD_OIDC_AUDIENCE": "catalogd", "CATALOGD_API_KEY_FILE": keys},
		"--location", filepath.Join(dir, "c.yaml"), "--oidc-service-principal", "reader-bot=reader")

	status, hdr, _ := rpc(t, s.base, nil, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`)
	challenge := hdr.Get("WWW-Authenticate")
	if status != http.StatusUnauthorized || !strings.Contains(challenge, `resource_metadata="`+s.base+`/.well-known/oauth-protected-resource"`) {
		t.Fatalf("without a token: %d, WWW-Authenticate %q", status, challenge)
	}
	resp, err := http.Get(s.base + "/.well-known/oauth-protected-resource")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
	}
	json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if meta.Resource != s.base+"/mcp" || !slices.Equal(meta.AuthorizationServers, []string{iss.URL}) {
		t.Errorf("metadata: %+v", meta)
	}

	list := func(authz string) []string {
		cs := mcpSession(t, s, http.Header{"Authorization": {authz}})
		res, err := cs.ListTools(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tool := range res.Tools {
			names = append(names, tool.Name)
		}
		return names
	}
	reader := list("Bearer " + iss.ClientCredentialsToken(t, "reader-bot", "reader-secret"))
	if slices.Contains(reader, "register_location") || slices.Contains(reader, "refresh_entity") || !slices.Contains(reader, "whoami") {
		t.Errorf("a reader's tools: %q", reader)
	}
	if editor := list("Bearer " + key); !slices.Contains(editor, "register_location") || !slices.Contains(editor, "refresh_entity") {
		t.Errorf("an editor's tools: %q", editor)
	}
}

// A request body over the MCP handler's bound (the SDK's 4 MiB) is refused, not decoded; a
// large argument inside the bound is a tool error, not a crash.
func TestMCPBoundsItsRequests(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "c.yaml"), mcpCatalog)
	s := startServer(t, "--location", filepath.Join(dir, "c.yaml"))
	h := http.Header{"Mcp-Protocol-Version": {"2025-06-18"}}
	huge := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_entity","arguments":{"ref":"` + strings.Repeat("a", 5<<20) + `"}}}`
	if status, _, out := rpc(t, s.base, h, huge); status < 400 || status >= 500 {
		t.Errorf("a 5 MiB request: status %d %.200s", status, mustJSON(out))
	}
	big := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_entity","arguments":{"ref":"component:` + strings.Repeat("a", 100<<10) + `"}}}`
	status, _, out := rpc(t, s.base, h, big)
	res, _ := out["result"].(map[string]any)
	if status != http.StatusOK || res["isError"] != true {
		t.Errorf("a 100 KiB ref: status %d %.300s", status, mustJSON(out))
	}
	if len(mustJSON(out)) > 10<<10 {
		t.Errorf("the error quotes the whole input: %d bytes", len(mustJSON(out)))
	}
}
