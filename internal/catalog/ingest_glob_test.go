package catalog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/catalog/entity"
)

// globTestdata returns the absolute path of testdata/glob.
func globTestdata(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "glob"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// entityRefs returns the refs of the stored entities, without the generated Locations.
func entityRefs(t *testing.T, c *Catalog) []string {
	t.Helper()
	var out []string
	for ref := range allEntities(t, c) {
		if !strings.HasPrefix(ref, "location:default/generated-") {
			out = append(out, ref)
		}
	}
	slices.Sort(out)
	return out
}

// TestGlobLocationTargets reads testdata/glob/all.yaml, whose Location names its files by
// patterns: "*" in one segment, "**" across directories, {a,b} alternatives, a pattern
// that matches nothing in an existing directory, and dot directories left out.
func TestGlobLocationTargets(t *testing.T) {
	dir := globTestdata(t)
	c := newCatalog(t, Options{FileRoots: []string{dir}})
	loc := register(t, c, filepath.Join(dir, "all.yaml"))
	if st := statusOf(t, c, loc.ID); len(st.Errors) > 0 {
		t.Fatalf("errors:%s", errorsText(st.Errors))
	}
	want := []string{"component:default/billing", "component:default/ledger", "group:default/team-a", "group:default/team-b", "location:default/glob-catalog"}
	if got := entityRefs(t, c); !slices.Equal(got, want) {
		t.Fatalf("entities %v, want %v", got, want)
	}
	// Each match is a location of its own, as Backstage's file:<matched path>.
	for ref, file := range map[string]string{
		"component:default/billing": "services/billing/catalog-info.yaml",
		"group:default/team-b":      "teams/nested/deep/team-b.yaml",
	} {
		o := mustGet(t, c, ref)
		if got, want := o.Metadata.Annotations[entity.AnnotationManagedByLocation], "file:"+filepath.Join(dir, file); got != want {
			t.Errorf("%s: managed-by-location %q, want %q", ref, got, want)
		}
		if got, want := o.Metadata.Annotations[entity.AnnotationManagedByOriginLocation], "file:"+filepath.Join(dir, "all.yaml"); got != want {
			t.Errorf("%s: managed-by-origin-location %q, want %q", ref, got, want)
		}
	}
	// Refreshing an entity of a matched file reads that file.
	refresh(t, c, "component:default/ledger")
	if st := statusOf(t, c, loc.ID); len(st.Errors) > 0 || st.LastRun == nil || st.LastRun.Root != "file:"+filepath.Join(dir, "services", "ledger", "catalog-info.yaml") {
		t.Errorf("after a refresh of ledger: %+v", st)
	}
}

// TestGlobRegisteredLocation registers patterns as locations themselves.
func TestGlobRegisteredLocation(t *testing.T) {
	dir := globTestdata(t)
	for _, tc := range []struct {
		name, pattern string
		presence      string
		want          []string
		errText       string // the registration fails with this
		notFound      bool
	}{
		{name: "single star", pattern: "services/*/catalog-info.yaml", want: []string{"component:default/billing", "component:default/ledger"}},
		{name: "double star", pattern: "**/team-*.yaml", want: []string{"group:default/team-a", "group:default/team-b"}},
		{name: "double star at the end", pattern: "teams/**", want: []string{"group:default/team-a", "group:default/team-b"}},
		{name: "character class and question mark", pattern: "services/[bl]?dger/*.yaml", want: []string{"component:default/ledger", "component:default/not-matched"}},
		{name: "explicit dot segment", pattern: "services/.hidden/*.yaml", want: []string{"component:default/hidden"}},
		{name: "no match in an existing directory", pattern: "empty/*.yaml", want: nil},
		{name: "directory missing", pattern: "nope/*.yaml", errText: "does not exist", notFound: true},
		{name: "directory missing, optional", pattern: "nope/*.yaml", presence: "optional", want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCatalog(t, Options{FileRoots: []string{dir}})
			target := filepath.Join(dir, filepath.FromSlash(tc.pattern))
			loc, _, _, err := c.AddLocation(context.Background(), LocationSpec{Type: "file", Target: target, Presence: tc.presence}, false)
			if tc.errText != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errText) || tc.notFound != api.IsNotFound(err) {
					t.Fatalf("AddLocation(%s) = %v, want an error with %q (not found: %v)", tc.pattern, err, tc.errText, tc.notFound)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st := statusOf(t, c, loc.ID); len(st.Errors) > 0 {
				t.Fatalf("errors:%s", errorsText(st.Errors))
			}
			if got := entityRefs(t, c); !slices.Equal(got, tc.want) {
				t.Errorf("entities %v, want %v", got, tc.want)
			}
		})
	}
}

// TestGlobRoots: a pattern never reads outside the allowed roots, through ".." or links.
func TestGlobRoots(t *testing.T) {
	root := t.TempDir()
	outside := writeFiles(t, filepath.Join(root, "outside"), map[string]string{
		"secret.yaml":           doc(component, "secret", "outside the roots", "team-a"),
		"sub/catalog-info.yaml": doc(component, "sub-secret", "outside the roots", "team-a"),
	})
	dir := writeFiles(t, filepath.Join(root, "catalog"), map[string]string{
		"ok.yaml": doc(component, "ok", "inside", "team-a"),
		"all.yaml": `apiVersion: backstage.io/v1alpha1
kind: Location
metadata:
  name: all
spec:
  targets: ["./*.yaml", "./*/catalog-info.yaml", "./**/*.yaml", "../outside/*.yaml"]
`,
	})
	for link, to := range map[string]string{"link.yaml": filepath.Join(outside, "secret.yaml"), "linkdir": filepath.Join(outside, "sub")} {
		if err := os.Symlink(to, filepath.Join(dir, link)); err != nil {
			t.Skipf("symbolic links: %v", err)
		}
	}
	c := newCatalog(t, Options{FileRoots: []string{dir}})
	loc := register(t, c, filepath.Join(dir, "all.yaml"))
	if got, want := entityRefs(t, c), []string{"component:default/ok", "location:default/all"}; !slices.Equal(got, want) {
		t.Errorf("entities %v, want %v", got, want)
	}
	st := statusOf(t, c, loc.ID)
	var msgs []string
	for _, pe := range st.Errors {
		if pe.Reason != ReasonReadFailed {
			t.Errorf("unexpected error %s", pe.String())
		}
		if strings.Contains(pe.Message, "outside the roots") {
			t.Errorf("an error leaks the content of a file outside the roots: %s", pe.Message)
		}
		msgs = append(msgs, pe.String())
	}
	// The linked file is matched and refused when read; the pattern with ".." is refused;
	// the linked directory is not followed (it leads outside), by "*" or "**".
	for _, want := range []string{
		filepath.Join(dir, "link.yaml") + " resolves to " + filepath.Join(outside, "secret.yaml") + ", which is outside",
		filepath.Join(outside, "*.yaml") + ": file " + outside + " is outside the directories the catalog may read",
	} {
		if !slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, want) }) {
			t.Errorf("no error with %q; errors:%s", want, errorsText(st.Errors))
		}
	}
	if len(msgs) != 2 {
		t.Errorf("%d errors, want 2:%s", len(msgs), errorsText(st.Errors))
	}
	// Registering a pattern that starts outside the roots is refused outright.
	for _, bad := range []string{filepath.Join(dir, "..", "outside", "*.yaml"), filepath.Join(outside, "**", "*.yaml"), filepath.Join(dir, "{.,..}", "*.yaml")} {
		if _, _, _, err := c.AddLocation(context.Background(), LocationSpec{Type: "file", Target: bad}, false); !isBadRequest(err) {
			t.Errorf("AddLocation(%s) = %v, want a bad request", bad, err)
		}
	}
}

// TestGlobTooManyMatches: a pattern matching more than maxGlobMatches files is a
// processing error, and what the files it matched before yielded is kept.
func TestGlobTooManyMatches(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{
		"all.yaml": `apiVersion: backstage.io/v1alpha1
kind: Location
metadata:
  name: all
spec:
  target: ./services/*.yaml
`,
		"services/a.yaml": docs(doc(group, "team-a"), doc(component, "a", "x", "team-a")),
	})
	c := newCatalog(t, Options{FileRoots: []string{dir}})
	loc := register(t, c, filepath.Join(dir, "all.yaml"))
	mustGet(t, c, "component:default/a")

	files := map[string]string{}
	for i := range maxGlobMatches {
		files[fmt.Sprintf("services/gen-%05d.yaml", i)] = ""
	}
	writeFiles(t, dir, files)
	refresh(t, c, "location:default/all")
	st := statusOf(t, c, loc.ID)
	pe := findError(st.Errors, ReasonReadFailed)
	if pe == nil || !strings.Contains(pe.Message, fmt.Sprintf("matches more than %d files", maxGlobMatches)) || pe.File != "file:"+filepath.Join(dir, "services", "*.yaml") {
		t.Fatalf("errors:%s", errorsText(st.Errors))
	}
	// The pattern could not be expanded: the entities of the files it matched are kept.
	mustGet(t, c, "component:default/a")
	mustGet(t, c, "group:default/team-a")

	// Back under the limit: read again; a file the pattern no longer matches loses its
	// entities, one it newly matches yields them.
	for name := range files {
		if err := os.Remove(filepath.Join(dir, filepath.FromSlash(name))); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(dir, "services", "a.yaml")); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"services/b.yaml": docs(doc(group, "team-a"), doc(component, "b", "x", "team-a"))})
	refresh(t, c, "location:default/all")
	if st := statusOf(t, c, loc.ID); len(st.Errors) > 0 {
		t.Fatalf("errors:%s", errorsText(st.Errors))
	}
	if get(t, c, "component:default/a") != nil {
		t.Error("a is still there after its file went")
	}
	mustGet(t, c, "component:default/b")
}

func TestGlobPatterns(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		glob    bool
	}{
		{"/srv/catalog/all.yaml", false},
		{"/srv/*/all.yaml", true},
		{"/srv/a?.yaml", true},
		{"/srv/[ab].yaml", true},
		{"/srv/[ab.yaml", false},
		{"/srv/{a,b}.yaml", true},
		{"/srv/{a}.yaml", false},
		{`/srv/\*.yaml`, false},
	} {
		if got := isGlob(tc.pattern); got != tc.glob {
			t.Errorf("isGlob(%q) = %v, want %v", tc.pattern, got, tc.glob)
		}
	}
	alts, err := expandBraces("/a/{b,c{d,e}}/{x,y}.yaml", 64)
	if want := []string{"/a/b/x.yaml", "/a/b/y.yaml", "/a/cd/x.yaml", "/a/cd/y.yaml", "/a/ce/x.yaml", "/a/ce/y.yaml"}; err != nil || !slices.Equal(alts, want) {
		t.Errorf("expandBraces = %v, %v; want %v", alts, err, want)
	}
	if _, err := expandBraces(strings.Repeat("{a,b}", 7), maxGlobAlternatives); err == nil {
		t.Error("2^7 alternatives expanded without error")
	}
	for _, tc := range []struct {
		pattern, path string
		match         bool
	}{
		{"/srv/*/catalog-info.yaml", "/srv/billing/catalog-info.yaml", true},
		{"/srv/*/catalog-info.yaml", "/srv/a/b/catalog-info.yaml", false},
		{"/srv/*/catalog-info.yaml", "/srv/.hidden/catalog-info.yaml", false},
		{"/srv/**/x.yaml", "/srv/x.yaml", true},
		{"/srv/**/x.yaml", "/srv/a/b/c/x.yaml", true},
		{"/srv/**/x.yaml", "/srv/a/.git/x.yaml", false},
		{"/srv/{a,b}/*.yaml", "/srv/b/z.yaml", true},
		{"/srv/{a,b}/*.yaml", "/srv/c/z.yaml", false},
		{`/srv/\*.yaml`, "/srv/*.yaml", true},
		{"/srv/" + strings.Repeat("**/", 30) + "x.yaml", "/srv/" + strings.Repeat("a/", 40) + "y.yaml", false},
	} {
		if got := globMatch(tc.pattern, tc.path); got != tc.match {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.path, got, tc.match)
		}
	}
}
