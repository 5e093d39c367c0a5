package store

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"catalogd/internal/catalog"
)

func TestJSONEncodingMatchesEncodingJSON(t *testing.T) {
	pieces := []string{"", "a", "tag-1", `"`, `\`, "<", ">", "&", "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f",
		"é", "日本", "\u2028", "\u2029", "\xff", "\xe2\x80", "🙂", "\ufffd", "/", "'"}
	rng := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		s := ""
		for range rng.IntN(5) {
			s += pieces[rng.IntN(len(pieces))]
		}
		return s
	}
	check := func(v any, got []byte) {
		t.Helper()
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("%#v: got %s, want %s", v, got, want)
		}
	}
	check([]string{}, appendJSONStrings(nil, nil))
	check(map[string]string{}, appendJSONObject(nil, nil))
	for range 5000 {
		s := make([]string, rng.IntN(4))
		for i := range s {
			s[i] = word()
		}
		if len(s) > 0 {
			check(s, appendJSONStrings(nil, s))
		}
		m := map[string]string{}
		for range rng.IntN(4) {
			m[word()] = word()
		}
		check(m, appendJSONObject(nil, m))
	}
}

func FuzzJSONString(f *testing.F) {
	f.Add("a<b>&\u2028\xff\"\\\n")
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := catalog.AppendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}

func TestCopyTextEscaping(t *testing.T) {
	for in, want := range map[string]string{
		"":            "",
		"plain":       "plain",
		`a\b`:         `a\\b`,
		"tab\there":   `tab\there`,
		"nl\nand\rcr": `nl\nand\rcr`,
		`{"a":"x\"y"}` + strings.Repeat("z", 100) + "\t": `{"a":"x\\"y"}` + strings.Repeat("z", 100) + `\t`,
		strings.Repeat("long ", 30) + "\\":               strings.Repeat("long ", 30) + `\\`,
	} {
		if got := string(appendCopyString(nil, in)); got != want {
			t.Errorf("appendCopyString(%q) = %q, want %q", in, got, want)
		}
		if got := string(appendCopyBytes(nil, []byte(in))); got != want {
			t.Errorf("appendCopyBytes(%q) = %q, want %q", in, got, want)
		}
	}
}
