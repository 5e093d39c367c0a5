package main

import (
	"strings"
	"testing"
)

func TestRewrite(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		n         int
		wantErr   string
	}{
		{name: "rewrites every call", src: "a := graphql.MarshalSliceConcurrently(ctx, 1, 0, false, f)\nb := graphql.MarshalSliceConcurrently(ctx, 2, 0, false, g)\n", n: 2},
		{name: "already rewritten code is accepted", src: "a := marshalSliceSequentially(ctx, 1, 0, false, f)\n", n: 1},
		{name: "no list marshaller is an error", src: "package generated\n", wantErr: "no list marshaller"},
		{name: "a renamed concurrent marshaller is an error", src: "a := graphql.MarshalSliceConcurrentlyWithLimit(ctx, 1, f)\n", wantErr: "still calls MarshalSliceConcurrently"},
		{name: "a qualified call of another form is an error", src: "f := graphql.MarshalSliceConcurrently\n", wantErr: "still calls MarshalSliceConcurrently"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, n, err := rewrite([]byte(tc.src))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.n || strings.Contains(string(out), "Concurrently") {
				t.Fatalf("n = %d (want %d), out:\n%s", n, tc.n, out)
			}
		})
	}
}
