package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/paved-dev/paved/api"
)

// manifest is one object read from a file, or the error that kept it from being read. Its
// position (file, document number, line) is what error messages show.
type manifest struct {
	Source string // file name, or "<stdin>"
	Index  int    // 1-based number of the document among the file's non-empty documents
	Item   int    // 1-based index in a List document, 0 otherwise
	Line   int    // 1-based line the document starts on
	Object *api.Object
	Err    error
}

// where names the manifest's position for error messages.
func (m manifest) where() string {
	s := fmt.Sprintf("%s: document %d", m.Source, m.Index)
	if m.Item > 0 {
		s += fmt.Sprintf(" item %d", m.Item)
	}
	if m.Line > 0 {
		s += fmt.Sprintf(" (line %d)", m.Line)
	}
	return s
}

// manifestExts are the file names read from a directory.
var manifestExts = map[string]bool{".yaml": true, ".yml": true, ".json": true}

// readManifests reads every object from paths: files, directories (recursively, sorted,
// hidden entries skipped) and "-" for stdin. An unreadable path is an error; a malformed
// document is reported in its manifest so that the other documents still apply.
func readManifests(paths []string, stdin io.Reader) ([]manifest, error) {
	var out []manifest
	for _, p := range paths {
		if p == "-" {
			b, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("read stdin: %w", err)
			}
			out = append(out, parseManifests("<stdin>", b)...)
			continue
		}
		files, err := manifestFiles(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			out = append(out, parseManifests(f, b)...)
		}
	}
	return out, nil
}

// manifestFiles expands p into the files to read: p itself if it is a file (whatever its
// extension, since the user named it), else the manifests under it.
func manifestFiles(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var files []string
	// WalkDir visits entries in lexical order, so the result is sorted per directory.
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != p && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && manifestExts[strings.ToLower(filepath.Ext(path))] {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no *.yaml, *.yml or *.json files in this directory", p)
	}
	return files, nil
}

// parseManifests splits a file into documents and decodes each. JSON files may hold one
// object, a stream of objects or an array of objects; YAML files hold documents separated
// by "---". A document of kind List is expanded into its items.
func parseManifests(source string, b []byte) []manifest {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	var docs []rawDoc
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		docs = splitJSON(b)
	} else {
		docs = splitYAML(b)
	}
	var out []manifest
	for i, d := range docs {
		m := manifest{Source: source, Index: i + 1, Line: d.line}
		if d.err != nil {
			m.Err = d.err
			out = append(out, m)
			continue
		}
		objs, err := decodeObjects(d.json)
		if err != nil {
			m.Err = err
			out = append(out, m)
			continue
		}
		if len(objs) == 1 && !objs[0].list {
			m.Object, m.Err = objs[0].obj, objs[0].err
			out = append(out, m)
			continue
		}
		for j, o := range objs {
			mi := m
			mi.Item = j + 1
			mi.Object, mi.Err = o.obj, o.err
			out = append(out, mi)
		}
	}
	return out
}

// rawDoc is one non-empty document as JSON, with the line it starts on.
type rawDoc struct {
	json []byte
	line int
	err  error
}

// splitYAML splits a YAML stream at document markers. YAML forbids "---" and "..." at the
// start of a line inside a document's content (block scalars are indented, and a plain or
// quoted scalar cannot contain a document marker at column 0), so a line-based split is
// exact and, unlike a streaming decoder, lets the documents after a malformed one still be
// read and gives each error its line in the file.
func splitYAML(b []byte) []rawDoc {
	var docs []rawDoc
	var cur bytes.Buffer
	start, lineNo := 1, 0
	flush := func() {
		doc := cur.Bytes()
		cur.Reset()
		if isBlankYAML(doc) {
			return
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			docs = append(docs, rawDoc{line: start, err: yamlError(err, start)})
			return
		}
		if bytes.Equal(bytes.TrimSpace(j), []byte("null")) {
			return
		}
		docs = append(docs, rawDoc{json: j, line: start})
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), len(b)+1)
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if marker, rest := docMarker(line); marker != "" {
			flush()
			start = lineNo + 1
			// "--- value" starts a document on the marker's own line.
			if marker == "---" && rest != "" {
				cur.WriteString(rest + "\n")
				start = lineNo
			}
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	return docs
}

// docMarker reports whether line is a document marker ("---" or "..."), and what follows
// a "---" on the same line, without a trailing comment.
func docMarker(line string) (marker, rest string) {
	for _, m := range []string{"---", "..."} {
		if !strings.HasPrefix(line, m) {
			continue
		}
		r := line[len(m):]
		if r != "" && r[0] != ' ' && r[0] != '\t' {
			continue
		}
		r = strings.TrimSpace(r)
		if strings.HasPrefix(r, "#") {
			r = ""
		}
		return m, r
	}
	return "", ""
}

// isBlankYAML reports whether a document holds only blank lines, comments and directives.
func isBlankYAML(doc []byte) bool {
	for _, l := range strings.Split(string(doc), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "%") {
			return false
		}
	}
	return true
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

// yamlError rewrites the line numbers the YAML parser reports, which count from the
// document's start, into lines of the file, and drops the converter's prefix.
func yamlError(err error, start int) error {
	msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
	msg = yamlLineRE.ReplaceAllStringFunc(msg, func(s string) string {
		n, _ := strconv.Atoi(s[len("line "):])
		return "line " + strconv.Itoa(n+start-1)
	})
	return fmt.Errorf("malformed YAML: %s", msg)
}

// splitJSON reads a stream of JSON values; a top-level array contributes its elements.
func splitJSON(b []byte) []rawDoc {
	var docs []rawDoc
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		off := dec.InputOffset()
		var v json.RawMessage
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return docs
		}
		line := lineAt(b, skipSpace(b, int(off)))
		if err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				line = lineAt(b, int(se.Offset))
			}
			return append(docs, rawDoc{line: line, err: fmt.Errorf("malformed JSON at line %d: %w", line, err)})
		}
		if t := bytes.TrimSpace(v); len(t) > 0 && t[0] == '[' {
			var items []json.RawMessage
			if err := json.Unmarshal(v, &items); err != nil {
				docs = append(docs, rawDoc{line: line, err: fmt.Errorf("malformed JSON: %w", err)})
				continue
			}
			for _, it := range items {
				docs = append(docs, rawDoc{json: it, line: line})
			}
			continue
		}
		docs = append(docs, rawDoc{json: v, line: line})
	}
}

func skipSpace(b []byte, off int) int {
	for off < len(b) && (b[off] == ' ' || b[off] == '\t' || b[off] == '\r' || b[off] == '\n') {
		off++
	}
	return off
}

func lineAt(b []byte, off int) int {
	if off > len(b) {
		off = len(b)
	}
	return bytes.Count(b[:off], []byte("\n")) + 1
}

type decoded struct {
	obj  *api.Object
	err  error
	list bool
}

// decodeObjects decodes one document: an object, or a List whose items are objects.
// Unknown top-level or metadata fields are errors, since a misspelt "sepc" would otherwise
// silently apply an empty spec.
func decodeObjects(j []byte) ([]decoded, error) {
	var head struct {
		Kind  string            `json:"kind"`
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(j, &head); err != nil {
		return nil, fmt.Errorf("not an object: %w", jsonTypeError(err))
	}
	if head.Kind == "List" || (head.Items != nil && strings.HasSuffix(head.Kind, "List")) {
		out := make([]decoded, 0, len(head.Items))
		for _, it := range head.Items {
			o, err := decodeObject(it)
			out = append(out, decoded{obj: o, err: err, list: true})
		}
		return out, nil
	}
	o, err := decodeObject(j)
	return []decoded{{obj: o, err: err}}, nil
}

func decodeObject(j []byte) (*api.Object, error) {
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	var o api.Object
	if err := dec.Decode(&o); err != nil {
		return nil, jsonTypeError(err)
	}
	switch {
	case o.APIVersion == "" && o.Kind == "":
		return nil, errors.New("apiVersion and kind are required")
	case o.APIVersion == "":
		return nil, fmt.Errorf("%s: apiVersion is required", o.Kind)
	case o.Kind == "":
		return nil, fmt.Errorf("kind is required (apiVersion %s)", o.APIVersion)
	}
	if len(o.Spec) > 0 && !bytes.HasPrefix(bytes.TrimSpace(o.Spec), []byte("{")) && !bytes.Equal(bytes.TrimSpace(o.Spec), []byte("null")) {
		return nil, fmt.Errorf("%s %q: spec must be a mapping", o.Kind, o.Metadata.Name)
	}
	return &o, nil
}

// jsonTypeError words encoding/json's errors in the terms of a manifest.
func jsonTypeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			return fmt.Errorf("expected a mapping, found %s", article(te.Value))
		}
		return fmt.Errorf("field %s: expected %s, found %s", field, typeWord(te.Type), article(te.Value))
	}
	if msg, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Errorf("unknown field %s", msg)
	}
	return err
}

func typeWord(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Map, reflect.Struct, reflect.Pointer:
		return "a mapping"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Name() == "RawMessage" {
			return "a value"
		}
		return "a list"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
}

// article turns encoding/json's value word ("string", "object", "array", "number") into
// a phrase.
func article(v string) string {
	switch v {
	case "object":
		return "a mapping"
	case "array":
		return "a list"
	case "":
		return "a value"
	}
	if strings.HasPrefix(v, "number") {
		return "a number"
	}
	return "a " + v
}
