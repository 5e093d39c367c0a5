package model

// topLevel returns the raw value of a top-level member of the JSON object doc, as a slice of
// doc, without decoding the rest: the members before it are skipped over (strings, nested
// objects and arrays), those after it are not read. value is nil when doc has no such
// member; ok is false when doc is not an object this scanner reads (then the caller decodes
// it in full). Stored descriptors are valid JSON, written compact by catalogd on SQLite and
// with spaces by PostgreSQL's jsonb; a key with an escape in it is left to the full decode.
func topLevel(doc []byte, key string) (value []byte, ok bool) {
	i := skipSpace(doc, 0)
	if i >= len(doc) || doc[i] != '{' {
		return nil, false
	}
	i = skipSpace(doc, i+1)
	if i < len(doc) && doc[i] == '}' {
		return nil, true
	}
	for i < len(doc) {
		if doc[i] != '"' {
			return nil, false
		}
		start := i + 1
		end := start
		for end < len(doc) && doc[end] != '"' && doc[end] != '\\' {
			end++
		}
		if end >= len(doc) || doc[end] == '\\' {
			return nil, false
		}
		k := doc[start:end]
		i = skipSpace(doc, end+1)
		if i >= len(doc) || doc[i] != ':' {
			return nil, false
		}
		i = skipSpace(doc, i+1)
		vEnd, vok := skipValue(doc, i)
		if !vok {
			return nil, false
		}
		if string(k) == key {
			return doc[i:vEnd], true
		}
		i = skipSpace(doc, vEnd)
		if i >= len(doc) {
			return nil, false
		}
		switch doc[i] {
		case ',':
			i = skipSpace(doc, i+1)
		case '}':
			return nil, true
		default:
			return nil, false
		}
	}
	return nil, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value starting at b[i].
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, ok := skipString(b, i)
				if !ok {
					return end, false
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return i, false
	default: // a number, true, false or null
		start := i
		for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
			i++
		}
		return i, i > start
	}
}

// skipString returns the end of the string starting at b[i] (a quote), after its closing quote.
func skipString(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return i, false
}
