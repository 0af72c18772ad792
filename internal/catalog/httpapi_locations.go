package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/paved-dev/paved/internal/catalog/entity"
)

type createLocationResponse struct {
	Location Location          `json:"location"`
	Entities []json.RawMessage `json:"entities"`
	Exists   *bool             `json:"exists,omitempty"`
}

// POST /locations registers a location ({type, target}) and processes it; with
// ?dryRun=true it only reports what the location would yield.
func (h *httpAPI) createLocation(w http.ResponseWriter, r *http.Request, _ params) error {
	var body map[string]any
	if err := h.readJSONBody(w, r, &body); err != nil {
		return err
	}
	if len(body) == 0 {
		return inputErrorf("Empty request body")
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
		return inputErrorf("Malformed request: %s", strings.Join(problems, "; "))
	}
	presence, _ := body["presence"].(string)
	dryRun := yes(r.URL.Query().Get("dryRun"))
	loc, ents, exists, err := h.c.AddLocation(r.Context(), LocationSpec{Type: typ, Target: target, Presence: presence}, dryRun)
	if err != nil {
		return err
	}
	if exists && !dryRun {
		// Backstage's location store refuses a second registration of the same location.
		return &apiError{status: http.StatusConflict, name: "ConflictError",
			message: fmt.Sprintf("Location %s:%s already exists", loc.Type, loc.Target)}
	}
	resp := createLocationResponse{Location: loc, Entities: make([]json.RawMessage, 0, len(ents))}
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

// GET /locations lists the registered locations, each wrapped as {data: location}.
func (h *httpAPI) listLocations(w http.ResponseWriter, r *http.Request, _ params) error {
	locs, err := h.c.ListLocations(r.Context())
	if err != nil {
		return err
	}
	out := make([]map[string]Location, 0, len(locs))
	for _, l := range locs {
		out = append(out, map[string]Location{"data": l})
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
	writeJSON(w, http.StatusOK, loc)
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
	writeJSON(w, http.StatusOK, loc)
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
	errs := h.c.model.Validate(e)
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
