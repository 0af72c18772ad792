package catalog

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/catalog/entity"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
	"github.com/paved-dev/paved/internal/store/sqlite"
)

func newStore(t *testing.T) (*store.Store, []*kinds.Kind) {
	t.Helper()
	be, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "paved.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := kinds.NewRegistry()
	ks, err := RegisterKinds(reg, entity.NewModel(entity.BuiltinKinds(), entity.ScaffolderKinds(), entity.AIKinds()))
	if err != nil {
		t.Fatal(err)
	}
	s := store.New(be, reg, store.Options{})
	t.Cleanup(func() {
		s.Close()
		_ = be.Close()
	})
	return s, ks
}

func corpusDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "conformance", "backstage-catalog")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the conformance corpus is missing (expected beside the repository, as ../shared): %v", err)
	}
	return dir
}

// loadCorpus parses every entity of the Backstage example corpus; placeholders ($text and
// friends) become plain strings, as the location reader would make them.
func loadCorpus(t *testing.T) []*entity.Entity {
	t.Helper()
	var out []*entity.Entity
	err := filepath.WalkDir(corpusDir(t), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".oas.yaml") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, doc := range entity.ParseDocuments(data) {
			if doc.Err != nil {
				t.Fatalf("%s: %v", path, doc.Err)
			}
			for k, v := range doc.Entity.Spec {
				if m, ok := v.(map[string]any); ok && len(m) == 1 {
					for pk := range m {
						if strings.HasPrefix(pk, "$") {
							doc.Entity.Spec[k] = "resolved " + pk
						}
					}
				}
			}
			out = append(out, doc.Entity)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCorpusEntitiesStoreAndQuery(t *testing.T) {
	s, ks := newStore(t)
	ctx := context.Background()
	ents := loadCorpus(t)
	if len(ents) != 68 {
		t.Fatalf("corpus has %d entities, EXPECTED.md says 68", len(ents))
	}
	var objs []*api.Object
	for _, e := range ents {
		rels, _ := entity.Relations(e)
		e.Relations = rels
		o, err := ToObject(e)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o)
	}
	out, errs := s.CreateMany(ctx, objs)
	created := 0
	for i, err := range errs {
		name := objs[i].Kind + ":" + objs[i].Metadata.Name
		if objs[i].Metadata.Name == "invalid component" {
			if !api.IsInvalid(err) || !strings.Contains(err.Error(), "metadata.name") {
				t.Errorf("invalid component: %v, want Invalid naming metadata.name", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		created++
		if out[i].Metadata.UID == "" {
			t.Errorf("%s: no uid", name)
		}
	}
	if created != 67 {
		t.Errorf("created %d entities, want 67", created)
	}
	comp, _ := s.Kinds().ByGVK("backstage.io/v1alpha1", "Component")
	got, err := s.Get(ctx, comp, "default", "ARTIST-LOOKUP")
	if err != nil {
		t.Fatal(err)
	}
	e, err := ToEntity(got)
	if err != nil {
		t.Fatal(err)
	}
	if e.Metadata.UID == "" || e.Metadata.Etag == "" || e.Ref().String() != "component:default/artist-lookup" {
		t.Errorf("entity view: %+v", e.Metadata)
	}
	foundOwner := false
	for _, r := range e.Relations {
		if r.Type == "ownedBy" && r.TargetRef == "group:default/team-a" {
			foundOwner = true
		}
	}
	if !foundOwner {
		t.Errorf("artist-lookup relations %+v lack ownedBy group:default/team-a", e.Relations)
	}
	count := func(f ...store.FieldRequirement) int64 {
		n, err := s.QueryCount(ctx, store.Selector{Kinds: ks, Filter: [][]store.FieldRequirement{f}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(store.FieldRequirement{Key: "kind", Values: []string{"Component"}}); n != 13 {
		t.Errorf("kind=component: %d, want 13", n)
	}
	if n := count(store.FieldRequirement{Key: "kind", Values: []string{"user"}}); n != 17 {
		t.Errorf("kind=user: %d, want 17", n)
	}
	if n := count(store.FieldRequirement{Key: "relations.ownedby", Values: []string{"group:default/team-a"}}); n == 0 {
		t.Error("no entity owned by team-a")
	}
	facets, err := s.QueryFacets(ctx, store.Selector{Kinds: ks}, "kind")
	if err != nil || len(facets) != 9 {
		t.Errorf("kind facets: %+v %v", facets, err)
	}
}
