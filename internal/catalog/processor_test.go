package catalog

import (
	"testing"

	"github.com/paved-dev/paved/internal/catalog/entity"
)

// TestKeyCaseClash checks the run's cheap check against the search indexing it stands in
// for: both refuse exactly the same entities.
func TestKeyCaseClash(t *testing.T) {
	docs := []string{
		"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\nspec:\n  type: service\n",
		"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\nspec:\n  type: service\n  Type: x\n",
		"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\n  labels: {A: x, a: y}\nspec: {}\n",
		"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\nspec:\n  list: [Java, java]\n",
		"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\nspec:\n  nested: {x: {y: 1}}\n  Nested: 2\n",
		"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\nspec:\n  objs: [{k: 1}, {K: 2}]\n",
		"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\n  custom: {Deep: 1, deep: 2}\nspec: {}\n",
	}
	for _, d := range docs {
		e, err := entity.Parse([]byte(d))
		if err != nil {
			t.Fatal(err)
		}
		_, want := entity.SearchRows(e)
		got := keyCaseClash(e)
		if (got == nil) != (want == nil) || got != nil && got.Error() != want.Error() {
			t.Errorf("%s:\nkeyCaseClash = %v\nSearchRows   = %v", d, got, want)
		}
	}
	for _, e := range loadCorpus(t) {
		if _, want := entity.SearchRows(e); (keyCaseClash(e) == nil) != (want == nil) {
			t.Errorf("%s: keyCaseClash and SearchRows disagree", e.Ref())
		}
	}
}

func TestProcessingErrorString(t *testing.T) {
	two := 1
	for _, tc := range []struct {
		pe   ProcessingError
		want string
	}{
		{ProcessingError{Reason: ReasonInvalidEntity, File: "file:/c.yaml", Document: &two, Line: 7, Entity: "component:default/a", Message: "spec.owner: is required"},
			"file:/c.yaml document 2 (line 7): entity component:default/a: spec.owner: is required"},
		{ProcessingError{Reason: ReasonParseError, File: "file:/c.yaml", Document: &two, Line: 7, Column: 3, Message: "did not find expected key"},
			"file:/c.yaml document 2 (line 7, column 3): did not find expected key"},
		{ProcessingError{Reason: ReasonInvalidEntity, File: "file:/c.yaml", Line: 7, Entity: "component:default/a", Message: "entity component:default/a is invalid: x (line 7, column 1)"},
			"file:/c.yaml: entity component:default/a is invalid: x (line 7, column 1)"},
		{ProcessingError{Reason: ReasonReadFailed, File: "file:/m.yaml", Entity: "location:default/all", Message: "file /m.yaml does not exist"},
			"file:/m.yaml: file /m.yaml does not exist (a target of location:default/all)"},
	} {
		if got := tc.pe.String(); got != tc.want {
			t.Errorf("String() = %q\nwant       %q", got, tc.want)
		}
	}
}
