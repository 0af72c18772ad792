package catalog

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestExampleCatalog ingests examples/catalog (what `make run` loads): no errors, the
// expected entities, and every relation pointing at an entity that exists.
func TestExampleCatalog(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("..", "..", "examples", "catalog"))
	if err != nil {
		t.Fatal(err)
	}
	c := newCatalog(t, Options{FileRoots: []string{dir}})
	runControllers(t, c)
	loc := register(t, c, filepath.Join(dir, "all.yaml"))
	if st := statusOf(t, c, loc.ID); len(st.Errors) > 0 {
		t.Fatalf("examples/catalog has errors:%s", errorsText(st.Errors))
	}
	want := map[string]int{"Group": 7, "User": 16, "Domain": 3, "System": 6, "Component": 30, "API": 15, "Resource": 21, "Location": 2}
	if diff := cmp.Diff(want, countByKind(allEntities(t, c))); diff != "" {
		t.Errorf("entities per kind (-want +got):\n%s", diff)
	}
	waitRelation(t, c, "group:default/payments", "ownerOf", "component:default/payment-gateway")
	waitRelation(t, c, "api:default/payments-api", "apiProvidedBy", "component:default/payment-gateway")
	waitRelation(t, c, "resource:default/aks-prod", "dependencyOf", "component:default/paved")
	waitRelation(t, c, "system:default/checkout", "hasPart", "component:default/order-service")
	waitRelation(t, c, "domain:default/commerce", "hasPart", "system:default/billing")
	waitRelation(t, c, "group:default/engineering", "parentOf", "group:default/web")
	waitRelation(t, c, "group:default/identity", "hasMember", "user:default/li.wei")
	all := allEntities(t, c)
	for ref, o := range all {
		for _, r := range o.Relations {
			if all[r.TargetRef] == nil {
				t.Errorf("%s: %s %s does not exist", ref, r.Type, r.TargetRef)
			}
		}
	}
	// The payments API's definition comes from its own file through $text.
	if def := mustGet(t, c, "api:default/payments-api"); !containsAll(string(def.Spec), "Capture an authorised payment") {
		t.Errorf("payments-api definition: %.200s", def.Spec)
	}
}
