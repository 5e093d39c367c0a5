package catalog

import (
	"encoding/json"
	"slices"
	"sync"
	"unicode/utf8"
)

// MarshalJSON encodes a document's value (what decodeYAML and placeholders produce: maps of
// string keys, slices, strings, json.Number, booleans and nil) byte for byte as json.Marshal
// does: keys sorted, HTML-safe strings, U+2028 and U+2029 escaped, invalid UTF-8 replaced by
// U+FFFD. Any other type is handed to json.Marshal. The bytes are what an entity's hash is
// taken of, so they must never differ from json.Marshal's; reflection made json.Marshal a
// seventh of processing a document.
//
// The result has exactly its length as capacity (the caller keeps it for as long as the
// entity waits to be written); the encoding happens in a reused buffer.
func MarshalJSON(v any) ([]byte, error) {
	scratch := jsonScratch.Get().(*[]byte)
	b, err := appendJSONValue((*scratch)[:0], v)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(b))
	copy(out, b)
	if cap(b) <= 1<<20 { // a rare huge document does not stay in the pool
		*scratch = b
		jsonScratch.Put(scratch)
	}
	return out, nil
}

var jsonScratch = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func appendJSONValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return AppendJSONString(b, x), nil
	case bool:
		if x {
			return append(b, "true"...), nil
		}
		return append(b, "false"...), nil
	case json.Number:
		if x != "" && isJSONNumber(string(x)) {
			return append(b, x...), nil
		}
	case map[string]any:
		if x == nil {
			return append(b, "null"...), nil
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		var err error
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(AppendJSONString(b, k), ':')
			if b, err = appendJSONValue(b, x[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case []any:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		var err error
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendJSONValue(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	// Anything else (and a number json.Marshal rewrites or refuses): its own encoding, which
	// is the same inside a larger value as alone.
	enc, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, enc...), nil
}

// isJSONNumber reports whether s is a number as JSON writes it (encoding/json's rule for json.Number).
func isJSONNumber(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
		if s == "" {
			return false
		}
	}
	switch {
	case s[0] == '0':
		s = s[1:]
	case '1' <= s[0] && s[0] <= '9':
		s = s[1:]
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	default:
		return false
	}
	if len(s) >= 2 && s[0] == '.' && '0' <= s[1] && s[1] <= '9' {
		s = s[2:]
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s[0] == '+' || s[0] == '-' {
			s = s[1:]
			if s == "" {
				return false
			}
		}
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	return s == ""
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s quoted as encoding/json does by default: HTML-safe (<, > and &
// escaped), U+2028 and U+2029 escaped, invalid UTF-8 replaced by U+FFFD.
func AppendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
