package catalog

import (
	"bytes"
	"fmt"
	"unicode/utf8"
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
	emit := func(chunk []byte, startLine int) {
		if isBlankYAML(chunk) {
			return
		}
		d := Document{Index: len(docs) + 1, Line: startLine + leadingBlankLines(chunk)}
		d.Value, d.Err = decodeDocument(chunk, startLine, maxDoc)
		docs = append(docs, d)
	}
	start, startLine, line := 0, 1, 1
	for pos := 0; pos < len(data); line++ {
		end := bytes.IndexByte(data[pos:], '\n')
		next := len(data)
		if end >= 0 {
			end += pos
			next = end + 1
		} else {
			end = len(data)
		}
		if marker := documentMarker(data[pos:end]); marker != 0 {
			emit(data[start:pos], startLine)
			start, startLine = next, line+1
			// "--- value" starts the next document on the marker's own line.
			if marker == '-' && len(bytes.TrimSpace(data[pos+3:end])) > 0 {
				start, startLine = pos+3, line
			}
		}
		pos = next
	}
	emit(data[start:], startLine)
	return docs
}

// documentMarker returns '-' for a "---" line, '.' for a "..." line (each optionally followed
// by white space and more), and 0 for any other line.
func documentMarker(l []byte) byte {
	l = bytes.TrimSuffix(l, []byte("\r"))
	if len(l) < 3 || (l[0] != '-' && l[0] != '.') || l[1] != l[0] || l[2] != l[0] {
		return 0
	}
	if len(l) > 3 && l[3] != ' ' && l[3] != '\t' {
		return 0
	}
	return l[0]
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

func decodeDocument(chunk []byte, startLine, maxDoc int) (map[string]any, error) {
	if len(chunk) > maxDoc {
		return nil, fmt.Errorf("document is %s, larger than the limit of %s", byteSize(len(chunk)), byteSize(maxDoc))
	}
	if !utf8.Valid(chunk) {
		off := invalidUTF8Offset(chunk)
		return nil, fmt.Errorf("document is not valid UTF-8 (invalid byte 0x%02x on line %d)", chunk[off], startLine+bytes.Count(chunk[:off], []byte("\n")))
	}
	raw, err := decodeYAML(chunk, startLine)
	if err != nil {
		return nil, err
	}
	switch v := raw.(type) {
	case map[string]any:
		return v, nil
	case nil:
		return nil, fmt.Errorf("document is empty")
	case []any:
		return nil, fmt.Errorf("document is a YAML sequence, but an entity must be a mapping (apiVersion, kind, metadata, spec)")
	default:
		return nil, fmt.Errorf("document is a YAML scalar (%s), but an entity must be a mapping (apiVersion, kind, metadata, spec)", Excerpt(fmt.Sprint(v), 60))
	}
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
