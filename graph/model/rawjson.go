package model

import (
	"encoding/json"
	"fmt"
	"io"
)

// RawJSON is a JSON value written to an answer as it is stored, byte for byte: the JSON
// scalar's output model for document-shaped fields (metadata, spec), which are valid JSON
// since ingestion encoded them.
type RawJSON []byte

// MarshalGQL writes the value as it is.
func (r RawJSON) MarshalGQL(w io.Writer) {
	if len(r) == 0 {
		io.WriteString(w, "null")
		return
	}
	w.Write(r)
}

// UnmarshalGQL takes any JSON value (RawJSON is an output model, but gqlgen wants both ways).
func (r *RawJSON) UnmarshalGQL(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("not a JSON value: %w", err)
	}
	*r = b
	return nil
}
