package catalog

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const analyzeComponent = `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: %s
spec:
  type: service
  lifecycle: production
  owner: team-a
`

func componentYAML(name string) string { return strings.Replace(analyzeComponent, "%s", name, 1) }

type analyzeAnswer struct {
	ExistingEntityFiles []struct {
		Location     struct{ Type, Target string }
		IsRegistered bool
		Entity       testEntity
	}
	GenerateEntities []struct {
		Entity map[string]any
		Fields []any
	}
}

func (a analyzeAnswer) existing() []string {
	var out []string
	for _, e := range a.ExistingEntityFiles {
		out = append(out, e.Entity.ref()+" @ "+e.Location.Type+":"+filepath.Base(e.Location.Target))
	}
	slices.Sort(out)
	return out
}

func TestAPIAnalyzeLocation(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"repo1/catalog-info.yaml": componentYAML("svc-one") + `---
apiVersion: backstage.io/v1alpha1
kind: Location
metadata:
  name: more
spec:
  target: ./more.yaml
`,
		"repo1/more.yaml":   componentYAML("svc-two"),
		"my_service/x.txt":  "not a catalog file",
		"repo3/custom.yaml": componentYAML("svc-three"),
		"broken.yaml": `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: "not valid!"
spec: {}
`,
	})
	files := http.FileServer(http.Dir(dir))
	web := httptest.NewServer(files)
	t.Cleanup(web.Close)
	s := newAPIServer(t, apiServerOptions{noCorpus: true, fileRoots: []string{dir}})

	analyze := func(t *testing.T, body any) (analyzeAnswer, apiResponse) {
		t.Helper()
		r := s.do(t, http.MethodPost, "/api/catalog/analyze-location", body)
		var a analyzeAnswer
		if r.Code == http.StatusOK {
			r.json(t, &a)
		}
		return a, r
	}
	loc := func(typ, target string) map[string]any {
		return map[string]any{"location": map[string]string{"type": typ, "target": target}}
	}
	repo1Entities := []string{
		"component:default/svc-one @ file:catalog-info.yaml",
		"component:default/svc-two @ file:more.yaml",
		"location:default/more @ file:catalog-info.yaml",
	}
	for _, tc := range []struct {
		name     string
		body     any
		existing []string
		generate string // the name of the suggested Component
	}{
		{"a catalog file", loc("file", filepath.Join(dir, "repo1", "catalog-info.yaml")), repo1Entities, ""},
		{"a directory with catalog-info.yaml", loc("file", filepath.Join(dir, "repo1")), repo1Entities, ""},
		{"a directory and catalogFilename", map[string]any{"location": map[string]string{"type": "file", "target": filepath.Join(dir, "repo3")},
			"catalogFilename": "custom.yaml"}, []string{"component:default/svc-three @ file:custom.yaml"}, ""},
		{"a directory without a catalog file", loc("file", filepath.Join(dir, "my_service")), nil, "my-service"},
		{"a URL of a catalog file", loc("url", web.URL+"/repo1/catalog-info.yaml"), []string{
			"component:default/svc-one @ url:catalog-info.yaml",
			"component:default/svc-two @ url:more.yaml",
			"location:default/more @ url:catalog-info.yaml",
		}, ""},
		{"a URL of a folder with catalog-info.yaml", loc("url", web.URL+"/repo1"), []string{
			"component:default/svc-one @ url:catalog-info.yaml",
			"component:default/svc-two @ url:more.yaml",
			"location:default/more @ url:catalog-info.yaml",
		}, ""},
		{"a URL of a folder and catalogFilename", map[string]any{"location": map[string]string{"type": "url", "target": web.URL + "/repo3/"},
			"catalogFileName": "custom.yaml"}, []string{"component:default/svc-three @ url:custom.yaml"}, ""},
		{"a URL of a folder without a catalog file", loc("url", web.URL+"/my_service/"), nil, "my-service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, r := analyze(t, tc.body)
			if r.Code != http.StatusOK {
				t.Fatalf("%d %s", r.Code, r.Body)
			}
			if !slices.Equal(a.existing(), tc.existing) {
				t.Errorf("existing %q, want %q", a.existing(), tc.existing)
			}
			if a.ExistingEntityFiles == nil || a.GenerateEntities == nil {
				t.Errorf("both lists are always there: %s", r.Body)
			}
			for _, e := range a.ExistingEntityFiles {
				if e.IsRegistered {
					t.Errorf("%s is not registered", e.Entity.ref())
				}
			}
			if tc.generate == "" {
				if len(a.GenerateEntities) != 0 {
					t.Errorf("generated %s", r.Body)
				}
				return
			}
			want := map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
				"metadata": map[string]any{"name": tc.generate}, "spec": map[string]any{"type": "other", "lifecycle": "unknown"}}
			if len(a.GenerateEntities) != 1 || !reflect.DeepEqual(a.GenerateEntities[0].Entity, want) || a.GenerateEntities[0].Fields == nil {
				t.Errorf("generated %s", r.Body)
			}
		})
	}
	// Nothing was written.
	if r := s.get(t, "/api/catalog/entities/by-query"); !strings.Contains(string(r.Body), `"totalItems":0`) {
		t.Errorf("analyze wrote entities: %s", r.Body)
	}
	// Once the file is registered, its entities say so.
	if r := s.do(t, http.MethodPost, "/api/catalog/locations", map[string]string{"type": "file", "target": filepath.Join(dir, "repo1", "catalog-info.yaml")}); r.Code != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Code, r.Body)
	}
	a, r := analyze(t, loc("file", filepath.Join(dir, "repo1")))
	if r.Code != http.StatusOK || len(a.ExistingEntityFiles) != 3 {
		t.Fatalf("%d %s", r.Code, r.Body)
	}
	for _, e := range a.ExistingEntityFiles {
		if !e.IsRegistered {
			t.Errorf("%s: not registered", e.Entity.ref())
		}
	}

	for _, tc := range []struct {
		name string
		body any
		code int
		msg  string
	}{
		{"empty body", `{}`, 400, "Empty request body"},
		{"malformed JSON", `{"location": `, 400, "Malformed request body"},
		{"no location", `{"catalogFilename": "x.yaml"}`, 400, "location is required"},
		{"location a string", `{"location": "file:/x"}`, 400, "location must be an object"},
		{"location without a target", `{"location": {"type": "file"}}`, 400, "location.target must be a string"},
		{"location with another key", `{"location": {"type": "file", "target": "/x", "branch": "main"}}`, 400, `unrecognized key "branch"`},
		{"unknown type", loc("ftp", "ftp://example.com/x"), 400, "location type must be url or file"},
		{"not a URL", loc("url", "example.com/x"), 400, "must use http or https"},
		{"a file outside the roots", loc("file", "/etc"), 400, "outside the directories the catalog may read"},
		{"a missing directory", loc("file", filepath.Join(dir, "nope")), 404, "does not exist"},
		{"a missing URL file", loc("url", web.URL+"/nope/catalog-info.yaml"), 404, "does not exist"},
		{"a broken catalog file", loc("file", filepath.Join(dir, "broken.yaml")), 400, "has errors"},
		{"catalogFilename leaving the directory", map[string]any{"location": map[string]string{"type": "file", "target": dir}, "catalogFilename": "../etc/passwd"}, 400, "Invalid catalogFilename"},
		{"catalogFilename absolute", map[string]any{"location": map[string]string{"type": "file", "target": dir}, "catalogFilename": "/etc/passwd"}, 400, "Invalid catalogFilename"},
		{"catalogFilename a number", `{"location": {"type": "file", "target": "/x"}, "catalogFilename": 5}`, 400, "catalogFilename must be a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, r := analyze(t, tc.body)
			if r.Code != tc.code {
				t.Fatalf("%d %s", r.Code, r.Body)
			}
			name, msg := r.backstageError(t)
			wantName := map[int]string{400: "InputError", 404: "NotFoundError"}[tc.code]
			if name != wantName || !strings.Contains(msg, tc.msg) {
				t.Errorf("%s %q, want %s containing %q", name, msg, wantName, tc.msg)
			}
		})
	}
}

func TestSuggestedComponent(t *testing.T) {
	for _, tc := range []struct {
		t    target
		want string // JSON, or "" for none
	}{
		{target{"url", "https://github.com/acme/Shop-API.git"}, `{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"annotations":{"github.com/project-slug":"acme/Shop-API"},"name":"Shop-API"},"spec":{"lifecycle":"unknown","type":"other"}}`},
		{target{"url", "https://gitlab.com/group/proj/-/tree/main"}, `{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"annotations":{"gitlab.com/project-slug":"group/proj"},"name":"proj"},"spec":{"lifecycle":"unknown","type":"other"}}`},
		{target{"url", "https://git.example.com/a/b/my_lib"}, `{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"my-lib"},"spec":{"lifecycle":"unknown","type":"other"}}`},
		{target{"file", "/src/My Repo"}, `{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"My-Repo"},"spec":{"lifecycle":"unknown","type":"other"}}`},
		{target{"url", "https://example.com/"}, ""},
		{target{"file", "/src/..."}, ""},
	} {
		got := suggestedComponent(tc.t)
		var s string
		if got != nil {
			b, _ := json.Marshal(got)
			s = string(b)
		}
		if s != tc.want {
			t.Errorf("%s: %s, want %s", tc.t.key(), s, tc.want)
		}
	}
	if n := entityName(strings.Repeat("a", 70) + "-b"); len(n) != 63 {
		t.Errorf("long name: %q", n)
	}
}
