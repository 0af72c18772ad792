package entity

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// rel is a relation in the short form the tests compare.
type rel struct{ Type, Target string }

func rels(rs []Relation) []rel {
	out := []rel{}
	for _, r := range rs {
		out = append(out, rel{r.Type, r.TargetRef})
	}
	return out
}

// The cases follow Backstage's BuiltinKindsEntityProcessor tests.
func TestRelations(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want []rel
	}{
		{"component", `apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: n}
spec:
  type: service
  owner: o
  subcomponentOf: s
  lifecycle: l
  providesApis: [b]
  consumesApis: [c]
  dependsOn: ['Resource:r', 'Component:d']
  dependencyOf: ['Component:e']
  system: s
`, []rel{
			{"ownedBy", "group:default/o"},
			{"partOf", "component:default/s"},
			{"providesApi", "api:default/b"},
			{"consumesApi", "api:default/c"},
			{"dependsOn", "resource:default/r"},
			{"dependsOn", "component:default/d"},
			{"dependencyOf", "component:default/e"},
			{"partOf", "system:default/s"},
		}},
		{"api", `apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: n}
spec: {type: service, owner: o, lifecycle: l, definition: d, system: s}
`, []rel{{"ownedBy", "group:default/o"}, {"partOf", "system:default/s"}}},
		{"resource", `apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: n}
spec: {type: database, owner: o, dependsOn: ['Component:c', 'Resource:r'], dependencyOf: ['Component:d'], system: s}
`, []rel{{"ownedBy", "group:default/o"}, {"dependsOn", "component:default/c"}, {"dependsOn", "resource:default/r"},
			{"dependencyOf", "component:default/d"}, {"partOf", "system:default/s"}}},
		{"system", `apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: n}
spec: {owner: o, domain: d}
`, []rel{{"ownedBy", "group:default/o"}, {"partOf", "domain:default/d"}}},
		{"domain", `apiVersion: backstage.io/v1alpha1
kind: Domain
metadata: {name: n}
spec: {owner: o, subdomainOf: parent}
`, []rel{{"ownedBy", "group:default/o"}, {"partOf", "domain:default/parent"}}},
		{"user", `apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: n}
spec: {memberOf: [g]}
`, []rel{{"memberOf", "group:default/g"}}},
		{"group", `apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: n}
spec: {type: t, parent: p, children: [c], members: [m]}
`, []rel{{"childOf", "group:default/p"}, {"parentOf", "group:default/c"}, {"hasMember", "user:default/m"}}},
		{"template", `apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: n}
spec: {type: service, owner: backstage/techdocs-core, steps: []}
`, []rel{{"ownedBy", "group:backstage/techdocs-core"}}},
		{"location has none", `apiVersion: backstage.io/v1alpha1
kind: Location
metadata: {name: n}
spec: {targets: [./a.yaml]}
`, []rel{}},
		{"the entity's namespace is the default, an explicit one wins", `apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: n, namespace: payments}
spec: {type: service, lifecycle: l, owner: team, system: default/shared, providesApis: ['api:billing/invoices']}
`, []rel{{"ownedBy", "group:payments/team"}, {"providesApi", "api:billing/invoices"}, {"partOf", "system:default/shared"}}},
		{"refs are lower-cased, duplicates dropped", `apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: n}
spec: {type: service, lifecycle: l, owner: User:Guest, providesApis: [Petstore, petstore, API:default/PETSTORE]}
`, []rel{{"ownedBy", "user:default/guest"}, {"providesApi", "api:default/petstore"}}},
		{"unknown kinds have none", `apiVersion: backstage.io/v1alpha1
kind: AiResource
metadata: {name: n}
spec: {type: skill, lifecycle: l, owner: o}
`, []rel{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, errs := Relations(mustParse(t, tc.doc))
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if diff := cmp.Diff(tc.want, rels(got)); diff != "" {
				t.Errorf("relations (-want +got):\n%s", diff)
			}
			for _, r := range got {
				if r.Target == nil || r.Target.String() != r.TargetRef {
					t.Errorf("relation %+v: Target does not match TargetRef", r)
				}
			}
		})
	}
}

func TestRelationsKeepTheTargetAsWritten(t *testing.T) {
	got, _ := Relations(mustParse(t, `apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: n}
spec: {type: service, lifecycle: l, owner: User:Guest}
`))
	want := []Relation{{Type: "ownedBy", TargetRef: "user:default/guest", Target: &CompoundRef{"User", "default", "Guest"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestRelationsReportBadReferences(t *testing.T) {
	e := mustParse(t, `apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: n}
spec: {type: service, owner: o, lifecycle: l, dependsOn: [r, 'resource:db', 'a:/b', 7]}
`)
	got, errs := Relations(e)
	if diff := cmp.Diff([]rel{{"ownedBy", "group:default/o"}, {"dependsOn", "resource:default/db"}}, rels(got)); diff != "" {
		t.Errorf("relations (-want +got):\n%s", diff)
	}
	want := []FieldError{
		{Field: "spec.dependsOn[0]", Code: CodeReference, Message: `entity reference "r" had missing or empty kind (e.g. did not start with "component:" or similar)`},
		{Field: "spec.dependsOn[2]", Code: CodeReference, Message: `entity reference "a:/b" was not on the form [<kind>:][<namespace>/]<name>`},
		{Field: "spec.dependsOn[3]", Code: CodeType, Message: "must be a string entity reference, got number"},
	}
	if diff := cmp.Diff(want, errs); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestInverse(t *testing.T) {
	pairs := [][2]string{
		{"ownedBy", "ownerOf"}, {"consumesApi", "apiConsumedBy"}, {"providesApi", "apiProvidedBy"},
		{"dependsOn", "dependencyOf"}, {"parentOf", "childOf"}, {"memberOf", "hasMember"}, {"partOf", "hasPart"},
	}
	for _, p := range pairs {
		if Inverse(p[0]) != p[1] || Inverse(p[1]) != p[0] {
			t.Errorf("Inverse(%s) = %q, Inverse(%s) = %q", p[0], Inverse(p[0]), p[1], Inverse(p[1]))
		}
	}
	if Inverse("unknown") != "" {
		t.Error("an unknown relation has no inverse")
	}
}

func TestSortRelations(t *testing.T) {
	in := []Relation{
		{Type: "partOf", TargetRef: "system:default/b"},
		{Type: "ownedBy", TargetRef: "group:default/x"},
		{Type: "partOf", TargetRef: "component:default/a"},
		{Type: "ownedBy", TargetRef: "group:default/x"},
	}
	want := []rel{{"ownedBy", "group:default/x"}, {"partOf", "component:default/a"}, {"partOf", "system:default/b"}}
	if diff := cmp.Diff(want, rels(SortRelations(in))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
