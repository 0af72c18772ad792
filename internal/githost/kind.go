package githost

import (
	"encoding/json"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/kinds"
)

// Kind returns the Repository kind: namespaced (the namespace is the owner or
// organisation segment of the repository's URL), its name a DNS label, so that
// /git/<namespace>/<name>.git can only ever name <data>/git/<namespace>/<name>.git.
func Kind() kinds.Kind {
	return kinds.Kind{Group: Group, Version: "v1", Kind: "Repository", Plural: "repositories", Singular: "repository",
		ShortNames: []string{"repo"}, Namespaced: true, LabelNames: true,
		Schema: json.RawMessage(repositorySchema),
		Columns: []api.Column{
			{Name: "DEFAULT-BRANCH", JSONPath: ".status.defaultBranch"},
			{Name: "PUSHES", JSONPath: ".status.pushes"},
			{Name: "URL", JSONPath: ".status.url", Wide: true},
		}}
}

// The default branch: segments of letters, digits, '.', '_' and '-' separated by single
// slashes, not starting with '.' or '-'; the controller checks the rest of git's rules
// (`git check-ref-format`).
const repositorySchema = `{
  "type": "object",
  "properties": {
    "defaultBranch": {"type": "string", "minLength": 1, "maxLength": 200,
      "pattern": "^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$"},
    "description": {"type": "string", "maxLength": 1024}
  },
  "additionalProperties": false
}`

// DefaultBranch is the branch a Repository's HEAD names when its spec does not say.
const DefaultBranch = "main"

// repositorySpec is a Repository's spec.
type repositorySpec struct {
	DefaultBranch string `json:"defaultBranch,omitempty"`
	Description   string `json:"description,omitempty"`
}

func specOf(o *api.Object) repositorySpec {
	var s repositorySpec
	_ = json.Unmarshal(o.Spec, &s) // validated against the schema
	if s.DefaultBranch == "" {
		s.DefaultBranch = DefaultBranch
	}
	return s
}

// RefUpdate is one ref a push changed. A created ref has an OldSHA of zeros, a deleted
// one a NewSHA of zeros, as git writes them.
type RefUpdate struct {
	Name   string `json:"name"`
	OldSHA string `json:"oldSHA"`
	NewSHA string `json:"newSHA"`
}

// Push is one push that changed refs, as status.lastPush records it.
type Push struct {
	Time string      `json:"time"`
	User string      `json:"user,omitempty"`
	Refs []RefUpdate `json:"refs"`
}
