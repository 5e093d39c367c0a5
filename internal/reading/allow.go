// Package reading fetches what descriptors name by URL ($text/$json/$yaml placeholders, later
// git and webhook sources), and only what the operator allows: a host allow-list in the manner
// of Backstage's backend.reading.allow, a dialer that refuses private and other special-purpose
// addresses after DNS resolution, redirects only to allowed hosts, and bounded size and time.
// It imports nothing of catalogd, so every provider can use it.
package reading

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// ErrNotAllowed is wrapped by every refusal: a URL no allow entry covers, a redirect to one, or
// an address the dialer will not connect to.
var ErrNotAllowed = errors.New("not allowed")

// Allow is one allow-list entry, written HOST[:PORT][/PATH-PREFIX]:
//
//	docs.example.com              https or http on the default port, any path
//	*.example.com                 any subdomain of example.com (not example.com itself)
//	git.example.com:8443/org/     that port, paths /org/ and below
//	127.0.0.1:9000                a literal address: the only way to reach a private one
//
// Without a port an entry admits only the scheme's default port (80 for http, 443 for https).
type Allow struct {
	Host       string     // lower case; "*.example.com" for a wildcard
	Port       string     // "" for the scheme's default port
	PathPrefix string     // "" or a cleaned path starting with "/"
	Addr       netip.Addr // set when Host is an IP literal
}

// ParseAllow parses one allow-list entry.
func ParseAllow(s string) (Allow, error) {
	orig := s
	s = strings.TrimSpace(s)
	bad := func(why string) (Allow, error) {
		return Allow{}, fmt.Errorf("read allow entry %q: %s (want HOST[:PORT][/PATH-PREFIX])", excerpt(orig, 100), why)
	}
	if s == "" {
		return bad("empty")
	}
	if strings.Contains(s, "://") {
		return bad("give the host without a scheme")
	}
	if strings.ContainsAny(s, "?#@\\ \t") {
		return bad("no query, fragment, user or spaces")
	}
	var a Allow
	hostport := s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		hostport = s[:i]
		p := s[i:]
		if strings.Contains(p, "%") {
			return bad("no escapes in the path prefix")
		}
		clean := path.Clean(p)
		if strings.HasSuffix(p, "/") && clean != "/" {
			clean += "/"
		}
		if clean != p {
			return bad("the path prefix must be clean (no //, . or ..)")
		}
		if p != "/" {
			a.PathPrefix = p
		}
	}
	host := hostport
	if !strings.HasPrefix(hostport, "[") && strings.Count(hostport, ":") > 1 {
		return bad("an IPv6 address goes in brackets: [::1]:8080")
	}
	if strings.HasPrefix(hostport, "[") || strings.Count(hostport, ":") == 1 {
		h, port, err := net.SplitHostPort(hostport)
		if err != nil {
			if !strings.HasPrefix(hostport, "[") || !strings.HasSuffix(hostport, "]") {
				return bad("bad host or port")
			}
			h = hostport[1 : len(hostport)-1]
		} else {
			n, err := strconv.Atoi(port)
			if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
				return bad("bad port")
			}
			a.Port = port
		}
		host = h
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return bad("no zones")
		}
		a.Addr = ip.Unmap()
		a.Host = a.Addr.String()
		return a, nil
	}
	if strings.Contains(host, ":") {
		return bad("an IPv6 address goes in brackets: [::1]:8080")
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	name := strings.TrimPrefix(host, "*.")
	if !validHostname(name) || strings.Contains(name, "*") {
		return bad("not a host name")
	}
	a.Host = host
	return a, nil
}

// ParseAllowList parses entries (empty ones are skipped).
func ParseAllowList(entries []string) ([]Allow, error) {
	var out []Allow
	for _, e := range entries {
		if strings.TrimSpace(e) == "" {
			continue
		}
		a, err := ParseAllow(e)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func (a Allow) String() string {
	h := a.Host
	if a.Addr.Is6() {
		h = "[" + h + "]"
	}
	if a.Port != "" {
		h += ":" + a.Port
	}
	return h + a.PathPrefix
}

// matches reports whether the entry admits u (scheme http or https, no user info).
func (a Allow) matches(u *url.URL) bool {
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if ip, err := netip.ParseAddr(host); err == nil {
		if !a.Addr.IsValid() || ip.Unmap() != a.Addr {
			return false
		}
	} else if a.Addr.IsValid() {
		return false
	} else if suffix, ok := strings.CutPrefix(a.Host, "*."); ok {
		if !strings.HasSuffix(host, "."+suffix) {
			return false
		}
	} else if host != a.Host {
		return false
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	want := a.Port
	if want == "" {
		want = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if port != want {
		return false
	}
	if a.PathPrefix == "" {
		return true
	}
	p := u.Path
	if p == "" {
		p = "/"
	}
	// An escaped path (%2F, %2e…) or one with . or .. segments could mean another path to the
	// server than to us.
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	if u.RawPath != "" || clean != p {
		return false
	}
	if strings.HasSuffix(a.PathPrefix, "/") {
		return strings.HasPrefix(p, a.PathPrefix)
	}
	return p == a.PathPrefix || strings.HasPrefix(p, a.PathPrefix+"/")
}

// specialPrefixes are the address blocks the dialer refuses unless an allow entry names the
// address literally: IANA's special-purpose registries (RFC 6890 and successors) — this host,
// private, shared (CGNAT), loopback, link-local, documentation, benchmarking, reserved,
// multicast — and IPv6 forms that can carry an IPv4 address to an internal host (IPv4-
// compatible, NAT64, 6to4, Teredo). IPv4-mapped addresses are classified by their IPv4 part.
var specialPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
		"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
		"198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		"::/96", "::1/128", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23",
		"2001:db8::/32", "2002::/16", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// IsSpecial reports whether ip is loopback, private, link-local, unspecified, multicast or in
// another special-purpose block: an address a descriptor must not make the server connect to.
func IsSpecial(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return true
	}
	for _, p := range specialPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// excerpt returns s cut to at most n bytes on a rune boundary, with "…" when cut.
func excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
