package entity

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the current output")

// sharedDir finds the shared conformance corpus, which lies beside the repository.
func sharedDir(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "..", "shared", "conformance", name)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the conformance corpus %s is missing (it is expected beside the repository, as ../shared): %v", name, err)
	}
	return dir
}

// corpusDoc is one entity document of the corpus.
type corpusDoc struct {
	file string // relative to the corpus
	doc  Document
}

func loadCorpus(t *testing.T, dir string) []corpusDoc {
	t.Helper()
	var out []corpusDoc
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".oas.yaml") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		for _, doc := range ParseDocuments(data) {
			if doc.Err != nil {
				t.Errorf("%s: document %d does not parse: %v", rel, doc.Index+1, doc.Err)
				continue
			}
			resolvePlaceholders(t, doc.Entity, filepath.Dir(path))
			out = append(out, corpusDoc{rel, doc})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// resolvePlaceholders stands in for the catalog's placeholder processor, which runs before
// validation: a {$text: ./file} value becomes the file's text; a URL, which the tests do
// not fetch, becomes a marker.
func resolvePlaceholders(t *testing.T, e *Entity, dir string) {
	t.Helper()
	for k, v := range e.Spec {
		m, ok := v.(map[string]any)
		if !ok || len(m) != 1 {
			continue
		}
		target, ok := m["$text"].(string)
		if !ok {
			continue
		}
		if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
			e.Spec[k] = "(not fetched in tests: " + target + ")"
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, target))
		if err != nil {
			t.Errorf("$text %s: %v", target, err)
			continue
		}
		e.Spec[k] = string(data)
	}
}

func TestBackstageCatalogCorpus(t *testing.T) {
	dir := sharedDir(t, "backstage-catalog")
	docs := loadCorpus(t, dir)

	// Every entity file parses, into the entities EXPECTED.md counts.
	kinds := map[string]int{}
	for _, d := range docs {
		kinds[d.doc.Entity.Kind]++
	}
	wantKinds := map[string]int{"User": 17, "Component": 14, "API": 10, "Group": 9, "Location": 9,
		"Domain": 3, "System": 3, "AiResource": 2, "Resource": 1}
	if diff := cmp.Diff(wantKinds, kinds); diff != "" {
		t.Errorf("entities per kind (-want +got):\n%s", diff)
	}

	ai := NewModel(BuiltinKinds(), ScaffolderKinds(), AIKinds())
	var golden strings.Builder
	for _, d := range docs {
		e := d.doc.Entity
		ref := e.Ref().String()
		errs := d.doc.Locate(Validate(e))
		aiErrs := ai.Validate(e)
		switch {
		case ref == "component:default/invalid component":
			// Rejected, and the first error (the one Backstage reports) names metadata.name.
			if len(errs) == 0 || errs[0].Field != "metadata.name" || !strings.Contains(errs[0].Error(), `metadata.name: "invalid component" is not valid`) {
				t.Errorf("%s: errors = %v, want the first to name metadata.name", d.file, errs)
			}
		case e.Kind == "AiResource":
			// A standard Backstage catalog has no processor for AiResource; the AI module does.
			if len(errs) != 1 || errs[0].Code != CodeUnsupportedKind {
				t.Errorf("%s: errors = %v, want one %s", d.file, errs, CodeUnsupportedKind)
			}
			if len(aiErrs) != 0 {
				t.Errorf("%s: with the AI kinds: %v", d.file, aiErrs)
			}
		case ref == "api:default/backstage-mcp-server":
			// An mcp-server API has remotes instead of a definition: only the AI module's
			// variant of API accepts it.
			if len(errs) != 1 || errs[0].Field != "spec.definition" || errs[0].Code != CodeRequired {
				t.Errorf("%s: errors = %v, want spec.definition required", d.file, errs)
			}
			if len(aiErrs) != 0 {
				t.Errorf("%s: with the AI kinds: %v", d.file, aiErrs)
			}
		default:
			if len(errs) != 0 {
				t.Errorf("%s: %s is invalid: %v", d.file, ref, errs)
			}
		}

		rs, rerrs := ai.Relations(e)
		if len(rerrs) != 0 {
			t.Errorf("%s: relation errors: %v", d.file, rerrs)
		}
		if _, err := SearchRows(e); err != nil {
			t.Errorf("%s: search rows: %v", d.file, err)
		}
		fmt.Fprintf(&golden, "%s %s\n", d.file, ref)
		for _, fe := range errs {
			fmt.Fprintf(&golden, "  error %s\n", fe.Error())
		}
		for _, r := range SortRelations(rs) {
			fmt.Fprintf(&golden, "  %s %s\n", r.Type, r.TargetRef)
		}
	}
	checkGolden(t, "backstage-catalog.golden", golden.String())
}

// TestCorpusRelationsMatchExpected checks every reference that EXPECTED.md lists (derived
// from the corpus independently of this package) against the relations derived here.
func TestCorpusRelationsMatchExpected(t *testing.T) {
	dir := sharedDir(t, "backstage-catalog")
	ai := NewModel(BuiltinKinds(), ScaffolderKinds(), AIKinds())
	byRef := map[string][]Relation{}
	for _, d := range loadCorpus(t, dir) {
		rs, _ := ai.Relations(d.doc.Entity)
		byRef[d.doc.Entity.Ref().String()] = rs
	}
	fieldRelation := map[string]string{
		"owner": RelationOwnedBy, "system": RelationPartOf, "domain": RelationPartOf,
		"subcomponentOf": RelationPartOf, "subdomainOf": RelationPartOf,
		"providesApis": RelationProvidesAPI, "consumesApis": RelationConsumesAPI,
		"parent": RelationChildOf, "children": RelationParentOf, "memberOf": RelationMemberOf,
	}
	f, err := os.Open(filepath.Join(dir, "EXPECTED.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) != 7 {
			continue
		}
		entity, field, resolved := strings.TrimSpace(cells[1]), strings.TrimSpace(cells[2]), strings.Trim(strings.TrimSpace(cells[4]), "`")
		relType, ok := fieldRelation[field]
		if !ok {
			continue // the header and other tables
		}
		rows++
		got, found := byRef[entity]
		if !found {
			t.Errorf("EXPECTED.md names %s, which the corpus did not yield", entity)
			continue
		}
		if !slices.ContainsFunc(got, func(r Relation) bool { return r.Type == relType && r.TargetRef == resolved }) {
			t.Errorf("%s: %s %s should yield %s %s; got %v", entity, field, cells[3], relType, resolved, got)
		}
	}
	if rows < 80 {
		t.Fatalf("read only %d reference rows from EXPECTED.md", rows)
	}

	// A few by hand, both directions.
	for _, c := range []struct{ from, typ, to string }{
		{"component:default/artist-lookup", "ownedBy", "group:default/team-a"},
		{"component:default/artist-lookup", "partOf", "system:default/artist-engagement-portal"},
		{"component:default/searcher", "ownedBy", "user:default/guest"},
		{"component:default/wayback-search", "consumesApi", "api:default/wayback-archive"},
		{"component:default/wayback-archive-ingestion", "partOf", "component:default/wayback-archive"},
		{"domain:default/artists", "partOf", "domain:default/audio"},
		{"user:development/guest", "memberOf", "group:default/team-a"},
		{"group:default/team-a", "childOf", "group:default/backstage"},
	} {
		if !slices.ContainsFunc(byRef[c.from], func(r Relation) bool { return r.Type == c.typ && r.TargetRef == c.to }) {
			t.Errorf("%s should have %s %s", c.from, c.typ, c.to)
		}
		if Inverse(c.typ) == "" {
			t.Errorf("%s has no inverse", c.typ)
		}
	}
}

func TestBackstageTemplatesCorpus(t *testing.T) {
	dir := sharedDir(t, "backstage-templates")
	docs := loadCorpus(t, dir)
	if len(docs) < 9 {
		t.Fatalf("found %d templates", len(docs))
	}
	var golden strings.Builder
	for _, d := range docs {
		e := d.doc.Entity
		if e.Kind != "Template" || e.APIVersion != "scaffolder.backstage.io/v1beta3" {
			t.Errorf("%s: %s %s is not a v1beta3 Template", d.file, e.APIVersion, e.Kind)
		}
		if errs := d.doc.Locate(Validate(e)); len(errs) != 0 {
			t.Errorf("%s: %v", d.file, errs)
		}
		rs, errs := Relations(e)
		if len(errs) != 0 || len(rs) != 1 || rs[0].Type != RelationOwnedBy {
			t.Errorf("%s: relations %v, errors %v; want one ownedBy", d.file, rs, errs)
		}
		fmt.Fprintf(&golden, "%s %s\n", d.file, e.Ref())
		for _, r := range rs {
			fmt.Fprintf(&golden, "  %s %s\n", r.Type, r.TargetRef)
		}
	}
	checkGolden(t, "backstage-templates.golden", golden.String())
}

// TestCorpusSearchRows pins the flattening of one real entity.
func TestCorpusSearchRows(t *testing.T) {
	dir := sharedDir(t, "backstage-catalog")
	data, err := os.ReadFile(filepath.Join(dir, "components", "artist-lookup-component.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := Relations(e)
	e.Relations = SortRelations(rs)
	e.Metadata.UID = "00000000-0000-0000-0000-000000000001"
	rows, err := SearchRows(e)
	if err != nil {
		t.Fatal(err)
	}
	lines := make([]string, len(rows))
	for i, r := range rows {
		v := "<null>"
		if !r.Null {
			v = r.Value
			if r.Original != r.Value {
				v += " (" + r.Original + ")"
			}
		}
		lines[i] = r.Key + " = " + v
	}
	sort.Strings(lines)
	checkGolden(t, "search-artist-lookup.golden", strings.Join(lines, "\n")+"\n")
	for _, want := range []string{"kind = component (Component)", "spec.type = service", "metadata.tags = java",
		"metadata.tags.java = true", "relations.ownedby = group:default/team-a", "metadata.namespace = default"} {
		if !slices.Contains(lines, want) {
			t.Errorf("missing row %q", want)
		}
	}
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got); run go test -update if the change is right:\n%s", path, diff)
	}
}
