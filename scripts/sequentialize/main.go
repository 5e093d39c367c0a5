// Command sequentialize rewrites gqlgen's generated executor so lists of objects are marshalled
// on the calling goroutine (see graph/generated/sequential.go for why). go generate runs it
// right after gqlgen.
package main

import (
	"bytes"
	"fmt"
	"os"
)

func main() {
	const path = "generated/generated.go"
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out := bytes.ReplaceAll(b, []byte("graphql.MarshalSliceConcurrently("), []byte("marshalSliceSequentially("))
	if err := os.WriteFile(path, out, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
