package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// got is a manifest reduced to what the tests compare.
type got struct {
	Index, Item, Line int
	Kind, Name        string
	Err               string
}

func summarize(ms []manifest) []got {
	var out []got
	for _, m := range ms {
		g := got{Index: m.Index, Item: m.Item, Line: m.Line}
		if m.Object != nil {
			g.Kind, g.Name = m.Object.Kind, m.Object.Metadata.Name
		}
		if m.Err != nil {
			g.Err = m.Err.Error()
		}
		out = append(out, g)
	}
	return out
}

func TestParseManifests(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []got
	}{
		{
			name: "one document",
			in:   "apiVersion: paved.dev/v1\nkind: Environment\nmetadata:\n  name: dev\n",
			want: []got{{Index: 1, Line: 1, Kind: "Environment", Name: "dev"}},
		},
		{
			name: "several documents, empty ones and comments skipped",
			in: "# leading comment\n---\napiVersion: paved.dev/v1\nkind: Environment\nmetadata: {name: a}\n" +
				"---\n---\n# only a comment\n--- # marker with comment\napiVersion: paved.dev/v1\nkind: Namespace\nmetadata: {name: b}\n...\n",
			want: []got{
				{Index: 1, Line: 3, Kind: "Environment", Name: "a"},
				{Index: 2, Line: 10, Kind: "Namespace", Name: "b"},
			},
		},
		{
			name: "a block scalar containing dashes is not split",
			in:   "apiVersion: paved.dev/v1\nkind: Environment\nmetadata: {name: a}\nspec:\n  description: |\n    ---\n    text\n",
			want: []got{{Index: 1, Line: 1, Kind: "Environment", Name: "a"}},
		},
		{
			name: "malformed document names the file line; the next still reads",
			in: "apiVersion: paved.dev/v1\nkind: Environment\nmetadata: {name: a}\n---\napiVersion: v1\nkind: X\n" +
				"metadata:\n  name: [unclosed\n---\napiVersion: paved.dev/v1\nkind: Environment\nmetadata: {name: c}\n",
			want: []got{
				{Index: 1, Line: 1, Kind: "Environment", Name: "a"},
				{Index: 2, Line: 5, Err: "malformed YAML: yaml: line 8: did not find expected ',' or ']'"},
				{Index: 3, Line: 10, Kind: "Environment", Name: "c"},
			},
		},
		{
			name: "missing kind",
			in:   "apiVersion: paved.dev/v1\nmetadata: {name: a}\n",
			want: []got{{Index: 1, Line: 1, Err: "kind is required (apiVersion paved.dev/v1)"}},
		},
		{
			name: "misspelt field",
			in:   "apiVersion: paved.dev/v1\nkind: Environment\nmetadata: {name: a}\nsepc: {}\n",
			want: []got{{Index: 1, Line: 1, Err: `unknown field "sepc"`}},
		},
		{
			name: "wrong type in metadata",
			in:   "apiVersion: paved.dev/v1\nkind: Environment\nmetadata: {name: a, labels: [x]}\n",
			want: []got{{Index: 1, Line: 1, Err: "field metadata.labels: expected a mapping, found a list"}},
		},
		{
			name: "spec that is not a mapping",
			in:   "apiVersion: paved.dev/v1\nkind: Environment\nmetadata: {name: a}\nspec: [1]\n",
			want: []got{{Index: 1, Line: 1, Err: `Environment "a": spec must be a mapping`}},
		},
		{
			name: "a document that is not a mapping",
			in:   "- a\n- b\n",
			want: []got{{Index: 1, Line: 1, Err: "not an object: expected a mapping, found a list"}},
		},
		{
			name: "List documents expand into items",
			in: "apiVersion: v1\nkind: List\nitems:\n- apiVersion: paved.dev/v1\n  kind: Namespace\n  metadata: {name: a}\n" +
				"- apiVersion: paved.dev/v1\n  kind: Namespace\n  metadata: {name: b}\n",
			want: []got{
				{Index: 1, Item: 1, Line: 1, Kind: "Namespace", Name: "a"},
				{Index: 1, Item: 2, Line: 1, Kind: "Namespace", Name: "b"},
			},
		},
		{
			name: "JSON stream and array",
			in: `{"apiVersion":"paved.dev/v1","kind":"Namespace","metadata":{"name":"a"}}
[
 {"apiVersion":"paved.dev/v1","kind":"Namespace","metadata":{"name":"b"}},
 {"apiVersion":"paved.dev/v1","kind":"Namespace","metadata":{"name":"c"}}
]`,
			want: []got{
				{Index: 1, Line: 1, Kind: "Namespace", Name: "a"},
				{Index: 2, Line: 2, Kind: "Namespace", Name: "b"},
				{Index: 3, Line: 2, Kind: "Namespace", Name: "c"},
			},
		},
		{
			name: "malformed JSON",
			in:   "{\"apiVersion\":\"paved.dev/v1\",\n\"kind\": Namespace}\n",
			want: []got{{Index: 1, Line: 2, Err: "malformed JSON at line 2: invalid character 'N' looking for beginning of value"}},
		},
		{
			name: "empty file",
			in:   "\n# nothing\n---\n",
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotMs := summarize(parseManifests("f.yaml", []byte(tt.in)))
			if diff := cmp.Diff(tt.want, gotMs); diff != "" {
				t.Errorf("parseManifests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestManifestWhere(t *testing.T) {
	m := manifest{Source: "a.yaml", Index: 2, Item: 3, Line: 7}
	if got, want := m.where(), "a.yaml: document 2 item 3 (line 7)"; got != want {
		t.Errorf("where() = %q, want %q", got, want)
	}
}

func TestManifestFiles(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"b.yaml", "a.json", "c.txt", "sub/d.yml", "sub/.hidden.yaml", ".git/e.yaml", "z/Y.YAML"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, err := manifestFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, f := range files {
		r, _ := filepath.Rel(dir, f)
		rel = append(rel, filepath.ToSlash(r))
	}
	want := []string{"a.json", "b.yaml", "sub/d.yml", "z/Y.YAML"}
	if diff := cmp.Diff(want, rel); diff != "" {
		t.Errorf("manifestFiles (-want +got):\n%s", diff)
	}

	// A file named explicitly is read whatever its extension.
	files, err = manifestFiles(filepath.Join(dir, "c.txt"))
	if err != nil || len(files) != 1 {
		t.Errorf("manifestFiles(c.txt) = %v, %v; want the file itself", files, err)
	}

	empty := t.TempDir()
	if _, err := manifestFiles(empty); err == nil || !strings.Contains(err.Error(), "no *.yaml") {
		t.Errorf("manifestFiles(empty dir) error = %v, want one saying no manifests were found", err)
	}
}

func TestReadManifestsStdin(t *testing.T) {
	ms, err := readManifests([]string{"-"}, strings.NewReader("apiVersion: paved.dev/v1\nkind: Namespace\nmetadata: {name: a}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Source != "<stdin>" || ms[0].Object.Metadata.Name != "a" {
		t.Errorf("readManifests(-) = %+v", summarize(ms))
	}
	if _, err := readManifests([]string{filepath.Join(t.TempDir(), "missing.yaml")}, nil); err == nil {
		t.Error("readManifests(missing file) succeeded")
	}
}
