// Command sequentialize rewrites gqlgen's generated executor so lists of objects are marshalled
// on the calling goroutine (see graph/generated/sequential.go for why). go generate runs it
// right after gqlgen.
//
// It fails, and so fails go generate and CI's regeneration check, when the rewrite no longer
// applies: when gqlgen's output has no call to rewrite, or still names MarshalSliceConcurrently
// in a form this rewrite does not know. graph/generated's tests check the committed result.
package main

import (
	"bytes"
	"fmt"
	"os"
)

const (
	from = "graphql.MarshalSliceConcurrently("
	to   = "marshalSliceSequentially("
)

func main() {
	const path = "generated/generated.go"
	b, err := os.ReadFile(path)
	if err != nil {
		fail(err)
	}
	out, n, err := rewrite(b)
	if err != nil {
		fail(fmt.Errorf("%s: %w", path, err))
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		fail(err)
	}
	fmt.Printf("sequentialize: %d list marshallers rewritten in %s\n", n, path)
}

// rewrite replaces every call of gqlgen's concurrent list marshaller. Running it on code it
// already rewrote is fine (n counts the calls now sequential); code with no list marshaller at
// all, or one that still mentions the concurrent marshaller, is an error.
func rewrite(src []byte) (out []byte, n int, err error) {
	out = bytes.ReplaceAll(src, []byte(from), []byte(to))
	if bytes.Contains(out, []byte("MarshalSliceConcurrently")) {
		return nil, 0, fmt.Errorf("gqlgen's output still calls MarshalSliceConcurrently in a form this rewrite does not handle; update scripts/sequentialize")
	}
	n = bytes.Count(out, []byte(to))
	if n == 0 {
		return nil, 0, fmt.Errorf("no list marshaller to rewrite (gqlgen no longer calls %s?); update scripts/sequentialize and graph/generated/sequential.go", from[:len(from)-1])
	}
	return out, n, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "sequentialize:", err)
	os.Exit(1)
}
