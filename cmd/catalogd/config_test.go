package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestTheExampleConfigurationPassesConfigCheck(t *testing.T) {
	var out syncBuffer
	err := run(t.Context(), []string{"config", "check", filepath.Join("..", "..", "catalogd.example.yaml")},
		func(k string) string {
			return map[string]string{"GITHUB_WEBHOOK_SECRET": "s3cret", "FEED_WEBHOOK_SECRET": "a-feed-secret-of-16+", "SLACK_SIGNING_SECRET": "s3cret"}[k]
		}, &out, &out)
	if err != nil {
		t.Errorf("config check of the example: %v\n%s", err, out.String())
	}
}

func TestConfigCheckNamesEachProblemByItsKeyPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	writeFile(t, path, `database: sqlite:x.db
adress: 127.0.0.1:1
logLevel: loud
refreshInterval: 0s
requestTimeout: 30
reading:
  allow: raw.example.com
guards: {maxRemovalShare: 2}
auth:
  oidc: {issuer: x}
  allowAnonymousRead: "yes"
webhooks: {github: {secret: "${NOT_SET_ANYWHERE}"}}
locations:
  - type: file
    target: /srv/a
  - type: url
    target: https://example.com/c.yaml
  - type: file
    target: /srv/c
    interval: banana
  - target: /srv/d
  - type: ftp
    target: x
`)
	var out syncBuffer
	err := run(t.Context(), []string{"config", "check", path}, func(string) string { return "" }, &out, &out)
	if err == nil {
		t.Fatal("config check passed a bad file")
	}
	for _, want := range []string{
		"adress: unknown key",
		"logLevel: ",
		`refreshInterval: "0s" must be positive`,
		"requestTimeout: is number, want string",
		"reading.allow: is string, want array",
		"guards.maxRemovalShare: ",
		"auth.oidc.issuer: unknown key",
		"auth.allowAnonymousRead: is string, want boolean",
		"webhooks.github.secret: ${NOT_SET_ANYWHERE} is not set in the environment",
		`locations[2].interval: "banana" is not a duration`,
		"locations[3].type: is required",
		`locations[4].type: "ftp" is not a provider type (known: file, git, github, url)`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestFlagsAndEnvironmentOverrideTheConfigurationFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "c.yaml"), group("from-config"))
	cfg := filepath.Join(dir, "catalogd.yaml")
	writeFile(t, cfg, "refreshInterval: banana\n")
	var out syncBuffer
	if err := run(t.Context(), []string{"serve", "--config", cfg}, func(string) string { return "" }, &out, &out); err == nil ||
		!strings.Contains(err.Error(), `refreshInterval: "banana" is not a duration`) {
		t.Errorf("serve with a bad file: %v", err)
	}
	writeFile(t, cfg, "logLevel: debug\nrequestTimeout: 1s\nlocations:\n  - type: file\n    target: "+filepath.Join(dir, "c.yaml")+"\n")
	s, _ := startServerEnv(t, map[string]string{"CATALOGD_CONFIG": cfg}, "--request-timeout", "20s")
	var got struct{ Entity *struct{ Ref string } }
	s.data(`{ entity(ref: "group:from-config") { ref } }`, nil, &got)
	if got.Entity == nil {
		t.Error("the configuration file's location was not read")
	}
}
