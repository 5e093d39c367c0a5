package main

import "testing"

func TestDecodeAndTotalAffected(t *testing.T) {
	data, err := decode([]byte(`{"data":{"impact":{"totalAffected":3,"affected":[{"ref":"a"}]}}}`))
	if err != nil || string(data) != `{"impact":{"totalAffected":3,"affected":[{"ref":"a"}]}}` {
		t.Fatalf("decode: %s, %v", data, err)
	}
	if _, err := decode([]byte(`{"errors":[{"message":"boom"}],"data":null}`)); err == nil || err.Error() != "graphql: boom" {
		t.Fatalf("decode of an error answer: %v", err)
	}
	for _, tc := range []struct {
		data, field string
		n           int
		ok          bool
	}{
		{`{"impact":{"totalAffected":3,"affected":[]}}`, "impact", 3, true},
		{`{"impact":{"affected":[{"ref":"x","path":["a","b"]}],"totalAffected":7}}`, "impact", 7, true},
		{`{"other":{"totalAffected":1},"dependencies":{"totalAffected":2}}`, "dependencies", 2, true},
		{`{"impact":null}`, "impact", 0, false},
		{`{"impact":{"affected":[]}}`, "impact", 0, false},
	} {
		if n, ok := totalAffected([]byte(tc.data), tc.field); n != tc.n || ok != tc.ok {
			t.Errorf("totalAffected(%s, %s) = %d, %v; want %d, %v", tc.data, tc.field, n, ok, tc.n, tc.ok)
		}
	}
}
