package store

import (
	"html"
	"strings"
	"unicode/utf8"

	"catalogd/internal/fulltext"
)

// snippetWords is the length of a snippet in words; snippetBefore of them come before the
// first match.
const (
	snippetWords  = 24
	snippetBefore = 6
)

// snippet cuts a window of the first text holding a word that matches one of terms (starts
// with it, or is it, for a term of one character: see isPrefixTerm) and
// returns it as HTML: the text escaped, <mark> around each matching word. Made here, not
// by snippet() or ts_headline, so both databases mark the same words the same way and no
// markup from the entity's text survives: those read the full-text index's position lists
// of every matching term, which cost a prefix query a fifth of its time. texts are in order
// of preference; with no match in any, the first non-empty one is cut from its start.
func snippet(terms []string, texts ...string) string {
	fallback := ""
	for _, text := range texts {
		if text == "" {
			continue
		}
		if fallback == "" {
			fallback = text
		}
		if s, ok := markWords(terms, text, true); ok {
			return s
		}
	}
	s, _ := markWords(terms, fallback, false)
	return s
}

type span struct {
	start, end int
	match      bool
}

// markWords marks text's words; with needMatch, it reports false when none matches.
func markWords(terms []string, text string, needMatch bool) (string, bool) {
	var words []span
	first := -1
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if !fulltext.IsWordRune(r) {
			i += size
			continue
		}
		j := i
		for j < len(text) {
			r, size := utf8.DecodeRuneInString(text[j:])
			if !fulltext.IsWordRune(r) {
				break
			}
			j += size
		}
		w := span{start: i, end: j}
		lower := fulltext.Fold(text[i:j])
		for _, t := range terms {
			if lower == t || (isPrefixTerm(t) && strings.HasPrefix(lower, t)) {
				w.match = true
				break
			}
		}
		if w.match && first < 0 {
			first = len(words)
		}
		words = append(words, w)
		i = j
	}
	if first < 0 {
		if needMatch {
			return "", false
		}
		first = 0
	}
	from := max(0, first-snippetBefore)
	to := min(len(words), from+snippetWords)
	var b strings.Builder
	start := 0
	if from > 0 {
		b.WriteString("…")
		start = words[from].start
	}
	end := len(text)
	if to < len(words) {
		end = words[to-1].end
	}
	if end-start > maxSnippetBytes {
		end = start + maxSnippetBytes
		for end > start && !utf8.RuneStart(text[end]) {
			end--
		}
	}
	pos := start
	for _, w := range words[from:to] {
		if w.end > end {
			break
		}
		b.WriteString(html.EscapeString(text[pos:w.start]))
		if w.match {
			b.WriteString("<mark>" + html.EscapeString(text[w.start:w.end]) + "</mark>")
		} else {
			b.WriteString(html.EscapeString(text[w.start:w.end]))
		}
		pos = w.end
	}
	b.WriteString(html.EscapeString(text[pos:end]))
	if end < len(text) {
		b.WriteString("…")
	}
	return strings.TrimSpace(b.String()), true
}

// maxSnippetBytes bounds a snippet whose words are few but long, or absent.
const maxSnippetBytes = 600
