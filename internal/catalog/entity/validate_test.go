package entity

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustParse(t *testing.T, doc string) *Entity {
	t.Helper()
	e, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, doc)
	}
	return e
}

// issue is the comparable part of a FieldError.
type issue struct {
	Field string
	Code  ErrorCode
}

func issues(errs []FieldError) []issue {
	out := []issue{}
	for _, e := range errs {
		out = append(out, issue{e.Field, e.Code})
	}
	return out
}

const component = `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: artist-web
spec:
  type: website
  lifecycle: production
  owner: artist-relations-team
`

func TestValidateEnvelopeAndFormats(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want []issue
	}{
		{"valid", component, nil},
		{"every metadata field", `apiVersion: backstage.io/v1beta1
kind: Component
metadata:
  name: artist-web
  namespace: team-1
  uid: e01199ab-08cc-44c2-8e19-5c29ded82521
  etag: lsndfkjsndfkjnsdfkjnsd==
  title: Artist Web
  description: ""
  labels: {example.com/custom: custom_label_value, empty: ""}
  annotations: {example.com/service-discovery: "any value: at all, 123"}
  tags: [java, c++, "c#", a-b]
  links:
    - {url: "https://admin.example-org.com", title: Admin Dashboard, icon: dashboard, type: admin-dashboard}
  extraField: {kept: true}
spec: {type: website, lifecycle: production, owner: team}
`, nil},
		{"missing envelope fields", `metadata: {}`, []issue{
			{"apiVersion", CodeRequired}, {"kind", CodeRequired}, {"metadata.name", CodeRequired}}},
		{"metadata must be an object", `{apiVersion: backstage.io/v1alpha1, kind: Location, metadata: [], spec: {}}`, []issue{{"metadata", CodeType}}},
		{"bad name", strings.Replace(component, "artist-web", "invalid component", 1), []issue{{"metadata.name", CodeFormat}}},
		{"name too long", strings.Replace(component, "artist-web", a64, 1), []issue{{"metadata.name", CodeFormat}}},
		{"name not a string", strings.Replace(component, "artist-web", "123", 1), []issue{{"metadata.name", CodeType}}},
		{"empty name", strings.Replace(component, "artist-web", `""`, 1), []issue{{"metadata.name", CodeType}}},
		{"bad namespace", strings.Replace(component, "  name: artist-web", "  name: artist-web\n  namespace: Team_A", 1),
			[]issue{{"metadata.namespace", CodeFormat}}},
		{"empty namespace", strings.Replace(component, "  name: artist-web", "  name: artist-web\n  namespace: ''", 1),
			[]issue{{"metadata.namespace", CodeType}}},
		{"empty title", strings.Replace(component, "  name: artist-web", "  name: artist-web\n  title: ''", 1),
			[]issue{{"metadata.title", CodeType}}},
		{"bad label key and value", strings.Replace(component, "  name: artist-web",
			"  name: artist-web\n  labels:\n    a/b/c: x\n    ok: two words\n    num: 1", 1),
			[]issue{{`metadata.labels.num`, CodeType}, {`metadata.labels["a/b/c"]`, CodeFormat}, {"metadata.labels.ok", CodeFormat}}},
		{"annotation values are any string, keys are checked", strings.Replace(component, "  name: artist-web",
			"  name: artist-web\n  annotations:\n    Bad Key: x\n    example.com/n: 7", 1),
			[]issue{{`metadata.annotations["example.com/n"]`, CodeType}, {`metadata.annotations["Bad Key"]`, CodeFormat}}},
		{"bad tags", strings.Replace(component, "  name: artist-web",
			"  name: artist-web\n  tags: [ok, Java, 'go 1.15.3', '', 5]", 1),
			[]issue{{"metadata.tags[3]", CodeType}, {"metadata.tags[4]", CodeType}, {"metadata.tags[1]", CodeFormat}, {"metadata.tags[2]", CodeFormat}}},
		{"bad links", strings.Replace(component, "  name: artist-web", `  name: artist-web
  links:
    - title: no url
    - url: not a url
    - url: https://ok.example.com
      title: "  "
      icon: two words
    - url: https://ok.example.com
      type: ""
    - plain`, 1),
			[]issue{{"metadata.links[0].url", CodeRequired}, {"metadata.links[3].type", CodeType}, {"metadata.links[4]", CodeType},
				{"metadata.links[1].url", CodeFormat}, {"metadata.links[2].title", CodeFormat}, {"metadata.links[2].icon", CodeFormat}}},
		{"bad apiVersion and kind", `apiVersion: backstage.io/v1_alpha
kind: my-kind
metadata: {name: x}
spec: {}
`, []issue{{"apiVersion", CodeFormat}, {"kind", CodeFormat}, {"kind", CodeUnsupportedKind}}},
		{"foreign root fields", component + "extra: 1\nrelations: []\nstatus: {}\n", []issue{
			{"extra", CodeUnknownField}, {"relations", CodeUnknownField}, {"status", CodeUnknownField}}},
		{"spec must be an object", strings.Replace(component, "spec:\n  type: website\n  lifecycle: production\n  owner: artist-relations-team\n", "spec: [1]\n", 1),
			[]issue{{"spec", CodeType}}},
		{"spec missing", "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: x}\n", []issue{{"spec", CodeRequired}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := issues(Validate(mustParse(t, tc.doc)))
			want := tc.want
			if want == nil {
				want = []issue{}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s\nall: %v", diff, Validate(mustParse(t, tc.doc)))
			}
		})
	}
}

func TestValidateMessageNamesTheField(t *testing.T) {
	errs := Validate(mustParse(t, strings.Replace(component, "artist-web", "invalid component", 1)))
	if len(errs) != 1 {
		t.Fatalf("errors = %v", errs)
	}
	want := `metadata.name: "invalid component" is not valid; expected a string that is sequences of [a-zA-Z0-9] separated by any of [-_.], at most 63 characters in total`
	if got := errs[0].Error(); got != want {
		t.Errorf("message\n got %s\nwant %s", got, want)
	}
	err := AsError(mustParse(t, component), errs)
	if err == nil || !strings.Contains(err.Error(), "component:default/artist-web is invalid: metadata.name") {
		t.Errorf("AsError = %v", err)
	}
	if AsError(nil, nil) != nil {
		t.Error("AsError of no errors should be nil")
	}
}

func TestValidateStoredFields(t *testing.T) {
	doc := component + `relations:
  - {type: ownedBy, targetRef: group:default/artist-relations-team}
  - {type: partOf, targetRef: system:default/x, target: {kind: system, namespace: default, name: x}}
status:
  items:
    - type: backstage.io/catalog-processing
      level: error
      message: "InputError: boom"
      error: {name: InputError, message: boom}
`
	e := mustParse(t, doc)
	if got := issues(Validate(e)); len(got) != 2 {
		t.Errorf("a location's entity may not carry relations and status, got %v", got)
	}
	if errs := Default().WithStoredFields().Validate(e); len(errs) != 0 {
		t.Errorf("stored entity errors: %v", errs)
	}
	bad := component + `relations:
  - {type: "owned by", targetRef: ""}
  - {type: x, targetRef: y, extra: 1}
status:
  items:
    - {type: t, level: fatal, message: m}
    - {type: t, level: info}
`
	got := issues(Default().WithStoredFields().Validate(mustParse(t, bad)))
	want := []issue{{"relations[0].type", CodeFormat}, {"relations[0].targetRef", CodeType}, {"relations[1].extra", CodeUnknownField},
		{"status.items[0].level", CodeType}, {"status.items[1].message", CodeRequired}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored-field errors (-want +got):\n%s", diff)
	}
}

func TestValidateKinds(t *testing.T) {
	meta := "metadata: {name: x}\n"
	v1 := "apiVersion: backstage.io/v1alpha1\n"
	cases := []struct {
		name string
		doc  string
		want []issue
	}{
		{"component", v1 + "kind: Component\n" + meta + "spec: {type: service, lifecycle: production, owner: o, system: s, subcomponentOf: c, providesApis: [a], consumesApis: [b], dependsOn: ['resource:r'], dependencyOf: ['component:d']}", nil},
		{"component required", v1 + "kind: Component\n" + meta + "spec: {}", []issue{
			{"spec.type", CodeRequired}, {"spec.lifecycle", CodeRequired}, {"spec.owner", CodeRequired}}},
		{"component types", v1 + "kind: Component\n" + meta + "spec: {type: '', lifecycle: 1, owner: [o], providesApis: a, dependsOn: ['', 3]}", []issue{
			{"spec.type", CodeType}, {"spec.lifecycle", CodeType}, {"spec.owner", CodeType}, {"spec.providesApis", CodeType},
			{"spec.dependsOn[0]", CodeType}, {"spec.dependsOn[1]", CodeType}}},
		{"api", v1 + "kind: API\n" + meta + "spec: {type: openapi, lifecycle: production, owner: o, definition: 'openapi: 3.0.0'}", nil},
		{"api needs a definition", v1 + "kind: API\n" + meta + "spec: {type: openapi, lifecycle: production, owner: o}", []issue{{"spec.definition", CodeRequired}}},
		{"resource", v1 + "kind: Resource\n" + meta + "spec: {type: database, owner: o, dependsOn: ['component:c'], dependencyOf: ['component:d'], system: s}", nil},
		{"resource required", v1 + "kind: Resource\n" + meta + "spec: {}", []issue{{"spec.type", CodeRequired}, {"spec.owner", CodeRequired}}},
		{"system", v1 + "kind: System\n" + meta + "spec: {owner: o, domain: d, type: product}", nil},
		{"system required", v1 + "kind: System\n" + meta + "spec: {domain: 3}", []issue{{"spec.owner", CodeRequired}, {"spec.domain", CodeType}}},
		{"domain", v1 + "kind: Domain\n" + meta + "spec: {owner: o, subdomainOf: d, type: t}", nil},
		{"domain required", v1 + "kind: Domain\n" + meta + "spec: {}", []issue{{"spec.owner", CodeRequired}}},
		{"group", v1 + "kind: Group\n" + meta + "spec: {type: team, profile: {displayName: X, email: x@example.com, picture: 'https://x', other: 1}, parent: p, children: [], members: [m]}", nil},
		{"group required", v1 + "kind: Group\n" + meta + "spec: {profile: {displayName: ''}}", []issue{
			{"spec.type", CodeRequired}, {"spec.profile.displayName", CodeType}, {"spec.children", CodeRequired}}},
		{"user", v1 + "kind: User\n" + meta + "spec: {profile: {email: x@example.com}, memberOf: []}", nil},
		{"user needs memberOf", v1 + "kind: User\n" + meta + "spec: {profile: {email: x@example.com}}", []issue{{"spec.memberOf", CodeRequired}}},
		{"location", v1 + "kind: Location\n" + meta + "spec: {type: url, target: 'https://x/y.yaml', targets: [./a.yaml], presence: optional}", nil},
		{"location empty spec", v1 + "kind: Location\n" + meta + "spec: {}", nil},
		{"location bad", v1 + "kind: Location\n" + meta + "spec: {type: '', targets: ./a.yaml, presence: maybe}", []issue{
			{"spec.type", CodeType}, {"spec.targets", CodeType}, {"spec.presence", CodeType}}},
		{"v1beta1 accepted", "apiVersion: backstage.io/v1beta1\nkind: Domain\n" + meta + "spec: {owner: o}", nil},
		{"template", `apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: t}
spec:
  type: service
  owner: o
  parameters: [{title: Step, properties: {name: {type: string}}, backstage:permissions: {tags: [a]}}]
  steps:
    - {id: fetch, name: Fetch, action: fetch:template, input: {url: ./skeleton}, if: "${{ parameters.x }}"}
    - {action: publish:github, if: false}
  output:
    links: [{title: Repository, url: "${{ steps.publish.output.remoteUrl }}", if: true}]
    text: [{title: Done, content: "**ok**"}]
    remoteUrl: "${{ steps.publish.output.remoteUrl }}"
`, nil},
		{"template with object parameters", "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: t}\nspec: {type: service, parameters: {properties: {}}, steps: []}", nil},
		{"template errors", `apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: t}
spec:
  parameters: [x]
  steps: [{id: 1, input: []}, nope]
  output: {links: [{url: ''}], count: 3}
`, []issue{{"spec.type", CodeRequired}, {"spec.parameters[0]", CodeType},
			{"spec.steps[0].id", CodeType}, {"spec.steps[0].action", CodeRequired}, {"spec.steps[0].input", CodeType}, {"spec.steps[1]", CodeType},
			{"spec.output.links[0].url", CodeType}, {"spec.output.count", CodeType}}},
		{"template needs steps", "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: t}\nspec: {type: service, parameters: 5}",
			[]issue{{"spec.parameters", CodeType}, {"spec.steps", CodeRequired}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := issues(Validate(mustParse(t, tc.doc)))
			want := tc.want
			if want == nil {
				want = []issue{}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s\nall: %v", diff, Validate(mustParse(t, tc.doc)))
			}
		})
	}
}

func TestValidateUnsupportedKinds(t *testing.T) {
	cases := []struct {
		name, doc, field, message string
	}{
		{"foreign kind", "apiVersion: backstage.io/v1alpha1\nkind: AiResource\nmetadata: {name: x}\nspec: {type: skill, lifecycle: production, owner: o}",
			"kind", `unsupported kind "AiResource": no processor recognized the entity as valid, possibly caused by a foreign kind or apiVersion`},
		{"kinds are case-sensitive", "apiVersion: backstage.io/v1alpha1\nkind: component\nmetadata: {name: x}\nspec: {}",
			"kind", `did you mean "Component"?`},
		{"foreign apiVersion", "apiVersion: backstage.io/v2\nkind: Component\nmetadata: {name: x}\nspec: {}",
			"apiVersion", `kind Component does not exist in apiVersion "backstage.io/v2"`},
		{"template in the catalog's group", "apiVersion: backstage.io/v1alpha1\nkind: Template\nmetadata: {name: x}\nspec: {type: t, steps: []}",
			"apiVersion", `Template has apiVersion "scaffolder.backstage.io/v1beta3"`},
		{"any other group", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: x}\nspec: {}",
			"kind", `unsupported kind "Widget"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := Validate(mustParse(t, tc.doc))
			if len(errs) != 1 || errs[0].Code != CodeUnsupportedKind || errs[0].Field != tc.field || !strings.Contains(errs[0].Message, tc.message) {
				t.Fatalf("errors = %v, want one %s error on %s containing %q", errs, CodeUnsupportedKind, tc.field, tc.message)
			}
		})
	}
}

func TestAIKindsExtendTheModel(t *testing.T) {
	m := NewModel(BuiltinKinds(), ScaffolderKinds(), AIKinds())
	cases := []struct {
		name string
		doc  string
		want []issue
	}{
		{"skill", "apiVersion: backstage.io/v1alpha1\nkind: AiResource\nmetadata: {name: x}\nspec: {type: skill, lifecycle: production, owner: o, agents: [claude-code], dependsOn: [other]}", nil},
		{"rule needs category and rationale", "apiVersion: backstage.io/v1alpha1\nkind: AiResource\nmetadata: {name: x}\nspec: {type: rule, lifecycle: production, owner: o}",
			[]issue{{"spec.category", CodeRequired}, {"spec.rationale", CodeRequired}}},
		{"other types use the default schema", "apiVersion: backstage.io/v1alpha1\nkind: AiResource\nmetadata: {name: x}\nspec: {type: prompt, lifecycle: production, owner: o}", nil},
		{"AiResource is v1alpha1 only", "apiVersion: backstage.io/v1beta1\nkind: AiResource\nmetadata: {name: x}\nspec: {type: skill, lifecycle: production, owner: o}",
			[]issue{{"apiVersion", CodeUnsupportedKind}}},
		{"mcp-server API has remotes, not a definition", "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: x}\nspec: {type: mcp-server, lifecycle: production, owner: o, remotes: [{type: streamable-http, url: 'http://localhost:7007/api/mcp/v1'}]}", nil},
		{"mcp-server needs a remote", "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: x}\nspec: {type: mcp-server, lifecycle: production, owner: o, remotes: []}",
			[]issue{{"spec.remotes", CodeType}}},
		{"other APIs still need a definition", "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: x}\nspec: {type: openapi, lifecycle: production, owner: o}",
			[]issue{{"spec.definition", CodeRequired}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := issues(m.Validate(mustParse(t, tc.doc)))
			want := tc.want
			if want == nil {
				want = []issue{}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}
