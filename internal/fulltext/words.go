// Package fulltext is catalogd's search index: an in-memory inverted index of entities and
// doc pages, ranked by BM25 with column weights, with prefix terms for type-ahead.
//
// It holds no text, only each word's postings (which rows hold it and how often, weighted
// by column), each row's length and kind, so 100,000 entities and 50,000 doc pages take tens
// of megabytes. It is a snapshot: Update returns a new one sharing the unchanged parts, so
// readers never wait for a writer. The store keeps it in step with the database (see
// internal/store/fulltext.go).
package fulltext

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// IsWordRune says whether r belongs to a word: letters, digits and marks. Everything else
// (punctuation, spaces, symbols, emoji) separates words, in indexed texts and in queries alike.
func IsWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) }

// Fold lower-cases w and removes its combining marks (é → e, ñ → n), so "Zürich", "zurich"
// and "ZURICH" are one word.
func Fold(w string) string {
	ascii := true
	for i := 0; i < len(w); i++ {
		if w[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		for i := 0; i < len(w); i++ {
			if 'A' <= w[i] && w[i] <= 'Z' {
				return strings.ToLower(w)
			}
		}
		return w
	}
	var b strings.Builder
	for _, r := range norm.NFD.String(w) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return norm.NFC.String(b.String())
}

// maxWordBytes bounds an indexed word: a longer run of letters (a hash, a base64 blob) is cut,
// so one text cannot make the dictionary hold megabyte-long words.
const maxWordBytes = 64

// EachWord calls fn with each folded word of text, in order.
func EachWord(text string, fn func(word string)) {
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			// ASCII fast path: letters and digits are word bytes, everything else separates.
			if !isASCIIWord(c) {
				i++
				continue
			}
			j := i + 1
			for j < len(text) && text[j] < utf8.RuneSelf && isASCIIWord(text[j]) {
				j++
			}
			if j == len(text) || text[j] < utf8.RuneSelf {
				fn(cut(Fold(text[i:j])))
				i = j
				continue
			}
			// The word goes on with a non-ASCII rune: take it the general way.
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		if !IsWordRune(r) {
			i += size
			continue
		}
		j := i + size
		for j < len(text) {
			r, size := utf8.DecodeRuneInString(text[j:])
			if !IsWordRune(r) {
				break
			}
			j += size
		}
		fn(cut(Fold(text[i:j])))
		i = j
	}
}

func isASCIIWord(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// cut shortens w to at most maxWordBytes, at a rune boundary.
func cut(w string) string {
	if len(w) <= maxWordBytes {
		return w
	}
	n := maxWordBytes
	for n > 0 && !utf8.RuneStart(w[n]) {
		n--
	}
	return w[:n]
}
