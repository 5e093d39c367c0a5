package graph

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestCompactedAgreesWithEncodingJSON: when compacted says the data is as json.Marshal would
// write it, json.Marshal of it as a json.RawMessage writes it unchanged; and it says so for
// answers as gqlgen writes them (no spaces, no HTML characters), so they take the fast way.
func TestCompactedAgreesWithEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	pieces := []string{"a", "ref", " ", "\t", "\n", "<", ">", "&", "\u2028", "\u2029", "é", "✓", "\"", "\\", "\x01", "/"}
	str := func() string {
		var b strings.Builder
		for range rng.IntN(6) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	var value func(depth int) any
	value = func(depth int) any {
		switch k := rng.IntN(6); {
		case depth > 3 || k == 0:
			return str()
		case k == 1:
			return rng.IntN(1000)
		case k == 2:
			return nil
		case k == 3:
			m := map[string]any{}
			for range rng.IntN(4) {
				m[str()] = value(depth + 1)
			}
			return m
		default:
			l := []any{}
			for range rng.IntN(4) {
				l = append(l, value(depth+1))
			}
			return l
		}
	}
	fast := 0
	for range 5000 {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(rng.IntN(2) == 0)
		if rng.IntN(3) == 0 {
			enc.SetIndent("", " ")
		}
		if err := enc.Encode(value(0)); err != nil {
			t.Fatal(err)
		}
		data := bytes.TrimRight(buf.Bytes(), "\n")
		if !compacted(data) {
			continue
		}
		fast++
		out, err := json.Marshal(json.RawMessage(data))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("compacted(%s) is true, but json.Marshal writes %s", data, out)
		}
	}
	if fast < 500 {
		t.Errorf("only %d of 5000 values were found compacted", fast)
	}
	for _, s := range []string{`{"a":"b c"}`, `["x\"y",1,null,{"k":[]}]`, `"\\\\"`, `"\u2028"`} {
		if !compacted([]byte(s)) {
			t.Errorf("compacted(%s) = false", s)
		}
	}
	for _, s := range []string{`{"a": 1}`, `"<"`, "\"\xe2\x80\xa8\"", `"a\`, `"a`} {
		if compacted([]byte(s)) {
			t.Errorf("compacted(%s) = true", s)
		}
	}
}
