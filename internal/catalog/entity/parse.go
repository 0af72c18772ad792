package entity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// MaxDepth is how deeply a document may nest objects and arrays. Real entities stay far
// below it (a template's parameter schema is the deepest, at a dozen levels or so); the
// limit keeps hostile documents from exhausting the stack of every recursive walker.
const MaxDepth = 100

// Pos is a 1-based position in a source document.
type Pos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// Document is one document of a YAML stream (or a whole JSON file).
type Document struct {
	Index  int     // 0-based position in the stream
	Line   int     // where the document's content starts (1-based; 0 if unknown)
	Entity *Entity // nil when Err is set
	Err    error   // *SyntaxError, or the document is not an object

	positions map[string]Pos
}

// Position returns where field (a FieldError path) was written, if known.
func (d *Document) Position(field string) (Pos, bool) {
	p, ok := d.positions[field]
	return p, ok
}

// Locate fills Line and Column of each error whose field (or, failing that, the nearest
// enclosing field) has a known position, and returns errs.
func (d *Document) Locate(errs []FieldError) []FieldError {
	for i := range errs {
		if errs[i].Line > 0 {
			continue
		}
		for f := errs[i].Field; ; f = parentPath(f) {
			if p, ok := d.positions[f]; ok {
				errs[i].Line, errs[i].Column = p.Line, p.Column
				break
			}
			if f == "" {
				break
			}
		}
	}
	return errs
}

func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndex(p, "["); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndex(p, "."); i >= 0 {
		return p[:i]
	}
	return ""
}

// ParseDocuments reads a YAML stream (documents separated by ---) or a JSON file and
// returns one Document per non-empty document, in order, as Backstage's parseEntityYaml
// does: an empty document is skipped, one whose root is not an object is an error, and a
// syntax error ends the stream (it is the last Document). YAML is read as YAML 1.2 core as
// Backstage reads it: merge keys (<<) are ordinary keys, duplicate keys are an error,
// timestamps stay strings. Invalid UTF-8 is refused.
func ParseDocuments(data []byte) []Document {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	if !utf8.Valid(data) {
		line, col := offsetPos(data, firstInvalidUTF8(data))
		return []Document{{Err: &SyntaxError{Line: line, Column: col, Msg: "invalid UTF-8"}}}
	}
	if looksLikeJSON(data) {
		d := parseJSON(data)
		var se *SyntaxError
		if d.Err == nil || !errors.As(d.Err, &se) || se.Line == 0 {
			return []Document{d}
		}
		// Not JSON, but maybe YAML in flow style ({kind: Component, ...}), which Backstage
		// reads too. If both fail, the parser that got further explains it better.
		docs := parseYAML(data)
		if len(docs) == 0 {
			return []Document{d}
		}
		var ye *SyntaxError
		last := docs[len(docs)-1]
		if last.Err == nil || (errors.As(last.Err, &ye) && (ye.Line > se.Line || ye.Line == se.Line && ye.Column > se.Column)) {
			return docs
		}
		return []Document{d}
	}
	return parseYAML(data)
}

// Parse reads a document that must hold exactly one entity.
func Parse(data []byte) (*Entity, error) {
	docs := ParseDocuments(data)
	var found *Entity
	for _, d := range docs {
		if d.Err != nil {
			return nil, d.Err
		}
		if found != nil {
			return nil, fmt.Errorf("expected one entity, found another in document %d (line %d)", d.Index+1, d.Line)
		}
		found = d.Entity
	}
	if found == nil {
		return nil, errors.New("the document is empty")
	}
	return found, nil
}

// looksLikeJSON: a JSON object or array is read by the JSON decoder, whose tab handling
// and error positions suit JSON better than a YAML parser's.
func looksLikeJSON(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) > 0 && (t[0] == '{' || t[0] == '[')
}

func parseJSON(data []byte) Document {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return Document{Err: jsonSyntaxError(data, err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		off := int(dec.InputOffset())
		line, col := offsetPos(data, off)
		return Document{Err: &SyntaxError{Line: line, Column: col, Msg: "unexpected data after the JSON value"}}
	}
	if err := checkDepth(v, "", 0); err != nil {
		return Document{Err: err}
	}
	e, err := FromObject(v)
	if err != nil {
		return Document{Line: 1, Err: &SyntaxError{Line: 1, Column: 1, Msg: err.Error()}}
	}
	return Document{Line: 1, Entity: e}
}

func jsonSyntaxError(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Offset counts the offending byte; point at it.
		line, col := offsetPos(data, int(se.Offset)-1)
		return &SyntaxError{Line: line, Column: col, Msg: se.Error()}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		line, col := offsetPos(data, len(data))
		return &SyntaxError{Line: line, Column: col, Msg: "unexpected end of JSON input"}
	}
	return &SyntaxError{Msg: err.Error()}
}

// checkDepth refuses values nested deeper than MaxDepth.
func checkDepth(v any, path string, depth int) error {
	if depth > MaxDepth {
		return &SyntaxError{Msg: fmt.Sprintf("the document nests deeper than %d levels (at %s)", MaxDepth, path)}
	}
	switch t := v.(type) {
	case map[string]any:
		for k, c := range t {
			if err := checkDepth(c, childPath(path, k), depth+1); err != nil {
				return err
			}
		}
	case []any:
		for i, c := range t {
			if err := checkDepth(c, indexPath(path, i), depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func parseYAML(data []byte) (docs []Document) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for index := 0; ; index++ {
		var node yaml.Node
		err := decodeNode(dec, &node)
		if err == io.EOF {
			return docs
		}
		if err != nil {
			msg := err.Error()
			se := &SyntaxError{Msg: msg}
			if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
				se.Line, _ = strconv.Atoi(m[1])
				se.Msg = m[2]
			}
			return append(docs, Document{Index: index, Line: se.Line, Err: se})
		}
		if len(node.Content) == 0 {
			continue
		}
		root := node.Content[0]
		c := &converter{positions: map[string]Pos{}}
		c.budget = 10000 + 10*countNodes(root, 0)
		v, err := c.value(root, "", 0)
		d := Document{Index: index, Line: root.Line, positions: c.positions}
		if err != nil {
			d.Err = err
			docs = append(docs, d)
			continue
		}
		if v == nil {
			continue // an empty document, such as a trailing "---"
		}
		e, err := FromObject(v)
		if err != nil {
			d.Err = &SyntaxError{Line: root.Line, Column: root.Column, Msg: err.Error()}
		} else {
			d.Entity = e
		}
		docs = append(docs, d)
	}
}

// decodeNode guards against a parser panic on hostile input.
func decodeNode(dec *yaml.Decoder, node *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: cannot parse the document: %v", r)
		}
	}()
	return dec.Decode(node)
}

// countNodes counts the nodes of a document without following aliases.
func countNodes(n *yaml.Node, depth int) int {
	if depth > MaxDepth+1 {
		return 1
	}
	total := 1
	for _, c := range n.Content {
		total += countNodes(c, depth+1)
	}
	return total
}

// converter turns a YAML node tree into a JSON-shaped value, recording where each path
// was written. Aliases are expanded within a budget proportional to the document's own
// size, which stops "billion laughs" documents early.
type converter struct {
	positions map[string]Pos
	budget    int
}

func (c *converter) value(n *yaml.Node, path string, depth int) (any, error) {
	if depth > MaxDepth {
		return nil, &SyntaxError{Line: n.Line, Column: n.Column,
			Msg: fmt.Sprintf("the document nests deeper than %d levels (at %s)", MaxDepth, pathOrRoot(path))}
	}
	c.budget--
	if c.budget < 0 {
		return nil, &SyntaxError{Line: n.Line, Column: n.Column,
			Msg: "the document expands to too many values (aliases that repeat each other, a \"YAML bomb\")"}
	}
	if _, seen := c.positions[path]; !seen {
		c.positions[path] = Pos{Line: n.Line, Column: n.Column}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0], path, depth)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, &SyntaxError{Line: n.Line, Column: n.Column, Msg: "unknown alias"}
		}
		return c.value(n.Alias, path, depth+1)
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			key, err := c.key(kn)
			if err != nil {
				return nil, err
			}
			if _, dup := out[key]; dup {
				return nil, &SyntaxError{Line: kn.Line, Column: kn.Column, Msg: fmt.Sprintf("duplicate key %q (map keys must be unique)", key)}
			}
			v, err := c.value(vn, childPath(path, key), depth+1)
			if err != nil {
				return nil, err
			}
			out[key] = v
		}
		return out, nil
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, cn := range n.Content {
			v, err := c.value(cn, indexPath(path, i), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case yaml.ScalarNode:
		return scalar(n)
	}
	return nil, &SyntaxError{Line: n.Line, Column: n.Column, Msg: "unsupported YAML node"}
}

func pathOrRoot(p string) string {
	if p == "" {
		return "the root"
	}
	return p
}

func (c *converter) key(n *yaml.Node) (string, error) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode {
		return "", &SyntaxError{Line: n.Line, Column: n.Column, Msg: "a mapping key must be a plain value, not a list or a mapping"}
	}
	if n.ShortTag() == "!!null" {
		return "", nil
	}
	return n.Value, nil
}

var decimalRE = regexp.MustCompile(`^[-+]?[0-9]+$`)

// scalar resolves a scalar as YAML 1.2's core schema does.
func scalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, &SyntaxError{Line: n.Line, Column: n.Column, Msg: err.Error()}
		}
		return b, nil
	case "!!int":
		if decimalRE.MatchString(n.Value) {
			// Decimal even with a leading zero: YAML 1.2 has no implicit octal.
			s := strings.TrimPrefix(n.Value, "+")
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return json.Number(strconv.FormatInt(i, 10)), nil
			}
			f, _ := strconv.ParseFloat(s, 64) // beyond int64: a double, as JavaScript reads it
			return number(n, f)
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, &SyntaxError{Line: n.Line, Column: n.Column, Msg: err.Error()}
		}
		switch t := v.(type) {
		case int:
			return json.Number(strconv.Itoa(t)), nil
		case int64:
			return json.Number(strconv.FormatInt(t, 10)), nil
		case uint64:
			return json.Number(strconv.FormatUint(t, 10)), nil
		case float64:
			return number(n, t)
		}
		return n.Value, nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, &SyntaxError{Line: n.Line, Column: n.Column, Msg: err.Error()}
		}
		return number(n, f)
	}
	// !!str, !!timestamp (YAML 1.2 core has none: it stays a string), !!binary, custom tags.
	return n.Value, nil
}

// number turns a finite float into a JSON number; JSON has no NaN or infinity.
func number(n *yaml.Node, f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, &SyntaxError{Line: n.Line, Column: n.Column, Msg: fmt.Sprintf("%s is not a number JSON can hold", n.Value)}
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
}

// offsetPos converts a byte offset into a 1-based line and column (in characters).
func offsetPos(data []byte, off int) (line, col int) {
	off = min(max(off, 0), len(data))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	start := bytes.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCount(before[start:]) + 1
}

func firstInvalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(data)
}
