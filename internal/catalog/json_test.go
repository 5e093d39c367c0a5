package catalog

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// MarshalJSON's bytes are what entity hashes are taken of: any difference from json.Marshal
// would make every stored entity look changed.
func TestMarshalJSONMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", `quote " and \ back`, "<script>&amp;</script>", "tab\tnl\nnull\x00bell\x07\x1f\x7f",
		"line\u2028para\u2029", "bad \xff utf8 \xc3", "é ü 日本 🎉", "\b\f\r"}
	values := []any{
		nil, true, false, json.Number("0"), json.Number("-12.5e+3"), json.Number("1E9"), json.Number("123456789012345678901234567890"),
		map[string]any(nil), []any(nil), map[string]any{}, []any{}, 3.5, 1e21, int64(7), []string{"a", "<b>"}, map[string]string{"z": "1", "a": "2"},
		map[string]any{"b": 1.0, "a": []any{"x", nil, map[string]any{"<k>": json.Number("2")}}},
	}
	for _, s := range strs {
		values = append(values, s, map[string]any{s: s}, []any{s})
	}
	// A decoded descriptor, as ingestion encodes it.
	docs := ParseDocuments([]byte(`apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: a-b
  title: "Tom & Jerry <3"
  annotations: {x: "1", y: 010, z: 0x1F, w: 1.50, v: -0, u: .5e3, t: 1_000}
  tags: [a, b, null, true, ~]
spec: {type: service, lifecycle: production, owner: team-a, deep: {list: [[1, [2, {k: v}]]]}}
`), 0)
	if docs[0].Err != nil {
		t.Fatal(docs[0].Err)
	}
	values = append(values, docs[0].Value)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		values = append(values, randomValue(rng, strs, 0))
	}
	for i, v := range values {
		want, werr := json.Marshal(v)
		got, gerr := MarshalJSON(v)
		if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("value %d (%#v):\n got %s (%v)\nwant %s (%v)", i, v, got, gerr, want, werr)
		}
	}
}

func TestMarshalJSONNumbers(t *testing.T) {
	for _, n := range []string{"0", "-0", "01", "1.", ".1", "1.5", "1e", "1e+", "1e-7", "-", "+1", "1.5E+10", "0x10", "NaN", "", "12a"} {
		want, werr := json.Marshal(map[string]any{"n": json.Number(n)})
		got, gerr := MarshalJSON(map[string]any{"n": json.Number(n)})
		if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
			t.Errorf("json.Number(%q): got %s (%v), want %s (%v)", n, got, gerr, want, werr)
		}
	}
}

func randomValue(rng *rand.Rand, strs []string, depth int) any {
	k := rng.IntN(7)
	if depth > 3 {
		k = rng.IntN(4)
	}
	switch k {
	case 0:
		return strs[rng.IntN(len(strs))]
	case 1:
		return json.Number([]string{"0", "42", "-3.25", "6.02e23"}[rng.IntN(4)])
	case 2:
		return rng.IntN(2) == 0
	case 3:
		return nil
	case 4, 5:
		m := map[string]any{}
		for range rng.IntN(6) {
			m[strs[rng.IntN(len(strs))]+string(rune('a'+rng.IntN(26)))] = randomValue(rng, strs, depth+1)
		}
		return m
	default:
		l := make([]any, rng.IntN(5))
		for i := range l {
			l[i] = randomValue(rng, strs, depth+1)
		}
		return l
	}
}

// The encoding is kept with its entity until written: it must not hold a larger buffer.
func TestMarshalJSONReturnsNoSpareCapacity(t *testing.T) {
	for _, v := range []any{map[string]any{"a": "b"}, []any{"x", json.Number("1")}, "s"} {
		b, err := MarshalJSON(v)
		if err != nil {
			t.Fatal(err)
		}
		if cap(b) != len(b) {
			t.Errorf("MarshalJSON(%v): capacity %d for %d bytes", v, cap(b), len(b))
		}
	}
}
