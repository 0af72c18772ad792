package catalog

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBadInput registers, for each kind of bad input, a location with a bad file next to a
// good one: the bad one is a clear processing error, the good one is ingested.
func TestBadInput(t *testing.T) {
	bomb := "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: bomb\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n" +
		"  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		bomb += "  " + n + ": &" + n + " [" + strings.TrimSuffix(strings.Repeat("*"+prev+", ", 9), ", ") + "]\n"
		prev = n
	}
	const head = "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: %s\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n"
	cases := []struct {
		name    string
		bad     string
		files   map[string]string // more files beside bad.yaml
		max     int64
		reason  string
		message string
		absent  string // an entity that must not be stored
		present string // an entity of bad.yaml that must be stored anyway
	}{
		{name: "yaml bomb", bad: bomb, reason: ReasonParseError, message: "YAML bomb", absent: "component:default/bomb"},
		{name: "deeply nested", bad: doc(head, "deep") + "  x: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\n",
			reason: ReasonParseError, message: "", absent: "component:default/deep"},
		{name: "deeply nested maps", bad: doc(head, "deep") + "  x:\n" + func() string {
			var b strings.Builder
			for i := 0; i < 150; i++ {
				b.WriteString(strings.Repeat(" ", 4+2*i) + "k:\n")
			}
			return b.String() + strings.Repeat(" ", 304) + "v\n"
		}(), reason: ReasonParseError, message: "nests deeper than 100 levels", absent: "component:default/deep"},
		{name: "huge file", bad: doc(head, "huge") + "  blob: " + strings.Repeat("x", 70000) + "\n", max: 64 << 10,
			reason: ReasonReadFailed, message: "over the limit of 65536 bytes", absent: "component:default/huge"},
		{name: "huge entity", bad: doc(head, "huge") + "  definition: {$text: ./big.txt}\n", files: map[string]string{"big.txt": strings.Repeat("x", 1200<<10)},
			reason: ReasonInvalidEntity, message: "at most 1048576 are allowed", absent: "component:default/huge"},
		{name: "invalid utf-8", bad: strings.Replace(doc(head, "utf"), "type: service", "type: serv\xffice", 1),
			reason: ReasonParseError, message: "invalid UTF-8", absent: "component:default/utf"},
		{name: "a list, not an object", bad: "- a\n- b\n", reason: ReasonParseError, message: "expected an object at the document root, got array"},
		{name: "a string, not an object", bad: doc(head, "before") + "---\njust words\n---\n" + doc(head, "after"),
			reason: ReasonParseError, message: "expected an object at the document root, got string", present: "component:default/after"},
		{name: "syntax error after a valid document", bad: doc(head, "before") + "---\nkind: [unclosed\n",
			reason: ReasonParseError, message: "document 2 (line 9): did not find expected ',' or ']'", present: "component:default/before"},
		{name: "fails validation", bad: "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: inv\nspec:\n  type: service\n  lifecycle: production\n",
			reason: ReasonInvalidEntity, message: "spec.owner: is required", absent: "component:default/inv"},
		{name: "invalid name", bad: doc(head, "no spaces allowed"), reason: ReasonInvalidEntity, message: "metadata.name", absent: "component:default/no spaces allowed"},
		{name: "unknown kind", bad: "apiVersion: backstage.io/v1alpha1\nkind: Widget\nmetadata:\n  name: w\nspec: {}\n",
			reason: ReasonInvalidEntity, message: "Widget", absent: "widget:default/w"},
		{name: "relations written by hand", bad: doc(head, "rel") + "relations:\n  - type: ownedBy\n    targetRef: group:default/x\n",
			reason: ReasonInvalidEntity, message: "is set by the catalog", absent: "component:default/rel"},
		{name: "keys differing in case", bad: doc(head, "cased") + "  Type2: a\n  type2: b\n",
			reason: ReasonInvalidEntity, message: "vary only in casing", absent: "component:default/cased"},
		{name: "duplicate across files", bad: doc(head, "good"), reason: ReasonDuplicate, message: "also defined in"},
		{name: "bad reference", bad: strings.Replace(doc(head, "badref"), "owner: team-a", "owner: team-a\n  dependsOn: [no-kind]", 1),
			reason: ReasonInvalidEntity, message: "spec.dependsOn[0]", absent: "component:default/badref"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{
				"all.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: all\nspec:\n  targets: [./good.yaml, ./bad.yaml]\n",
				// A reference to an entity that does not exist is no error (as in Backstage).
				"good.yaml": doc(head, "good") + "  dependsOn: [resource:default/nowhere]\n",
				"bad.yaml":  tc.bad,
			}
			for k, v := range tc.files {
				files[k] = v
			}
			dir := writeFiles(t, t.TempDir(), files)
			c := newCatalog(t, Options{FileRoots: []string{dir}, MaxFileBytes: tc.max})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			loc, _, _, err := c.AddLocation(ctx, LocationSpec{Type: "file", Target: filepath.Join(dir, "all.yaml")}, false)
			if err != nil {
				t.Fatal(err)
			}
			good := mustGet(t, c, "component:default/good")
			if !hasRelation(good, "dependsOn", "resource:default/nowhere") {
				t.Errorf("good lacks its relation to a missing entity: %v", good.Relations)
			}
			st := statusOf(t, c, loc.ID)
			if len(st.Errors) != 1 {
				t.Fatalf("want one error, got:%s", errorsText(st.Errors))
			}
			pe := st.Errors[0]
			if pe.Reason != tc.reason || !strings.Contains(pe.String(), tc.message) || !strings.HasSuffix(pe.File, "bad.yaml") {
				t.Errorf("error = %s: %s; want %s containing %q about bad.yaml", pe.Reason, pe.String(), tc.reason, tc.message)
			}
			if len(pe.String()) > 2000 {
				t.Errorf("the error message is %d characters long", len(pe.String()))
			}
			if tc.absent != "" && get(t, c, tc.absent) != nil {
				t.Errorf("%s was stored", tc.absent)
			}
			if tc.present != "" {
				mustGet(t, c, tc.present)
			}
		})
	}
}
