package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/catalog/entity"
)

// POST /analyze-location is what Backstage's catalog-import page asks before it registers
// a repository: {location: {type, target}, catalogFilename?} answers
// {existingEntityFiles: [{location, isRegistered, entity}], generateEntities: [{entity,
// fields}]}. Backstage's default analyzer looks for catalog files through an SCM
// integration and otherwise suggests a Component named after the repository. paved reads
// with the catalog's own reader instead (file targets below catalog.fileRoots, http(s)
// URLs):
//
//   - a target that is a catalog file is read as a dry run of POST /locations would read
//     it, and every entity it (and the locations in it) yields is an existing entity;
//   - a directory, or a URL whose last path segment is not a .yaml, .yml or .json file,
//     is looked into for catalogFilename (default catalog-info.yaml);
//   - when that file does not exist, the answer suggests a Component named after the
//     directory or repository (generateEntities), as Backstage does; when no valid name
//     can be made, generateEntities is empty.

// defaultCatalogFilename is the file looked for in a directory or repository.
const defaultCatalogFilename = "catalog-info.yaml"

type analyzeResponse struct {
	ExistingEntityFiles []analyzeExisting `json:"existingEntityFiles"`
	GenerateEntities    []analyzeGenerate `json:"generateEntities"`
}

type analyzeExisting struct {
	Location     locationRef     `json:"location"`
	IsRegistered bool            `json:"isRegistered"`
	Entity       json.RawMessage `json:"entity"`
}

type locationRef struct {
	Type   string `json:"type"`
	Target string `json:"target"`
}

type analyzeGenerate struct {
	Entity map[string]any `json:"entity"`
	Fields []analyzeField `json:"fields"`
}

// analyzeField is Backstage's AnalyzeLocationEntityField: a field of a generated entity
// the user may need to fill in. paved suggests none.
type analyzeField struct {
	Field       string  `json:"field"`
	State       string  `json:"state"`
	Value       *string `json:"value"`
	Description string  `json:"description"`
}

func (h *httpAPI) analyzeLocation(w http.ResponseWriter, r *http.Request, _ params) error {
	var body map[string]json.RawMessage
	if err := h.readJSONBody(w, r, &body); err != nil {
		return err
	}
	if len(body) == 0 {
		return inputErrorf("Empty request body")
	}
	raw, ok := body["location"]
	if !ok {
		return inputErrorf("Malformed request: location is required ({type, target})")
	}
	var loc map[string]any
	if err := json.Unmarshal(raw, &loc); err != nil || loc == nil {
		return inputErrorf("Malformed request: location must be an object {type, target}")
	}
	var problems []string
	for _, k := range predKeys(loc) {
		if k != "type" && k != "target" && k != "presence" {
			problems = append(problems, fmt.Sprintf("location has an unrecognized key %q", k))
		}
	}
	typ, ok := loc["type"].(string)
	if !ok {
		problems = append(problems, "location.type must be a string")
	}
	tgt, ok := loc["target"].(string)
	if !ok {
		problems = append(problems, "location.target must be a string")
	}
	if p, ok := loc["presence"]; ok && p != "required" && p != "optional" {
		problems = append(problems, `location.presence must be "required" or "optional"`)
	}
	// Backstage's router reads catalogFilename; its OpenAPI schema spells it catalogFileName.
	filename := defaultCatalogFilename
	for _, key := range []string{"catalogFilename", "catalogFileName"} {
		if f, ok, err := bodyString(body, key); err != nil {
			problems = append(problems, key+" must be a string")
		} else if ok {
			filename = f
		}
	}
	if len(problems) > 0 {
		return inputErrorf("Malformed request: %s", strings.Join(problems, "; "))
	}
	if !validCatalogFilename(filename) {
		return inputErrorf("Invalid catalogFilename %q: it must be a relative path inside the location (no .., no leading /)", filename)
	}
	resp, err := h.c.analyze(r.Context(), LocationSpec{Type: typ, Target: tgt}, filename)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// validCatalogFilename accepts a relative slash-separated path that stays inside the
// directory it is joined to.
func validCatalogFilename(f string) bool {
	if f == "" || strings.ContainsAny(f, "\\\x00") || strings.HasPrefix(f, "/") {
		return false
	}
	for _, seg := range strings.Split(f, "/") {
		if seg == ".." || seg == "." || seg == "" {
			return false
		}
	}
	return true
}

// analyze finds the catalog file of a location and reads it without writing anything.
func (c *Catalog) analyze(ctx context.Context, spec LocationSpec, filename string) (analyzeResponse, error) {
	resp := analyzeResponse{ExistingEntityFiles: []analyzeExisting{}, GenerateEntities: []analyzeGenerate{}}
	t, err := c.normalize(spec, true)
	if err != nil {
		return resp, err
	}
	file := t
	switch t.Type {
	case "file":
		real, err := c.reader.checkFile(t.Target)
		if err != nil {
			return resp, readFailure(t, err)
		}
		if st, err := os.Stat(real); err == nil && st.IsDir() {
			file.Target = filepath.Join(t.Target, filepath.FromSlash(filename))
		}
	case "url":
		u, err := url.Parse(t.Target)
		if err != nil {
			return resp, inputErrorf("The given location.target is not a URL")
		}
		if !isCatalogFileName(path.Base(u.Path)) {
			file.Target = u.JoinPath(filename).String()
		}
	}
	loc, ents, exists, err := c.AddLocation(ctx, LocationSpec{Type: file.Type, Target: file.Target}, true)
	if err != nil {
		if api.IsNotFound(err) && file != t {
			// A directory or repository without a catalog file: suggest an entity.
			if e := suggestedComponent(t); e != nil {
				resp.GenerateEntities = append(resp.GenerateEntities, analyzeGenerate{Entity: e, Fields: []analyzeField{}})
			}
			return resp, nil
		}
		return resp, err
	}
	registered := map[string]bool{}
	if exists {
		registered[target{Type: loc.Type, Target: loc.Target}.key()] = true
	}
	locs, err := c.ListLocations(ctx)
	if err != nil {
		return resp, err
	}
	for _, l := range locs {
		registered[target{Type: l.Type, Target: l.Target}.key()] = true
	}
	root := generatedName(target{Type: loc.Type, Target: loc.Target})
	for _, e := range ents {
		if e.Kind == "Location" && e.Metadata.Name == root {
			continue // the Location entity the catalog would generate for the location itself
		}
		from, ok := parseLocationRef(e.Metadata.Annotations[entity.AnnotationManagedByLocation])
		if !ok {
			from = target{Type: loc.Type, Target: loc.Target}
		}
		b, err := marshal(e)
		if err != nil {
			return resp, err
		}
		resp.ExistingEntityFiles = append(resp.ExistingEntityFiles, analyzeExisting{
			Location:     locationRef{Type: from.Type, Target: from.Target},
			IsRegistered: registered[target{Type: loc.Type, Target: loc.Target}.key()] || registered[from.key()],
			Entity:       b,
		})
	}
	return resp, nil
}

func isCatalogFileName(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// projectSlugHosts are the hosts whose repository URLs get a project-slug annotation on a
// suggested entity, as Backstage's analyzer adds for its SCM integrations.
var projectSlugHosts = map[string]string{
	"github.com":    "github.com",
	"gitlab.com":    "gitlab.com",
	"bitbucket.org": "bitbucket.org",
	"dev.azure.com": "dev.azure.com",
}

var invalidNameChars = regexp.MustCompile(`[^A-Za-z0-9]+`)

// suggestedComponent is the entity Backstage's analyzer suggests for a repository
// without a catalog file: a Component named after it, of type other and lifecycle
// unknown. It is nil when the target gives no usable name.
func suggestedComponent(t target) map[string]any {
	var name, owner string
	var annotations map[string]any
	switch t.Type {
	case "file":
		name = filepath.Base(t.Target)
	case "url":
		u, err := url.Parse(t.Target)
		if err != nil {
			return nil
		}
		var segs []string
		for _, s := range strings.Split(u.Path, "/") {
			if s != "" {
				segs = append(segs, s)
			}
		}
		if len(segs) == 0 {
			return nil
		}
		name = segs[len(segs)-1]
		host := strings.ToLower(u.Hostname())
		if len(segs) >= 2 && projectSlugHosts[host] != "" {
			owner, name = segs[0], segs[1]
		}
		name = strings.TrimSuffix(name, ".git")
		if owner != "" {
			annotations = map[string]any{projectSlugHosts[host] + "/project-slug": owner + "/" + name}
		}
	}
	name = entityName(name)
	if name == "" {
		return nil
	}
	meta := map[string]any{"name": name}
	if annotations != nil {
		meta["annotations"] = annotations
	}
	return map[string]any{
		"apiVersion": "backstage.io/v1alpha1",
		"kind":       "Component",
		"metadata":   meta,
		"spec":       map[string]any{"type": "other", "lifecycle": "unknown"},
	}
}

// entityName makes s a valid entity name: runs of characters other than letters and
// digits become one dash (dots and underscores too, which keeps it simple), at most 63
// characters, no dash at either end.
func entityName(s string) string {
	s = strings.Trim(invalidNameChars.ReplaceAllString(s, "-"), "-")
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-")
	}
	return s
}
