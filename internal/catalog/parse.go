package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// MaxDocumentBytes is the default limit on the size of one YAML document.
const MaxDocumentBytes = 1 << 20

// Document is one YAML document of a descriptor file: its position and either its value or the
// reason it could not be read.
type Document struct {
	Index int            // 1-based position among the file's non-empty documents
	Line  int            // 1-based line where the document starts
	Value map[string]any // JSON values; nil when Err is set
	Err   error
}

var docSeparator = regexp.MustCompile(`(?m)^(---|\.\.\.)([ \t].*)?\r?$`)

// ParseDocuments splits data into YAML documents and decodes each on its own, so a broken
// document never hides the valid ones beside it. Documents larger than maxDoc bytes (0 means
// MaxDocumentBytes), not UTF-8, not YAML or not a mapping come back with Err set.
//
// Splitting on lines that start with "---" or "..." is sound: YAML forbids those markers at
// the start of a line inside any scalar, so they always end a document.
func ParseDocuments(data []byte, maxDoc int) []Document {
	if maxDoc <= 0 {
		maxDoc = MaxDocumentBytes
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var docs []Document
	start, line := 0, 1
	emit := func(chunk []byte, startLine int) {
		if isBlankYAML(chunk) {
			return
		}
		d := Document{Index: len(docs) + 1, Line: startLine + leadingBlankLines(chunk)}
		d.Value, d.Err = decodeDocument(chunk, startLine, maxDoc)
		docs = append(docs, d)
	}
	for _, m := range docSeparator.FindAllIndex(data, -1) {
		emit(data[start:m[0]], line)
		line += bytes.Count(data[start:m[1]], []byte("\n"))
		// The separator line itself may carry content after "--- " (e.g. "--- !tag" or a
		// flow mapping); keep it with the document that follows.
		rest := data[m[0]+3 : m[1]]
		if len(bytes.TrimSpace(rest)) > 0 && data[m[0]] == '-' {
			start = m[0] + 3
			continue
		}
		start = m[1]
	}
	emit(data[start:], line)
	return docs
}

func isBlankYAML(chunk []byte) bool {
	for _, l := range bytes.Split(chunk, []byte("\n")) {
		l = bytes.TrimSpace(l)
		if len(l) > 0 && l[0] != '#' && !bytes.HasPrefix(l, []byte("%")) {
			return false
		}
	}
	return true
}

func leadingBlankLines(chunk []byte) int {
	n := 0
	for _, l := range bytes.Split(chunk, []byte("\n")) {
		t := bytes.TrimSpace(l)
		if len(t) > 0 && t[0] != '#' {
			break
		}
		n++
	}
	return n
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func decodeDocument(chunk []byte, startLine, maxDoc int) (map[string]any, error) {
	if len(chunk) > maxDoc {
		return nil, fmt.Errorf("document is %s, larger than the limit of %s", byteSize(len(chunk)), byteSize(maxDoc))
	}
	if !utf8.Valid(chunk) {
		off := invalidUTF8Offset(chunk)
		return nil, fmt.Errorf("document is not valid UTF-8 (invalid byte 0x%02x on line %d)", chunk[off], startLine+bytes.Count(chunk[:off], []byte("\n")))
	}
	var node yaml.Node
	if err := yaml.Unmarshal(chunk, &node); err != nil {
		// yaml counts lines from the start of the chunk; report them from the start of the file.
		msg := yamlLine.ReplaceAllStringFunc(err.Error(), func(s string) string {
			n, _ := strconv.Atoi(s[5:])
			return fmt.Sprintf("line %d", n+startLine-1)
		})
		return nil, fmt.Errorf("invalid YAML: %s", msg)
	}
	if len(node.Content) == 0 {
		return nil, fmt.Errorf("document is empty")
	}
	root := node.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("document is a YAML %s, but an entity must be a mapping (apiVersion, kind, metadata, spec)", nodeKind(root))
	}
	var raw any
	if err := root.Decode(&raw); err != nil {
		return nil, fmt.Errorf("invalid YAML: %v", err)
	}
	v, err := normalize(raw, "")
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "sequence"
	case yaml.ScalarNode:
		return "scalar (" + n.Value + ")"
	case yaml.AliasNode:
		return "alias"
	}
	return "node"
}

func invalidUTF8Offset(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return 0
}

func byteSize(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// normalize turns what the YAML decoder produced into JSON values: maps with string keys,
// []any, string, json.Number, bool and nil.
func normalize(v any, path string) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			n, err := normalize(val, path+"/"+k)
			if err != nil {
				return nil, err
			}
			x[k] = n
		}
		return x, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			ks := fmt.Sprint(k)
			n, err := normalize(val, path+"/"+ks)
			if err != nil {
				return nil, err
			}
			out[ks] = n
		}
		return out, nil
	case []any:
		for i, val := range x {
			n, err := normalize(val, fmt.Sprintf("%s/%d", path, i))
			if err != nil {
				return nil, err
			}
			x[i] = n
		}
		return x, nil
	case int:
		return json.Number(strconv.Itoa(x)), nil
	case int64:
		return json.Number(strconv.FormatInt(x, 10)), nil
	case uint64:
		return json.Number(strconv.FormatUint(x, 10)), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%s: %v is not a JSON number", pathOrRoot(path), x)
		}
		return json.Number(strconv.FormatFloat(x, 'g', -1, 64)), nil
	case time.Time:
		return x.Format(time.RFC3339Nano), nil
	case string, bool, nil:
		return x, nil
	}
	return fmt.Sprint(v), nil
}

func pathOrRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}
