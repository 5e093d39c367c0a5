package catalog

import (
	"strings"
	"unicode/utf8"
	"unsafe"
)

// decodeYAMLFast decodes a document written in the plain block style nearly every descriptor
// uses (block mappings and sequences, one-line plain and quoted scalars, comments) straight
// into JSON values, without building yaml.v3's node tree, which took most of an ingest's
// decoding time. ok is false for anything outside that subset (flow collections, anchors,
// tags, block or multi-line scalars, escapes, tabs, duplicate keys, anything malformed), and
// then decodeYAML's full parser decides, so values and errors are always the full parser's:
// FuzzDecodeYAMLFast holds the two to the same answers.
func decodeYAMLFast(data []byte) (doc map[string]any, ok bool) {
	if !fastYAMLChars(data) {
		return nil, false
	}
	p := fastParser{lines: fastYAMLLines(data), endsInBreak: len(data) > 0 && data[len(data)-1] == '\n'}
	if !p.skipBlank() || p.lines[p.i].indent != 0 {
		return nil, false
	}
	for _, l := range p.lines {
		if l.indent == 0 && (strings.HasPrefix(l.text, "---") || strings.HasPrefix(l.text, "...")) {
			return nil, false // a document marker (ParseDocuments splits on these first)
		}
	}
	m, ok := p.mapping(0)
	if !ok || p.skipBlank() {
		return nil, false
	}
	return m, true
}

// fastYAMLChars reports whether data holds only characters the fast path reads as they are:
// no tab, carriage return or other control character, and no character YAML treats as a line
// break (U+0085, U+2028, U+2029) or forbids (a byte order mark or non-printable inside).
func fastYAMLChars(data []byte) bool {
	for i := 0; i < len(data); {
		c := data[i]
		if c < utf8.RuneSelf {
			if (c < ' ' && c != '\n') || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError || r < 0xa0 || r == 0x2028 || r == 0x2029 || (r >= 0xd800 && r < 0xe000) || r == 0xfeff || r == 0xfffe || r == 0xffff {
			return false
		}
		i += size
	}
	return true
}

type fastLine struct {
	indent int
	text   string // after the indentation, trailing spaces removed; empty for a blank line
	raw    string // the whole line, for block scalars
}

// skip reports a line with no content: blank, or a comment (which, outside multi-line scalars,
// means nothing).
func (l fastLine) skip() bool { return l.text == "" || l.text[0] == '#' }

// The lines' text shares data's memory (not copied: parsing only reads it); every string that
// goes into the decoded value is cloned, so the value pins no part of the file.
func fastYAMLLines(data []byte) []fastLine {
	s := unsafe.String(unsafe.SliceData(data), len(data))
	lines := make([]fastLine, 0, strings.Count(s, "\n")+1)
	for len(s) > 0 {
		line := s
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			line, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		indent := 0
		for indent < len(line) && line[indent] == ' ' {
			indent++
		}
		lines = append(lines, fastLine{indent, strings.TrimRight(line[indent:], " "), line})
	}
	return lines
}

type fastParser struct {
	lines []fastLine
	i     int // the next line to read
	depth int
	// endsInBreak: the document's last line ends with a line break.
	endsInBreak bool
}

// skipBlank moves past lines without content; it reports whether a line with content remains.
func (p *fastParser) skipBlank() bool {
	for p.i < len(p.lines) && p.lines[p.i].skip() {
		p.i++
	}
	return p.i < len(p.lines)
}

// nextIndentAbove reports whether the next line with content is indented more than indent.
func (p *fastParser) nextIndentAbove(indent int) bool {
	return p.skipBlank() && p.lines[p.i].indent > indent
}

// maxFastDepth bounds the nesting the fast path follows; deeper documents go to the full parser.
const maxFastDepth = 64

// node reads the block node whose first line is the next one, at the indentation of that line.
func (p *fastParser) node() (any, bool) {
	if p.depth++; p.depth > maxFastDepth {
		return nil, false
	}
	defer func() { p.depth-- }()
	l := p.lines[p.i]
	if isSeqItem(l.text) {
		return p.sequence(l.indent)
	}
	return p.mapping(l.indent)
}

func isSeqItem(text string) bool { return text[0] == '-' && (len(text) == 1 || text[1] == ' ') }

// mapping reads the entries of a block mapping at indent.
func (p *fastParser) mapping(indent int) (map[string]any, bool) {
	m := map[string]any{}
	for p.skipBlank() {
		l := p.lines[p.i]
		if l.indent < indent {
			break
		}
		if l.indent > indent || isSeqItem(l.text) {
			return nil, false
		}
		key, rest, ok := splitFastKey(l.text)
		if !ok {
			return nil, false
		}
		if _, dup := m[key]; dup {
			return nil, false // the full parser words the error
		}
		p.i++
		var v any
		if rest == "" {
			// The value is on the lines below: more indented, or a sequence at the key's own
			// indentation; neither is null.
			if p.skipBlank() {
				next := p.lines[p.i]
				if next.indent > indent || (next.indent == indent && isSeqItem(next.text)) {
					if v, ok = p.node(); !ok {
						return nil, false
					}
				}
			}
		} else if rest[0] == '|' {
			if v, ok = p.literal(indent, rest); !ok {
				return nil, false
			}
		} else {
			if v, ok = fastScalar(rest); !ok {
				return nil, false
			}
			if p.nextIndentAbove(indent) {
				return nil, false // a scalar continued on the next line
			}
		}
		m[fastKey(key)] = v
	}
	return m, true
}

// sequence reads the items of a block sequence at indent.
func (p *fastParser) sequence(indent int) ([]any, bool) {
	out := []any{}
	for p.skipBlank() {
		l := p.lines[p.i]
		if l.indent != indent || !isSeqItem(l.text) {
			if l.indent > indent {
				return nil, false
			}
			break
		}
		if l.text == "-" {
			// The item is on the lines below.
			p.i++
			var v any
			if p.nextIndentAbove(indent) {
				var ok bool
				if v, ok = p.node(); !ok {
					return nil, false
				}
			}
			out = append(out, v)
			continue
		}
		sp := 1
		for l.text[sp] == ' ' {
			sp++
		}
		rest := l.text[sp:]
		if isSeqItem(rest) {
			return nil, false // "- - a": a sequence in a sequence on one line
		}
		if _, _, isKey := splitFastKey(rest); isKey {
			// "- key: value" starts a mapping whose keys stand where this key does.
			p.lines[p.i] = fastLine{indent + sp, rest, l.raw}
			v, ok := p.node()
			if !ok {
				return nil, false
			}
			out = append(out, v)
			continue
		}
		p.i++
		var v any
		var ok bool
		if rest[0] == '|' {
			v, ok = p.literal(indent, rest)
		} else if v, ok = fastScalar(rest); ok && p.nextIndentAbove(indent) {
			ok = false // a scalar continued on the next line
		}
		if !ok {
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}

// literal reads a literal block scalar ("|" or "|-") whose header ended the line before the
// next one, in a collection at indent: its lines are those below indented more than indent,
// the first of them giving the indentation that is not part of the text.
func (p *fastParser) literal(indent int, header string) (any, bool) {
	strip := false
	switch header {
	case "|":
	case "|-":
		strip = true
	default:
		return nil, false // keep chomping, an indentation indicator or a comment
	}
	if p.i >= len(p.lines) || p.lines[p.i].text == "" || p.lines[p.i].indent <= indent {
		return nil, false // empty, or blank lines first (whose spaces the full parser checks)
	}
	ind := p.lines[p.i].indent
	var b strings.Builder
	end := p.i
	last := p.i // the last line with text
	for end < len(p.lines) {
		l := p.lines[end]
		if l.text != "" && l.indent < ind {
			break
		}
		if l.text != "" {
			last = end
		}
		end++
	}
	if last == len(p.lines)-1 && !p.endsInBreak {
		return nil, false // no line break ends the text
	}
	for j := last + 1; j < end; j++ {
		if len(p.lines[j].raw) > ind {
			return nil, false // trailing spaces past the indentation: text, not chomped
		}
	}
	for j := p.i; j <= last; j++ {
		if raw := p.lines[j].raw; len(raw) > ind {
			b.WriteString(raw[ind:])
		}
		if j < last || !strip {
			b.WriteByte('\n')
		}
	}
	p.i = end
	return b.String(), true
}

// yamlIndicators are the characters a plain scalar may not begin with (some may, followed by
// a non-space; the fast path leaves those to the full parser).
const yamlIndicators = "-?:,[]{}#&*!|>'\"%@`"

// splitFastKey splits "key: rest" (or "key:") where key is a one-line plain scalar; ok is false
// for any other line.
func splitFastKey(text string) (key, rest string, ok bool) {
	if strings.IndexByte(yamlIndicators, text[0]) >= 0 {
		return "", "", false
	}
	var i int
	for i = strings.IndexByte(text, ':'); i >= 0; {
		if i+1 == len(text) || text[i+1] == ' ' {
			break
		}
		j := strings.IndexByte(text[i+1:], ':')
		if j < 0 {
			return "", "", false
		}
		i += 1 + j
	}
	if i < 0 {
		return "", "", false
	}
	key = text[:i]
	// A key the full parser would read differently: a comment inside it, trailing spaces (it
	// trims them), or one longer than a simple key may be.
	if strings.Contains(key, " #") || key[len(key)-1] == ' ' || len(key) > 1000 {
		return "", "", false
	}
	rest = strings.TrimLeft(text[i+1:], " ")
	if rest != "" && rest[0] == '#' {
		rest = "" // only a comment follows
	}
	return key, rest, true
}

// fastScalar reads a one-line scalar (or an empty flow collection) that starts the rest of a line (after "key: " or "- ").
func fastScalar(s string) (any, bool) {
	switch s {
	case "[]": // the one flow collection read here: empty
		return []any{}, true
	case "{}":
		return map[string]any{}, true
	}
	switch s[0] {
	case '"', '\'':
		q := s[0]
		end := strings.IndexByte(s[1:], q)
		if end < 0 {
			return nil, false // continued on the next line
		}
		v := s[1 : 1+end]
		after := s[2+end:]
		if q == '"' && strings.IndexByte(v, '\\') >= 0 {
			return nil, false // escapes
		}
		if q == '\'' && after != "" && after[0] == '\'' {
			return nil, false // '' stands for a quote
		}
		if after != "" && (after[0] != ' ' || strings.TrimLeft(after, " ")[0] != '#') {
			return nil, false
		}
		return strings.Clone(v), true
	}
	if strings.IndexByte(yamlIndicators, s[0]) >= 0 && !(s[0] == '-' && len(s) > 1 && s[1] != ' ') {
		return nil, false
	}
	if i := strings.Index(s, " #"); i >= 0 {
		s = strings.TrimRight(s[:i], " ")
	}
	if strings.Contains(s, ": ") || s[len(s)-1] == ':' {
		return nil, false
	}
	v, str, err := resolvePlain(s)
	if err != nil {
		return nil, false
	}
	if str {
		return strings.Clone(s), true
	}
	return v, true
}

// fastKey returns key as a string of its own; the keys of the descriptor format, which every
// document repeats, are shared constants.
func fastKey(key string) string {
	switch key {
	case "apiVersion":
		return "apiVersion"
	case "kind":
		return "kind"
	case "metadata":
		return "metadata"
	case "spec":
		return "spec"
	case "name":
		return "name"
	case "namespace":
		return "namespace"
	case "title":
		return "title"
	case "description":
		return "description"
	case "tags":
		return "tags"
	case "labels":
		return "labels"
	case "annotations":
		return "annotations"
	case "links":
		return "links"
	case "url":
		return "url"
	case "icon":
		return "icon"
	case "type":
		return "type"
	case "lifecycle":
		return "lifecycle"
	case "owner":
		return "owner"
	case "system":
		return "system"
	case "domain":
		return "domain"
	case "dependsOn":
		return "dependsOn"
	case "providesApis":
		return "providesApis"
	case "consumesApis":
		return "consumesApis"
	case "definition":
		return "definition"
	case "profile":
		return "profile"
	case "parent":
		return "parent"
	case "children":
		return "children"
	case "members":
		return "members"
	case "memberOf":
		return "memberOf"
	case "target":
		return "target"
	case "targets":
		return "targets"
	}
	return strings.Clone(key)
}
