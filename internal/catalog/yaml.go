package catalog

import (
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decodeYAML parses one YAML document into JSON values with the YAML 1.2 core schema, which is
// what Backstage's YAML parser applies: plain scalars are null, booleans, numbers or strings by
// the 1.2 rules only (so 2024-01-31 stays a string, 010 is ten, 0b101 and 1_000 are strings),
// keys are strings, duplicate keys are errors and "<<" is an ordinary key. Lines in errors
// count from firstLine. A nil value means an empty document.
func decodeYAML(data []byte, firstLine int) (any, error) {
	if m, ok := decodeYAMLFast(data); ok {
		return m, nil
	}
	return decodeYAMLFull(data, firstLine)
}

// decodeYAMLFull is decodeYAML through yaml.v3's node tree, for every document.
func decodeYAMLFull(data []byte, firstLine int) (any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("invalid YAML: %s", Excerpt(shiftYAMLLine(err.Error(), firstLine), MaxExcerpt))
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	c := converter{offset: firstLine - 1, aliasValues: MaxAliasValues, aliasBytes: MaxAliasBytes}
	return c.value(doc.Content[0], 0, false)
}

// The alias budget: what one document may produce through aliases, counting each copy an
// alias makes. A document's own nodes need no budget (its size bounds them); aliases are
// what turns a few bytes into billions of values ("billion laughs"). Descriptors use anchors
// to share a few small blocks (links, tags, parameters), far below these figures; and every
// alias-made value costs again in validation, relation derivation and storage.
const (
	MaxAliasValues = 10_000
	MaxAliasBytes  = 1 << 20
)

var yamlErrLine = regexp.MustCompile(`^yaml: line (\d+):`)

// shiftYAMLLine renumbers the line in a yaml error message ("yaml: line N: ...") so it counts
// from firstLine; text quoted from the document is left alone.
func shiftYAMLLine(msg string, firstLine int) string {
	return yamlErrLine.ReplaceAllStringFunc(msg, func(s string) string {
		n, _ := strconv.Atoi(s[len("yaml: line ") : len(s)-1])
		return fmt.Sprintf("yaml: line %d:", n+firstLine-1)
	})
}

type converter struct {
	offset      int
	aliasValues int // values aliases may still produce
	aliasBytes  int // scalar bytes aliases may still produce
}

func (c *converter) errorf(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("invalid YAML: line %d: %s", n.Line+c.offset, fmt.Sprintf(format, args...))
}

func (c *converter) value(n *yaml.Node, depth int, aliased bool) (any, error) {
	if aliased {
		c.aliasValues--
		if c.aliasValues < 0 {
			return nil, c.errorf(n, "document expands to too many values through aliases (more than %d)", MaxAliasValues)
		}
		if n.Kind == yaml.ScalarNode {
			c.aliasBytes -= len(n.Value)
			if c.aliasBytes < 0 {
				return nil, c.errorf(n, "aliases expand to more than %s of text", byteSize(MaxAliasBytes))
			}
		}
	}
	if depth > 1000 {
		return nil, c.errorf(n, "document is nested too deeply")
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0], depth+1, aliased)
	case yaml.AliasNode:
		return c.value(n.Alias, depth+1, true)
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, item := range n.Content {
			v, err := c.value(item, depth+1, aliased)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			for k.Kind == yaml.AliasNode {
				k = k.Alias
			}
			if k.Kind != yaml.ScalarNode {
				return nil, c.errorf(k, "a mapping key must be a scalar")
			}
			if _, dup := out[k.Value]; dup {
				return nil, c.errorf(k, "duplicate key %q", Excerpt(k.Value, 100))
			}
			v, err := c.value(n.Content[i+1], depth+1, aliased)
			if err != nil {
				return nil, err
			}
			out[k.Value] = v
		}
		return out, nil
	case yaml.ScalarNode:
		return c.scalar(n)
	}
	return nil, c.errorf(n, "unsupported YAML node")
}

var (
	yamlInt   = regexp.MustCompile(`^[-+]?[0-9]+$`)
	yamlFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)
	yamlInf   = regexp.MustCompile(`^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$`)
)

func (c *converter) scalar(n *yaml.Node) (any, error) {
	s := n.Value
	explicit := n.Style&yaml.TaggedStyle != 0
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 && !explicit {
		return s, nil
	}
	if explicit {
		switch n.ShortTag() {
		case "!!str", "!!binary", "!!timestamp":
			return s, nil
		case "!!null":
			return nil, nil
		case "!!bool", "!!int", "!!float":
			// resolved below like a plain scalar, but must then be of that type
		default:
			return s, nil // unknown tags keep their text
		}
	}
	v, str, err := resolvePlain(s)
	if err != nil {
		return nil, c.errorf(n, "%s", err)
	}
	if !str {
		return v, nil
	}
	if explicit && n.ShortTag() != "!!str" {
		return nil, c.errorf(n, "%q is not a valid %s", Excerpt(s, 100), n.ShortTag())
	}
	return s, nil
}

// resolvePlain resolves the text of a plain scalar by the YAML 1.2 core schema: null, a
// boolean or a number (a json.Number); str is true when it is none of these, a string. An
// infinity or NaN, which JSON cannot hold, is an error.
func resolvePlain(s string) (v any, str bool, err error) {
	switch s {
	case "", "~", "null", "Null", "NULL":
		return nil, false, nil
	case "true", "True", "TRUE":
		return true, false, nil
	case "false", "False", "FALSE":
		return false, false, nil
	}
	switch {
	case !strings.ContainsRune("+-.0123456789", rune(s[0])):
		// Every number (and .inf, .nan) begins with one of these; most scalars are words.
	case yamlInt.MatchString(s):
		i, ok := new(big.Int).SetString(strings.TrimPrefix(s, "+"), 10)
		if ok {
			return json.Number(i.String()), false, nil
		}
	case strings.HasPrefix(s, "0o") || strings.HasPrefix(s, "0x"):
		base := 8
		if s[1] == 'x' {
			base = 16
		}
		if i, ok := new(big.Int).SetString(s[2:], base); ok {
			return json.Number(i.String()), false, nil
		}
	case yamlFloat.MatchString(s):
		f, err := strconv.ParseFloat(s, 64)
		if err == nil {
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), false, nil
		}
	case yamlInf.MatchString(s):
		return nil, false, fmt.Errorf("%s is not a number JSON can hold", s)
	}
	return nil, true, nil
}
