package catalog

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseRefReadsEachFormAndFillsInWhatIsLeftOut(t *testing.T) {
	noDefaults := RefDefaults{}
	group := RefDefaults{Kind: "Group"}
	groupInTeamA := RefDefaults{Kind: "Group", Namespace: "team-a"}
	cases := []struct {
		name string
		in   string
		d    RefDefaults
		want Ref
	}{
		{"kind, namespace and name are all read", "component:ns/name", noDefaults, Ref{"component", "ns", "name"}},
		{"kind and name take the default namespace", "component:name", noDefaults, Ref{"component", "default", "name"}},
		{"kind and name take the namespace given as default", "component:name", groupInTeamA, Ref{"component", "team-a", "name"}},
		{"namespace and name take the default kind", "ns/name", group, Ref{"Group", "ns", "name"}},
		{"a bare name takes both defaults", "name", groupInTeamA, Ref{"Group", "team-a", "name"}},
		{"a bare name takes the default kind and namespace default", "name", group, Ref{"Group", "default", "name"}},
		{"an explicit kind wins over the default kind", "user:jdoe", group, Ref{"user", "default", "jdoe"}},
		{"an explicit namespace wins over the default namespace", "other/name", groupInTeamA, Ref{"Group", "other", "name"}},
		{"the casing of every part is kept", "Component:NS/My-Name", noDefaults, Ref{"Component", "NS", "My-Name"}},
		{"a '/' before the first ':' ends the namespace and the ':' is part of the name", "ns/a:b", group, Ref{"Group", "ns", "a:b"}},
		{"a ':' after the kind is part of the name", "a:b:c", noDefaults, Ref{"a", "default", "b:c"}},
		{"a ':' inside the namespace is kept, as Backstage does", "a:b:c/d", noDefaults, Ref{"a", "b:c", "d"}},
		{"a '/' after the namespace is part of the name", "k:ns/a/b", noDefaults, Ref{"k", "ns", "a/b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseRef(c.in, c.d)
			if err != nil {
				t.Fatalf("ParseRef(%q, %+v) returned error %v", c.in, c.d, err)
			}
			if got != c.want {
				t.Errorf("ParseRef(%q, %+v) = %+v, want %+v", c.in, c.d, got, c.want)
			}
		})
	}
}

func TestParseRefRejectsRefsWithAnEmptyPartOrNoKind(t *testing.T) {
	cases := []struct {
		name     string
		in       string
		d        RefDefaults
		wantText string // a part of the message besides the quoted ref
	}{
		{"an empty ref is rejected", "", RefDefaults{Kind: "Group"}, "is not of the form"},
		{"an empty name after the kind is rejected", "a:", RefDefaults{Kind: "Group"}, "is not of the form"},
		{"an empty kind is rejected", ":a", RefDefaults{Kind: "Group"}, "is not of the form"},
		{"an empty name after the namespace is rejected", "a/", RefDefaults{Kind: "Group"}, "is not of the form"},
		{"an empty namespace is rejected", "/a", RefDefaults{Kind: "Group"}, "is not of the form"},
		{"an empty namespace between kind and name is rejected", "a:/b", RefDefaults{Kind: "Group"}, "is not of the form"},
		{"an empty name after kind and namespace is rejected", "a:b/", RefDefaults{Kind: "Group"}, "is not of the form"},
		{"a bare name is rejected when the field has no default kind", "name", RefDefaults{}, "has no kind"},
		{"a namespaced name is rejected when the field has no default kind", "ns/name", RefDefaults{Namespace: "ns"}, "has no kind"},
		{"a '/' before ':' means no kind, so it is rejected without a default kind", "ns/a:b", RefDefaults{}, "has no kind"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseRef(c.in, c.d)
			if err == nil {
				t.Fatalf("ParseRef(%q, %+v) = %+v, want an error", c.in, c.d, got)
			}
			if got != (Ref{}) {
				t.Errorf("ParseRef(%q) returned %+v with its error, want the zero Ref", c.in, got)
			}
			msg := err.Error()
			if quoted := `"` + c.in + `"`; !strings.Contains(msg, quoted) {
				t.Errorf("error %q does not name the ref %s", msg, quoted)
			}
			if !strings.Contains(msg, c.wantText) {
				t.Errorf("error %q does not contain %q", msg, c.wantText)
			}
		})
	}
}

func TestParseRefErrorForAMissingKindSuggestsAKindedRef(t *testing.T) {
	_, err := ParseRef("ns/db", RefDefaults{})
	if err == nil {
		t.Fatal("ParseRef(\"ns/db\", {}) succeeded, want an error")
	}
	if want := "component:ns/db"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not suggest %q", err, want)
	}
}

func TestCanonicalRefIsTheLowerCasedKindNamespaceAndName(t *testing.T) {
	cases := []struct {
		name string
		in   string
		d    RefDefaults
		want string
	}{
		{"every written part is lower-cased", "Component:Team-A/Artist-Web", RefDefaults{}, "component:team-a/artist-web"},
		{"the default kind is lower-cased", "artist-web", RefDefaults{Kind: "Component"}, "component:default/artist-web"},
		{"the default namespace is lower-cased", "artist-web", RefDefaults{Kind: "Component", Namespace: "Team-A"}, "component:team-a/artist-web"},
		{"non-ASCII letters are lower-cased too", "Group:default/ÄRZTE", RefDefaults{}, "group:default/ärzte"},
		{"a name with ':' keeps it", "ns/a:B", RefDefaults{Kind: "API"}, "api:ns/a:b"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := CanonicalRef(c.in, c.d)
			if err != nil {
				t.Fatalf("CanonicalRef(%q, %+v) returned error %v", c.in, c.d, err)
			}
			if got != c.want {
				t.Errorf("CanonicalRef(%q, %+v) = %q, want %q", c.in, c.d, got, c.want)
			}
		})
	}
}

func TestCanonicalRefPassesOnTheParseError(t *testing.T) {
	got, err := CanonicalRef("a:/b", RefDefaults{Kind: "Group"})
	if err == nil {
		t.Fatalf("CanonicalRef(\"a:/b\") = %q, want an error", got)
	}
	if got != "" {
		t.Errorf("CanonicalRef returned %q with its error, want \"\"", got)
	}
	if !strings.Contains(err.Error(), `"a:/b"`) {
		t.Errorf("error %q does not name the ref", err)
	}
}

func TestRefStringIsLowerCaseKindColonNamespaceSlashName(t *testing.T) {
	got := Ref{Kind: "API", Namespace: "Payments", Name: "Checkout-API"}.String()
	if want := "api:payments/checkout-api"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestSplitCanonicalReturnsTheParts(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want Ref
	}{
		{"a plain canonical ref is split in three", "component:default/artist-web", Ref{"component", "default", "artist-web"}},
		{"a ':' in the name stays in the name", "group:ns/a:b", Ref{"group", "ns", "a:b"}},
		{"a '/' in the name stays in the name", "k:ns/a/b", Ref{"k", "ns", "a/b"}},
		{"a ':' in the namespace stays in the namespace", "a:b:c/d", Ref{"a", "b:c", "d"}},
		{"a string without ':' is taken as a bare name", "artist-web", Ref{Name: "artist-web"}},
		{"a string without '/' after the kind is taken as a bare name", "component:artist-web", Ref{Name: "component:artist-web"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := SplitCanonical(c.in); got != c.want {
				t.Errorf("SplitCanonical(%q) = %+v, want %+v", c.in, got, c.want)
			}
		})
	}
}

func TestSplitCanonicalUndoesCanonicalRef(t *testing.T) {
	for _, in := range []string{"Component:NS/Name", "ns/a:b", "a:b:c", "a:b:c/d", "k:ns/a/b", "x"} {
		t.Run("the parts of "+in+" come back lower-cased", func(t *testing.T) {
			r, err := ParseRef(in, RefDefaults{Kind: "Group"})
			if err != nil {
				t.Fatal(err)
			}
			want := Ref{strings.ToLower(r.Kind), strings.ToLower(r.Namespace), strings.ToLower(r.Name)}
			if got := SplitCanonical(r.String()); got != want {
				t.Errorf("SplitCanonical(%q) = %+v, want %+v", r.String(), got, want)
			}
		})
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{
		"component:ns/name", "component:name", "ns/name", "name", "a:", ":a", "a/", "/a", "a:/b", "",
		"ns/a:b", "a:b:c", "a:b:c/d", "k:ns/a/b", "Component:NS/Ärzte", "İ:K/ẞ", "a\xff:b/c", "::", "//", ":/",
	} {
		f.Add(s)
	}
	defaults := []RefDefaults{{}, {Kind: "Component"}, {Kind: "Group", Namespace: "team-a"}}
	f.Fuzz(func(t *testing.T, s string) {
		for _, d := range defaults {
			r, err := ParseRef(s, d)
			if err != nil {
				if r != (Ref{}) {
					t.Fatalf("ParseRef(%q, %+v) returned %+v with error %v", s, d, r, err)
				}
				if !strings.Contains(err.Error(), strconv.Quote(s)) {
					t.Fatalf("error %q does not name the ref %s", err, strconv.Quote(s))
				}
				continue
			}
			if r.Kind == "" || r.Namespace == "" || r.Name == "" {
				t.Fatalf("ParseRef(%q, %+v) = %+v, which has an empty part", s, d, r)
			}
			canon := r.String()
			if strings.ToLower(canon) != canon {
				t.Fatalf("String() of %+v = %q, which is not lower-case", r, canon)
			}
			again, err := ParseRef(canon, RefDefaults{})
			if err != nil {
				t.Fatalf("ParseRef(%q) parsed, but its canonical form %q does not: %v", s, canon, err)
			}
			if again.String() != canon {
				t.Fatalf("canonical form %q of %q parses back to %+v (%q)", canon, s, again, again.String())
			}
			want := Ref{strings.ToLower(r.Kind), strings.ToLower(r.Namespace), strings.ToLower(r.Name)}
			if got := SplitCanonical(canon); got != want {
				t.Fatalf("SplitCanonical(%q) = %+v, want %+v", canon, got, want)
			}
		}
	})
}
