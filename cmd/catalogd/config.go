package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"catalogd/internal/ingest"
)

// The configuration file is YAML checked against a JSON Schema (config.schema.json): the
// schema library reports every problem at once with its location (unknown keys, wrong types,
// bad values), which the YAML decoder's KnownFields cannot (it stops at the first, and names
// Go types). Durations are a custom format, so "banana" is reported where it stands.
//
//go:embed config.schema.json
var configSchemaJSON []byte

// fileConfig is the configuration file, once checked.
type fileConfig struct {
	Database           string   `json:"database"`
	Addr               string   `json:"addr"`
	LogLevel           string   `json:"logLevel"`
	RefreshInterval    string   `json:"refreshInterval"`
	ChangeCheck        string   `json:"changeCheckInterval"`
	RequestTimeout     string   `json:"requestTimeout"`
	ContactAnnotations []string `json:"contactAnnotations"`
	Reading            struct {
		Allow []string `json:"allow"`
		Files []string `json:"files"`
	} `json:"reading"`
	Guards struct {
		MaxRemovalShare *float64 `json:"maxRemovalShare"`
	} `json:"guards"`
	Auth struct {
		OIDC struct {
			Issuers           []string `json:"issuers"`
			Audiences         []string `json:"audiences"`
			UserClaim         string   `json:"userClaim"`
			UserMatch         string   `json:"userMatch"`
			GroupsClaim       string   `json:"groupsClaim"`
			ServicePrincipals []string `json:"servicePrincipals"`
		} `json:"oidc"`
		APIKeyFile           string   `json:"apiKeyFile"`
		Roles                []string `json:"roles"`
		RoleBindings         []string `json:"roleBindings"`
		AllowAnonymousRead   *bool    `json:"allowAnonymousRead"`
		InsecureNoAuth       *bool    `json:"insecureNoAuth"`
		CORSOrigins          []string `json:"corsOrigins"`
		PersistedQueries     string   `json:"persistedQueries"`
		OnlyPersistedQueries *bool    `json:"onlyPersistedQueries"`
	} `json:"auth"`
	Webhooks struct {
		GitHub struct {
			Secret string `json:"secret"`
		} `json:"github"`
	} `json:"webhooks"`
	// Operation (ops.go, migrate.go).
	LogFormat string `json:"logFormat"`
	Migrate   string `json:"migrate"`
	Metrics   struct {
		TokenFile string `json:"tokenFile"`
		Pprof     *bool  `json:"pprof"`
	} `json:"metrics"`
	Tracing struct {
		OTLPEndpoint string `json:"otlpEndpoint"`
	} `json:"tracing"`
	Server struct {
		ShutdownTimeout string    `json:"shutdownTimeout"`
		AnswerCacheSize sizeValue `json:"answerCacheSize"`
	} `json:"server"`
	Scaffolder struct {
		Workers       *int   `json:"workers"`
		LeaseDuration string `json:"leaseDuration"`
		SecretKeyFile string `json:"secretKeyFile"`
		GitHub        struct {
			APIURL string `json:"apiUrl"`
		} `json:"github"`
	} `json:"scaffolder"`
	Feed  feedFileConfig `json:"feed"`
	Slack struct {
		SigningSecret string `json:"signingSecret"`
		BotToken      string `json:"botToken"`
	} `json:"slack"`
	// Memory (memory.go).
	SQLite struct {
		CacheSize      sizeValue `json:"cacheSize"`
		ApplyCacheSize sizeValue `json:"applyCacheSize"`
		MmapSize       sizeValue `json:"mmapSize"`
	} `json:"sqlite"`
	MemoryLimit sizeValue               `json:"memoryLimit"`
	Locations   []ingest.LocationConfig `json:"-"`
}

// maxConfigBytes bounds the configuration file.
const maxConfigBytes = 1 << 20

// loadConfig reads, expands (${ENV}) and checks a configuration file. Every problem is
// returned, each naming its key path.
// types, when given, are the provider types a location may name.
func loadConfig(path string, getenv func(string) string, types []string) (*fileConfig, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("config %s: %w", path, err)
	}
	if len(data) > maxConfigBytes {
		return nil, nil, fmt.Errorf("config %s: larger than %d bytes", path, maxConfigBytes)
	}
	cfg, problems := parseConfig(data, getenv, types)
	return cfg, problems, nil
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

func parseConfig(data []byte, getenv func(string) string, types []string) (*fileConfig, []string) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, []string{fmt.Sprintf("not YAML: %v", err)}
	}
	if len(root.Content) == 0 {
		return &fileConfig{}, nil
	}
	var problems []string
	// ${NAME} in a value is replaced by the environment variable NAME (for secrets).
	var expand func(n *yaml.Node, path string)
	expand = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.ScalarNode:
			if envRef.MatchString(n.Value) {
				n.Value = envRef.ReplaceAllStringFunc(n.Value, func(m string) string {
					name := envRef.FindStringSubmatch(m)[1]
					v := getenv(name)
					if v == "" {
						problems = append(problems, fmt.Sprintf("%s: ${%s} is not set in the environment", pathOr(path), name))
					}
					return v
				})
				n.Tag = "!!str"
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				expand(n.Content[i+1], joinKey(path, n.Content[i].Value))
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				expand(c, fmt.Sprintf("%s[%d]", path, i))
			}
		case yaml.DocumentNode:
			for _, c := range n.Content {
				expand(c, path)
			}
		}
	}
	expand(&root, "")
	var doc any
	if err := root.Decode(&doc); err != nil {
		return nil, append(problems, err.Error())
	}
	// The schema library takes JSON values.
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, append(problems, fmt.Sprintf("not representable as JSON: %v", err))
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, append(problems, err.Error())
	}
	if err := configSchema().Validate(inst); err != nil {
		problems = append(problems, schemaProblems(err)...)
	}
	if types != nil {
		problems = append(problems, locationTypeProblems(doc, types)...)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	var cfg fileConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, []string{err.Error()}
	}
	var withLocs struct {
		Locations []map[string]any `json:"locations"`
	}
	json.Unmarshal(raw, &withLocs)
	for _, l := range withLocs.Locations {
		lc := ingest.LocationConfig{Type: l["type"].(string), Target: l["target"].(string)}
		if s, ok := l["interval"].(string); ok {
			lc.Interval, _ = time.ParseDuration(s)
		}
		if sch, ok := l["schedule"].(map[string]any); ok {
			if s, ok := sch["interval"].(string); ok {
				lc.Interval, _ = time.ParseDuration(s)
			}
		}
		for k, v := range l {
			if k == "type" || k == "target" || k == "interval" || k == "schedule" {
				continue
			}
			if lc.Options == nil {
				lc.Options = map[string]any{}
			}
			lc.Options[k] = v
		}
		cfg.Locations = append(cfg.Locations, lc)
	}
	return &cfg, nil
}

func configSchema() *jsonschema.Schema {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.RegisterFormat(&jsonschema.Format{Name: "positive-duration", Validate: func(v any) error {
		s, ok := v.(string)
		if !ok {
			return nil
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return errors.New("is not a duration (write e.g. 30s, 5m, 1h)")
		}
		if d <= 0 {
			return errors.New("must be positive")
		}
		return nil
	}})
	c.RegisterFormat(&jsonschema.Format{Name: "size", Validate: func(v any) error {
		if s, ok := v.(string); ok {
			_, err := parseByteSize(s)
			return err
		}
		return nil
	}})
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(configSchemaJSON))
	if err != nil {
		panic(err) // the embedded schema is tested
	}
	if err := c.AddResource("config.schema.json", doc); err != nil {
		panic(err)
	}
	return c.MustCompile("config.schema.json")
}

// schemaProblems turns the schema library's error tree into "key.path: problem" lines.
func schemaProblems(err error) []string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []string{err.Error()}
	}
	printer := message.NewPrinter(language.English)
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		path := keyPath(e.InstanceLocation)
		var msg string
		switch k := e.ErrorKind.(type) {
		case *kind.AdditionalProperties:
			for _, p := range k.Properties {
				out = append(out, fmt.Sprintf("%s: unknown key", joinKey(path, excerpt(p))))
			}
			return
		case *kind.Format:
			msg = fmt.Sprintf("%s %v", quoteValue(k.Got), k.Err)
		case *kind.Type:
			msg = fmt.Sprintf("is %s, want %s", k.Got, strings.Join(k.Want, " or "))
		case *kind.Required:
			for _, m := range k.Missing {
				out = append(out, fmt.Sprintf("%s: is required", joinKey(path, m)))
			}
			return
		default:
			msg = e.ErrorKind.LocalizedString(printer)
		}
		out = append(out, fmt.Sprintf("%s: %s", pathOr(path), msg))
	}
	walk(ve)
	slices.Sort(out)
	return slices.Compact(out)
}

func quoteValue(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(excerpt(s))
	}
	return fmt.Sprint(v)
}

// keyPath renders a JSON pointer's tokens as locations[2].interval.
func keyPath(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		if _, err := strconv.Atoi(t); err == nil {
			b.WriteString("[" + t + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(t)
	}
	return b.String()
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func pathOr(p string) string {
	if p == "" {
		return "(top level)"
	}
	return p
}

func configCmd(getenv func(string) string, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with configuration files"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Check a configuration file; print each problem with its key path and exit 1 if there are any",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, problems, err := loadConfig(args[0], getenv, newRegistry(&ingest.Engine{}, nil).Types())
			if err != nil {
				return err
			}
			for _, p := range problems {
				fmt.Fprintln(stdout, p)
			}
			if len(problems) > 0 {
				fmt.Fprintf(stdout, "%d problem(s)\n", len(problems))
				return errSilent
			}
			fmt.Fprintf(stdout, "%s: ok\n", args[0])
			return nil
		},
	})
	return cmd
}

// applyConfig makes the file's settings the values of the flags that neither the command line
// nor the environment set: flags and environment override the file.
func applyConfig(cmd *cobra.Command, cfg *fileConfig, getenv func(string) string) error {
	fl := cmd.Flags()
	set := func(flag, env string, values ...string) error {
		if len(values) == 0 || fl.Lookup(flag) == nil || fl.Changed(flag) || (env != "" && getenv(env) != "") {
			return nil
		}
		for _, v := range values {
			if err := fl.Set(flag, v); err != nil {
				return fmt.Errorf("config: %s: %w", flag, err)
			}
		}
		return nil
	}
	str := func(s string) []string {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	boolean := func(b *bool) []string {
		if b == nil {
			return nil
		}
		return []string{strconv.FormatBool(*b)}
	}
	integer := func(n *int) []string {
		if n == nil {
			return nil
		}
		return []string{strconv.Itoa(*n)}
	}
	a := cfg.Auth
	return errors.Join(
		set("database", "CATALOGD_DATABASE_URL", str(cfg.Database)...),
		set("addr", "CATALOGD_ADDR", str(cfg.Addr)...),
		set("log-level", "CATALOGD_LOG_LEVEL", str(cfg.LogLevel)...),
		set("refresh-interval", "CATALOGD_REFRESH_INTERVAL", str(cfg.RefreshInterval)...),
		set("change-check-interval", "CATALOGD_CHANGE_CHECK_INTERVAL", str(cfg.ChangeCheck)...),
		set("request-timeout", "CATALOGD_REQUEST_TIMEOUT", str(cfg.RequestTimeout)...),
		set("contact-annotation", "CATALOGD_CONTACT_ANNOTATIONS", cfg.ContactAnnotations...),
		set("read-allow", "CATALOGD_READ_ALLOW", cfg.Reading.Allow...),
		set("read-allow-dir", "CATALOGD_READ_ALLOW_DIRS", cfg.Reading.Files...),
		set("oidc-issuer", "CATALOGD_OIDC_ISSUER", a.OIDC.Issuers...),
		set("oidc-audience", "CATALOGD_OIDC_AUDIENCE", a.OIDC.Audiences...),
		set("oidc-user-claim", "CATALOGD_OIDC_USER_CLAIM", str(a.OIDC.UserClaim)...),
		set("oidc-user-match", "CATALOGD_OIDC_USER_MATCH", str(a.OIDC.UserMatch)...),
		set("oidc-groups-claim", "CATALOGD_OIDC_GROUPS_CLAIM", str(a.OIDC.GroupsClaim)...),
		set("oidc-service-principal", "CATALOGD_OIDC_SERVICE_PRINCIPALS", a.OIDC.ServicePrincipals...),
		set("api-key-file", "CATALOGD_API_KEY_FILE", str(a.APIKeyFile)...),
		set("role", "CATALOGD_ROLES", a.Roles...),
		set("role-binding", "CATALOGD_ROLE_BINDINGS", a.RoleBindings...),
		set("allow-anonymous-read", "CATALOGD_ALLOW_ANONYMOUS_READ", boolean(a.AllowAnonymousRead)...),
		set("insecure-no-auth", "CATALOGD_INSECURE_NO_AUTH", boolean(a.InsecureNoAuth)...),
		set("cors-origin", "CATALOGD_CORS_ORIGINS", a.CORSOrigins...),
		set("persisted-queries", "CATALOGD_PERSISTED_QUERIES", str(a.PersistedQueries)...),
		set("only-persisted-queries", "CATALOGD_ONLY_PERSISTED_QUERIES", boolean(a.OnlyPersistedQueries)...),
		// ops
		set("log-format", "CATALOGD_LOG_FORMAT", str(cfg.LogFormat)...),
		set("migrate", "CATALOGD_MIGRATE", str(cfg.Migrate)...),
		set("metrics-token-file", "CATALOGD_METRICS_TOKEN_FILE", str(cfg.Metrics.TokenFile)...),
		set("pprof", "CATALOGD_PPROF", boolean(cfg.Metrics.Pprof)...),
		set("otlp-endpoint", "CATALOGD_OTLP_ENDPOINT", str(cfg.Tracing.OTLPEndpoint)...),
		set("shutdown-timeout", "CATALOGD_SHUTDOWN_TIMEOUT", str(cfg.Server.ShutdownTimeout)...),
		set("answer-cache-size", "CATALOGD_ANSWER_CACHE_SIZE", str(string(cfg.Server.AnswerCacheSize))...),
		set("scaffolder-workers", "CATALOGD_SCAFFOLDER_WORKERS", integer(cfg.Scaffolder.Workers)...),
		set("scaffolder-lease", "CATALOGD_SCAFFOLDER_LEASE", str(cfg.Scaffolder.LeaseDuration)...),
		set("scaffolder-secret-key-file", "CATALOGD_SCAFFOLDER_SECRET_KEY_FILE", str(cfg.Scaffolder.SecretKeyFile)...),
		set("scaffolder-github-api", "CATALOGD_SCAFFOLDER_GITHUB_API", str(cfg.Scaffolder.GitHub.APIURL)...),
		// memory
		set("sqlite-cache-size", "CATALOGD_SQLITE_CACHE_SIZE", str(string(cfg.SQLite.CacheSize))...),
		set("sqlite-apply-cache-size", "CATALOGD_SQLITE_APPLY_CACHE_SIZE", str(string(cfg.SQLite.ApplyCacheSize))...),
		set("sqlite-mmap-size", "CATALOGD_SQLITE_MMAP_SIZE", str(string(cfg.SQLite.MmapSize))...),
		set("memory-limit", "CATALOGD_MEMORY_LIMIT", str(string(cfg.MemoryLimit))...),
	)
}

// locationTypeProblems names the locations whose type no registered provider reads.
func locationTypeProblems(doc any, types []string) []string {
	m, _ := doc.(map[string]any)
	locs, _ := m["locations"].([]any)
	var out []string
	for i, l := range locs {
		lm, _ := l.(map[string]any)
		if t, ok := lm["type"].(string); ok && !slices.Contains(types, t) {
			out = append(out, fmt.Sprintf("locations[%d].type: %q is not a provider type (known: %s)", i, excerpt(t), strings.Join(types, ", ")))
		}
	}
	return out
}
