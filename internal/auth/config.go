package auth

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"catalogd/internal/catalog"
)

// Config is everything authentication and authorization are configured with. Flags fill it
// today; a configuration file can fill the same struct later.
type Config struct {
	// Issuers whose bearer tokens are accepted. Empty (and no APIKeys): no authentication.
	Issuers []Issuer
	// UserClaim names the claim that identifies a person ("email" when empty).
	UserClaim string
	// UserMatch says which User entity the claim's value names: "email" (spec.profile.email,
	// the default), "name" (metadata.name) or "annotation:KEY" (the annotation KEY's value).
	UserMatch string
	// GroupsClaim, when set, names a claim whose values are group refs (kind defaults to
	// group) added to the principal's groups from the catalog.
	GroupsClaim string
	// ServicePrincipals are OIDC clients (client-credentials tokens) admitted as bots.
	ServicePrincipals []ServicePrincipal
	// APIKeys are static keys for scripts, stored as SHA-256 hashes.
	APIKeys []APIKey
	// Roles are custom roles added to (or replacing) the built-in ones.
	Roles map[string][]Action
	// RoleBindings give roles to users and groups.
	RoleBindings []RoleBinding
	// AllowAnonymousRead lets callers without credentials read.
	AllowAnonymousRead bool
	// VerifiedTokenCache is how many verified tokens are remembered (for at most a minute
	// and never past their expiry), so a client reusing its token is not verified again on
	// every request. 0 means 10,000; negative means none.
	VerifiedTokenCache int
}

// Issuer is one trusted OIDC issuer and the audiences its tokens must name (one of them).
type Issuer struct {
	URL       string
	Audiences []string
}

// ServicePrincipal admits a token whose client_id, azp or sub is ClientID (and which names
// no User entity) as the service Name with Roles.
type ServicePrincipal struct {
	ClientID string
	Name     string
	Roles    []string
}

// APIKey is a static key: the SHA-256 of the key, never the key itself.
type APIKey struct {
	Name  string
	Roles []string
	Hash  [sha256.Size]byte
}

// RoleBinding gives Role to Subject: "*" (every authenticated user), a user ref or a group
// ref (canonical, e.g. group:default/platform; members of the group get the role).
type RoleBinding struct {
	Role    string
	Subject string
}

// Enabled reports whether any authentication is configured.
func (c *Config) Enabled() bool { return len(c.Issuers) > 0 || len(c.APIKeys) > 0 }

// ParseAPIKeys reads "name:role[,role]:sha256hex" lines; blank lines and lines starting with
// # are skipped. source names the input in errors.
func ParseAPIKeys(r io.Reader, source string) ([]APIKey, error) {
	var keys []APIKey
	sc := bufio.NewScanner(r)
	seen := map[string]bool{}
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, ":")
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
			return nil, fmt.Errorf("%s:%d: write name:role[,role]:sha256hex (the key itself never goes in this file)", source, n)
		}
		var k APIKey
		k.Name = parts[0]
		for _, r := range strings.Split(parts[1], ",") {
			if r = strings.TrimSpace(r); r != "" {
				k.Roles = append(k.Roles, r)
			}
		}
		h, err := hex.DecodeString(strings.ToLower(parts[2]))
		if err != nil || len(h) != sha256.Size {
			return nil, fmt.Errorf("%s:%d: key %q: the third field must be 64 hex digits (sha256 of the key)", source, n, short(k.Name))
		}
		copy(k.Hash[:], h)
		if seen[k.Name] {
			return nil, fmt.Errorf("%s:%d: key name %q appears twice", source, n, short(k.Name))
		}
		seen[k.Name] = true
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return keys, nil
}

// HashAPIKey returns the hex SHA-256 of key, as the key file stores it.
func HashAPIKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// ParseServicePrincipal parses "CLIENT_ID=role[,role]".
func ParseServicePrincipal(s string) (ServicePrincipal, error) {
	id, roles, ok := strings.Cut(s, "=")
	id = strings.TrimSpace(id)
	if !ok || id == "" {
		return ServicePrincipal{}, fmt.Errorf("service principal %q: write CLIENT_ID=role[,role]", short(s))
	}
	sp := ServicePrincipal{ClientID: id, Name: id}
	for _, r := range strings.Split(roles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			sp.Roles = append(sp.Roles, r)
		}
	}
	return sp, nil
}

// ParseRoleBinding parses "ROLE=SUBJECT" where SUBJECT is * or an entity ref (user or group;
// the kind defaults to group).
func ParseRoleBinding(s string) (RoleBinding, error) {
	role, subj, ok := strings.Cut(s, "=")
	role, subj = strings.TrimSpace(role), strings.TrimSpace(subj)
	if !ok || role == "" || subj == "" {
		return RoleBinding{}, fmt.Errorf("role binding %q: write ROLE=SUBJECT, e.g. editor=group:default/platform or reader=*", short(s))
	}
	if subj != "*" {
		ref, err := catalog.CanonicalRef(subj, catalog.RefDefaults{Kind: "group"})
		if err != nil {
			return RoleBinding{}, fmt.Errorf("role binding %q: %v", short(s), err)
		}
		subj = ref
	}
	return RoleBinding{Role: role, Subject: subj}, nil
}

// validate checks the configuration before anything is served.
func (c *Config) validate(roles map[string][]Action) error {
	for _, is := range c.Issuers {
		if !strings.HasPrefix(is.URL, "https://") && !strings.HasPrefix(is.URL, "http://") {
			return fmt.Errorf("OIDC issuer %q: must be an http(s) URL", short(is.URL))
		}
		if len(is.Audiences) == 0 {
			return fmt.Errorf("OIDC issuer %q: needs at least one audience (--oidc-audience): without one, tokens issued to any other client of the provider would be accepted", short(is.URL))
		}
	}
	switch m := c.UserMatch; {
	case m == "", m == "email", m == "name":
	case strings.HasPrefix(m, "annotation:") && len(m) > len("annotation:"):
	default:
		return fmt.Errorf("user match %q: use email, name or annotation:KEY", short(m))
	}
	check := func(what string, rs []string) error {
		for _, r := range rs {
			if _, ok := roles[r]; !ok {
				return fmt.Errorf("%s: unknown role %q", what, short(r))
			}
		}
		return nil
	}
	for _, sp := range c.ServicePrincipals {
		if err := check("service principal "+sp.ClientID, sp.Roles); err != nil {
			return err
		}
	}
	for _, k := range c.APIKeys {
		if err := check("API key "+k.Name, k.Roles); err != nil {
			return err
		}
	}
	for _, b := range c.RoleBindings {
		if err := check("role binding for "+b.Subject, []string{b.Role}); err != nil {
			return err
		}
	}
	return nil
}
