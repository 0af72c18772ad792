package catalog

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/catalog/entity"
)

// apiLocation is a location as Backstage's API answers it: with entityRef, the ref of the
// Location entity the catalog generates for it (location:default/generated-<sha1>).
type apiLocation struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Target    string `json:"target"`
	EntityRef string `json:"entityRef"`
}

func toAPILocation(l Location) apiLocation {
	ref := entity.CompoundRef{Kind: "location", Namespace: entity.DefaultNamespace, Name: generatedName(target{Type: l.Type, Target: l.Target})}
	return apiLocation{ID: l.ID, Type: l.Type, Target: l.Target, EntityRef: ref.String()}
}

type createLocationResponse struct {
	Location apiLocation       `json:"location"`
	Entities []json.RawMessage `json:"entities"`
	Exists   *bool             `json:"exists,omitempty"`
}

// POST /locations registers a location ({type, target}) and processes it; with
// ?dryRun=true it only reports what the location would yield. A location that is
// registered already is a 409, unless ?onConflict=refresh: then it is read again now.
func (h *httpAPI) createLocation(w http.ResponseWriter, r *http.Request, _ params) error {
	spec, err := h.readLocationSpec(w, r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	onConflict, _, err := stringParam(q, "onConflict")
	if err != nil {
		return err
	}
	if onConflict != "" && onConflict != "refresh" && onConflict != "reject" {
		return inputErrorf(`Invalid onConflict, must be "refresh" or "reject"`)
	}
	dryRun := yes(q.Get("dryRun"))
	ctx := r.Context()
	loc, ents, exists, err := h.c.AddLocation(ctx, spec, dryRun)
	if err != nil {
		return err
	}
	if exists && !dryRun {
		if onConflict != "refresh" {
			// Backstage's location store refuses a second registration of the same location.
			return &apiError{status: http.StatusConflict, name: "ConflictError",
				message: fmt.Sprintf("Location %s:%s already exists", loc.Type, loc.Target)}
		}
		if ents, err = h.c.refreshLocation(ctx, loc.ID); err != nil {
			return err
		}
	}
	resp := createLocationResponse{Location: toAPILocation(loc), Entities: make([]json.RawMessage, 0, len(ents))}
	for _, e := range ents {
		b, err := marshal(e)
		if err != nil {
			return err
		}
		resp.Entities = append(resp.Entities, b)
	}
	if dryRun {
		resp.Exists = &exists
	}
	writeJSON(w, http.StatusCreated, resp)
	return nil
}

// refreshLocation reads a registered location again now and returns what it yields.
func (c *Catalog) refreshLocation(ctx context.Context, id string) ([]*entity.Entity, error) {
	o, err := c.store.Get(ctx, c.locKind, "", id)
	if err != nil {
		return nil, err
	}
	run, err := c.processLocation(ctx, o, runOptions{full: true, collect: true})
	if err != nil {
		return nil, err
	}
	return run.collected, nil
}

// readLocationSpec reads the body of POST /locations and PUT /locations/:id:
// {type, target, presence?} and no other keys, as Backstage's locationInput schema.
func (h *httpAPI) readLocationSpec(w http.ResponseWriter, r *http.Request) (LocationSpec, error) {
	var body map[string]any
	if err := h.readJSONBody(w, r, &body); err != nil {
		return LocationSpec{}, err
	}
	if len(body) == 0 {
		return LocationSpec{}, inputErrorf("Empty request body")
	}
	var problems []string
	for k := range body {
		if k != "type" && k != "target" && k != "presence" {
			problems = append(problems, fmt.Sprintf("unrecognized key %q", k))
		}
	}
	typ, ok := body["type"].(string)
	if !ok {
		problems = append(problems, "type must be a string")
	}
	target, ok := body["target"].(string)
	if !ok {
		problems = append(problems, "target must be a string")
	}
	if p, ok := body["presence"]; ok && p != "required" && p != "optional" {
		problems = append(problems, `presence must be "required" or "optional"`)
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return LocationSpec{}, inputErrorf("Malformed request: %s", strings.Join(problems, "; "))
	}
	presence, _ := body["presence"].(string)
	return LocationSpec{Type: typ, Target: target, Presence: presence}, nil
}

// GET /locations lists the registered locations, each wrapped as {data: location}.
func (h *httpAPI) listLocations(w http.ResponseWriter, r *http.Request, _ params) error {
	locs, err := h.c.ListLocations(r.Context())
	if err != nil {
		return err
	}
	out := make([]map[string]apiLocation, 0, len(locs))
	for _, l := range locs {
		out = append(out, map[string]apiLocation{"data": toAPILocation(l)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// GET /locations/:id
func (h *httpAPI) getLocation(w http.ResponseWriter, r *http.Request, p params) error {
	loc, err := h.c.GetLocation(r.Context(), p["id"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAPILocation(loc))
	return nil
}

// DELETE /locations/:id unregisters a location; its entities go with it.
func (h *httpAPI) deleteLocation(w http.ResponseWriter, r *http.Request, p params) error {
	if err := h.c.DeleteLocation(r.Context(), p["id"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// GET /locations/by-entity/:kind/:namespace/:name: the registered location an entity
// came from.
func (h *httpAPI) getLocationByEntity(w http.ResponseWriter, r *http.Request, p params) error {
	ref := entity.CompoundRef{Kind: p["kind"], Namespace: p["namespace"], Name: p["name"]}
	loc, err := h.c.LocationByEntity(r.Context(), ref)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAPILocation(loc))
	return nil
}

// POST /refresh ({entityRef}) reads the entity's location again now.
func (h *httpAPI) refresh(w http.ResponseWriter, r *http.Request, _ params) error {
	var body map[string]any
	if err := h.readJSONBody(w, r, &body); err != nil {
		return err
	}
	ref, ok := body["entityRef"].(string)
	if !ok || ref == "" {
		return inputErrorf("Malformed request: entityRef must be a non-empty string")
	}
	if _, err := entity.ParseRef(ref, entity.RefDefaults{}); err != nil {
		return inputErrorf("Invalid entityRef: %v", err)
	}
	if err := h.c.Refresh(r.Context(), ref); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// serializedError is an error as @backstage/errors' serializeError writes it.
type serializedError struct {
	Name    string `json:"name"`
	Message string `json:"message"`
}

// POST /validate-entity ({entity, location}) checks an entity as the catalog would when
// reading it from location (a "url:<target>" ref): 200 if valid, else 400 with
// {errors: [{name, message}]}.
func (h *httpAPI) validateEntity(w http.ResponseWriter, r *http.Request, _ params) error {
	var body map[string]any
	if err := h.readJSONBody(w, r, &body); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.status == http.StatusBadRequest {
			writeJSON(w, http.StatusBadRequest, map[string]any{"errors": []serializedError{{Name: "InputError", Message: ae.message}}})
			return nil
		}
		return err
	}
	fail := func(errs ...serializedError) error {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": errs})
		return nil
	}
	loc, ok := body["location"].(string)
	if !ok {
		return fail(serializedError{Name: "InputError", Message: "Malformed request: location must be a string"})
	}
	typ, target, ok := strings.Cut(loc, ":")
	if !ok || typ == "" || target == "" {
		return fail(serializedError{Name: "TypeError", Message: fmt.Sprintf(
			"Unable to parse location ref '%s', expected '<type>:<target>', e.g. 'url:https://host/path'", loc)})
	}
	if typ != "url" {
		return fail(serializedError{Name: "TypeError", Message: fmt.Sprintf(
			"Invalid location ref %s, only 'url:<target>' is supported, e.g. url:https://host/path", loc)})
	}
	raw, ok := body["entity"].(map[string]any)
	if !ok {
		return fail(serializedError{Name: "TypeError", Message: "Malformed envelope, the entity must be an object"})
	}
	e, err := entity.FromObject(raw)
	if err != nil {
		return fail(serializedError{Name: "TypeError", Message: err.Error()})
	}
	// The same checks as ingestion: the model's, and what paved keeps of extra metadata.
	errs := append(h.c.model.Validate(e), checkExtraMetadata(e)...)
	if len(errs) == 0 {
		_, relErrs := h.c.model.Relations(e)
		errs = relErrs
	}
	if len(errs) > 0 {
		what := "entity"
		if e.Kind != "" && e.Metadata.Name != "" {
			what = e.Ref().String()
		}
		out := make([]serializedError, 0, len(errs))
		for _, fe := range errs {
			out = append(out, serializedError{Name: "InputError", Message: fmt.Sprintf("Processing of %s failed: %s", what, fe.Error())})
		}
		return fail(out...)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// PUT /locations/:id changes the type and target of a registered location, keeping its
// id, and reads it at once: what the new target yields replaces what the old one did.
func (h *httpAPI) updateLocation(w http.ResponseWriter, r *http.Request, p params) error {
	spec, err := h.readLocationSpec(w, r)
	if err != nil {
		return err
	}
	loc, err := h.c.updateLocation(r.Context(), p["id"], spec)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAPILocation(loc))
	return nil
}

// updateLocation points a registered location at another target. Like AddLocation it
// refuses a target that cannot be read; another location with the new target is a
// conflict, as in Backstage. A location from the configuration file is changed there.
func (c *Catalog) updateLocation(ctx context.Context, id string, spec LocationSpec) (Location, error) {
	t, err := c.normalize(spec, true)
	if err != nil {
		return Location{}, err
	}
	o, err := c.store.Get(ctx, c.locKind, "", id)
	if api.IsNotFound(err) {
		return Location{}, notFoundf("Found no location with ID %s", id)
	}
	if err != nil {
		return Location{}, err
	}
	if o.Metadata.Labels[labelSource] == sourceConfig {
		return Location{}, inputErrorf("Location %s comes from the configuration file (catalog.locations); change it there", id)
	}
	old := specOfLocation(o)
	if spec.Presence == "" {
		spec.Presence = old.Presence
	}
	if err := c.reader.probe(ctx, t); err != nil && !(spec.Presence == "optional" && isNotFoundRead(err)) {
		return Location{}, readFailure(t, err)
	}
	// Under the registration lock, so that no other location takes the target meanwhile.
	unlock := c.lock("register")
	other, err := c.findLocation(ctx, t)
	if err == nil && other != nil && other.Metadata.Name != id {
		err = &apiError{status: http.StatusConflict, name: "ConflictError", message: fmt.Sprintf("Location %s already exists", t.key())}
	}
	if err == nil {
		o.Spec, _ = json.Marshal(locationSpecFields{Type: t.Type, Target: t.Target, Presence: spec.Presence})
		o, err = c.store.Update(ctx, o) // the read's resourceVersion: a concurrent change is a conflict
	}
	unlock()
	if err != nil {
		return Location{}, err
	}
	if _, err := c.processLocation(ctx, o, runOptions{full: true}); err != nil {
		return Location{}, err
	}
	return toLocation(o), nil
}

type locationQueryCursor struct {
	Limit   int             `json:"limit"`
	AfterID string          `json:"afterId,omitempty"`
	Query   json.RawMessage `json:"query,omitempty"`
}

// defaultLocationQueryLimit is POST /locations/by-query's page size, as in Backstage.
const defaultLocationQueryLimit = 1000

// POST /locations/by-query: the registered locations matching a predicate over id, type,
// target and entityRef, ordered by id, a page at a time ({items, totalItems,
// pageInfo: {nextCursor?}}).
func (h *httpAPI) queryLocations(w http.ResponseWriter, r *http.Request, _ params) error {
	var body map[string]json.RawMessage
	if err := h.readOptionalJSONBody(w, r, &body); err != nil {
		return err
	}
	var cur locationQueryCursor
	if c, ok, err := bodyString(body, "cursor"); err != nil {
		return err
	} else if ok {
		if c == "" {
			return inputErrorf("Cursor cannot be empty")
		}
		if cur, err = decodeLocationCursor(c); err != nil {
			return err
		}
	} else {
		limit, hasLimit, err := bodyInt(body, "limit", 1)
		if err != nil {
			return inputErrorf("Limit must be a positive integer >= 1")
		}
		cur.Limit = defaultLocationQueryLimit
		if hasLimit {
			cur.Limit = limit
		}
		if raw, ok := body["query"]; ok {
			if cur.Query, err = compactPredicate(raw); err != nil {
				return err
			}
		}
	}
	var pred *predNode
	if cur.Query != nil {
		var err error
		if pred, err = parsePredicate(cur.Query); err != nil {
			return err
		}
		if err := checkLocationPredicate(pred); err != nil {
			return err
		}
	}
	locs, err := h.c.ListLocations(r.Context())
	if err != nil {
		return err
	}
	slices.SortFunc(locs, func(a, b Location) int { return strings.Compare(a.ID, b.ID) })
	var matching []apiLocation
	for _, l := range locs {
		al := toAPILocation(l)
		if pred != nil && !matchLocation(pred, map[string]string{"id": al.ID, "type": al.Type, "target": al.Target, "entityref": al.EntityRef}) {
			continue
		}
		matching = append(matching, al)
	}
	items := []apiLocation{}
	for _, l := range matching {
		if cur.AfterID != "" && l.ID <= cur.AfterID {
			continue
		}
		items = append(items, l)
	}
	resp := struct {
		Items      []apiLocation `json:"items"`
		TotalItems int           `json:"totalItems"`
		PageInfo   struct {
			NextCursor string `json:"nextCursor,omitempty"`
		} `json:"pageInfo"`
	}{TotalItems: len(matching)}
	if len(items) > cur.Limit {
		items = items[:cur.Limit]
		next := cur
		next.AfterID = items[len(items)-1].ID
		b, _ := json.Marshal(next)
		resp.PageInfo.NextCursor = base64.StdEncoding.EncodeToString(b)
	}
	resp.Items = items
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func decodeLocationCursor(s string) (locationQueryCursor, error) {
	var c locationQueryCursor
	data, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if data, err = base64.URLEncoding.DecodeString(s); err != nil {
			return c, inputErrorf("Malformed cursor, unknown encoding")
		}
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, inputErrorf("Malformed cursor: %v", err)
	}
	if c.Limit < 1 {
		return c, inputErrorf("Malformed cursor: limit must be a positive integer")
	}
	if c.Query != nil {
		if c.Query, err = compactPredicate(c.Query); err != nil {
			return c, inputErrorf("Malformed cursor: the query is not a JSON object")
		}
	}
	return c, nil
}
