package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/paved-dev/paved/api"
)

// APIPrefix is where the Backstage catalog API is served: Backstage's backend.baseUrl plus
// /api/catalog, so a CatalogClient whose discovery answers <server>/api/catalog works
// unchanged.
const APIPrefix = "/api/catalog"

// maxAPIBodyBytes caps a request body of the catalog API. Backstage's own limit is lower
// (express.json's 100 kB, which is why CatalogClient splits getEntitiesByRefs into
// chunks of about 90 kB); an entity sent to /validate-entity may carry an inline API
// definition, so this is generous.
const maxAPIBodyBytes = 4 << 20

// Handler returns the Backstage catalog REST API: the paths under /api/catalog/ that
// Backstage's catalog backend serves (entities, by-query, by-uid, by-name, ancestry,
// by-refs, entity-facets, locations, locations/by-query, analyze-location, refresh,
// validate-entity; the POST variants take filter predicates), with its parameters,
// answers and error shape. Mount it with apiserver's Server.Handle("/api/catalog/", h),
// which puts authentication in front: reads follow the server's anonymous-read setting,
// writes need a token. The handler also works mounted with the prefix stripped.
func (c *Catalog) Handler() http.Handler {
	h := &httpAPI{c: c, log: c.log, maxBody: maxAPIBodyBytes}
	h.table = h.routes()
	return h
}

type httpAPI struct {
	c       *Catalog
	log     *slog.Logger
	maxBody int64
	table   []route
}

// route is one path pattern of the API: literal segments, or ":name" for a parameter.
type route struct {
	pattern string
	methods map[string]func(w http.ResponseWriter, r *http.Request, p params) error
}

type params map[string]string

func (h *httpAPI) routes() []route {
	return []route{
		{"entities", handlers{http.MethodGet: h.getEntities}},
		{"entities/by-query", handlers{http.MethodGet: h.queryEntities, http.MethodPost: h.queryEntitiesByPredicate}},
		{"entities/by-uid/:uid", handlers{http.MethodGet: h.getEntityByUID, http.MethodDelete: h.deleteEntityByUID}},
		{"entities/by-name/:kind/:namespace/:name", handlers{http.MethodGet: h.getEntityByName}},
		{"entities/by-name/:kind/:namespace/:name/ancestry", handlers{http.MethodGet: h.getAncestry}},
		{"entities/by-refs", handlers{http.MethodPost: h.getEntitiesByRefs}},
		{"entity-facets", handlers{http.MethodGet: h.getFacets, http.MethodPost: h.getFacetsByPredicate}},
		{"locations", handlers{http.MethodGet: h.listLocations, http.MethodPost: h.createLocation}},
		// Before locations/:id, which also matches it (GET falls through to that).
		{"locations/by-query", handlers{http.MethodPost: h.queryLocations}},
		{"locations/:id", handlers{http.MethodGet: h.getLocation, http.MethodPut: h.updateLocation, http.MethodDelete: h.deleteLocation}},
		{"locations/by-entity/:kind/:namespace/:name", handlers{http.MethodGet: h.getLocationByEntity}},
		{"refresh", handlers{http.MethodPost: h.refresh}},
		{"validate-entity", handlers{http.MethodPost: h.validateEntity}},
		{"analyze-location", handlers{http.MethodPost: h.analyzeLocation}},
	}
}

type handlers = map[string]func(w http.ResponseWriter, r *http.Request, p params) error

func (h *httpAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	segs, ok := pathSegments(r.URL)
	if !ok {
		h.writeError(w, r, notFoundf("malformed path %s", r.URL.EscapedPath()))
		return
	}
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet // net/http drops the body
	}
	// As in express, a path that a route matches but whose method it does not take may
	// still be served by a later route (GET /locations/by-query is GET /locations/:id).
	var matched *route
	var allowed []string
	for i := range h.table {
		rt := &h.table[i]
		p, ok := match(rt.pattern, segs)
		if !ok {
			continue
		}
		fn, ok := rt.methods[method]
		if !ok {
			if matched == nil {
				matched = rt
			}
			for m := range rt.methods {
				if !slices.Contains(allowed, m) {
					allowed = append(allowed, m)
				}
			}
			continue
		}
		if err := fn(w, r, p); err != nil {
			h.writeError(w, r, err)
		}
		return
	}
	if matched != nil {
		slices.Sort(allowed)
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		h.writeError(w, r, &apiError{status: http.StatusMethodNotAllowed, name: "MethodNotAllowedError",
			message: fmt.Sprintf("%s does not support %s", APIPrefix+"/"+matched.pattern, r.Method)})
		return
	}
	h.writeError(w, r, notFoundf("no catalog API at %s", r.URL.Path))
}

// pathSegments returns the path below the API prefix, split at slashes and unescaped
// segment by segment (so an escaped slash stays inside its segment). One trailing slash
// is tolerated, as express does.
func pathSegments(u *url.URL) ([]string, bool) {
	p := u.EscapedPath()
	if rest, ok := strings.CutPrefix(p, APIPrefix); ok && (rest == "" || rest[0] == '/') {
		p = rest
	}
	p = strings.TrimPrefix(p, "/")
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return nil, true
	}
	raw := strings.Split(p, "/")
	segs := make([]string, len(raw))
	for i, s := range raw {
		v, err := url.PathUnescape(s)
		if err != nil {
			return nil, false
		}
		segs[i] = v
	}
	return segs, true
}

func match(pattern string, segs []string) (params, bool) {
	parts := strings.Split(pattern, "/")
	if len(parts) != len(segs) {
		return nil, false
	}
	var p params
	for i, part := range parts {
		if name, ok := strings.CutPrefix(part, ":"); ok {
			if segs[i] == "" {
				return nil, false
			}
			if p == nil {
				p = params{}
			}
			p[name] = segs[i]
			continue
		}
		if part != segs[i] {
			return nil, false
		}
	}
	return p, true
}

// apiError is an error answer in Backstage's shape: error.name is one of
// @backstage/errors' names (InputError, NotFoundError, ConflictError, ...).
type apiError struct {
	status  int
	name    string
	message string
}

func (e *apiError) Error() string { return e.message }

func inputErrorf(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, name: "InputError", message: fmt.Sprintf(format, args...)}
}

func notFoundf(format string, args ...any) error {
	return &apiError{status: http.StatusNotFound, name: "NotFoundError", message: fmt.Sprintf(format, args...)}
}

// errorBody is Backstage's error response (ErrorResponseBody of @backstage/errors).
type errorBody struct {
	Error    errorDetail  `json:"error"`
	Request  errorRequest `json:"request"`
	Response struct {
		StatusCode int `json:"statusCode"`
	} `json:"response"`
}

type errorDetail struct {
	Name    string `json:"name"`
	Message string `json:"message"`
}

type errorRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

// classify maps any error to Backstage's status code and error name. Errors that are not
// the catalog's or the store's own are internal: the client gets a generic message and
// the log gets the detail.
func (h *httpAPI) classify(r *http.Request, err error) (int, string, string) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status, ae.name, ae.message
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, "PayloadTooLargeError",
			fmt.Sprintf("request entity too large: the body is limited to %d bytes", mbe.Limit)
	}
	var st *api.Status
	if errors.As(err, &st) {
		switch st.Reason {
		case api.ReasonNotFound:
			return http.StatusNotFound, "NotFoundError", st.Message
		case api.ReasonAlreadyExists, api.ReasonConflict:
			return http.StatusConflict, "ConflictError", st.Message
		case api.ReasonBadRequest, api.ReasonInvalid:
			return http.StatusBadRequest, "InputError", st.Message
		case api.ReasonTooLarge:
			return http.StatusRequestEntityTooLarge, "PayloadTooLargeError", st.Message
		case api.ReasonUnauthorized:
			return http.StatusUnauthorized, "AuthenticationError", st.Message
		case api.ReasonForbidden:
			return http.StatusForbidden, "NotAllowedError", st.Message
		case api.ReasonServiceUnavailable:
			return http.StatusServiceUnavailable, "ServiceUnavailableError", st.Message
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return http.StatusServiceUnavailable, "ServiceUnavailableError", "the catalog did not answer in time; retry"
	}
	h.log.ErrorContext(r.Context(), "catalog api: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	return http.StatusInternalServerError, "Error", "internal error; the server log has the details"
}

func (h *httpAPI) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, name, msg := h.classify(r, err)
	var b errorBody
	b.Error = errorDetail{Name: name, Message: msg}
	// Backstage reports the URL as its router saw it: below the plugin's base path.
	u := strings.TrimPrefix(r.URL.Path, APIPrefix)
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	b.Request = errorRequest{Method: r.Method, URL: u}
	b.Response.StatusCode = code
	writeJSON(w, code, b)
}

// writeJSON writes v as express's res.json does. A failed write means the client left.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"error":{"name":"Error","message":"encode response failed"},"response":{"statusCode":500}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// marshal encodes without HTML escaping (entity text often holds <, > and &).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// readJSONBody decodes a JSON object body into out. Like Backstage, it wants an
// application/json body; the size is capped.
func (h *httpAPI) readJSONBody(w http.ResponseWriter, r *http.Request, out any) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return inputErrorf("Content-Type missing: send the body as application/json")
	}
	mt, ps, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return inputErrorf("Illegal Content-Type %q: send the body as application/json", ct)
	}
	if cs, ok := ps["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return inputErrorf("Illegal Content-Type charset %q: only utf-8 is accepted", cs)
	}
	if r.ContentLength > h.maxBody {
		return &http.MaxBytesError{Limit: h.maxBody}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return inputErrorf("could not read the request body: %v", err)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return inputErrorf("Missing request body")
	}
	if trimmed[0] != '{' {
		return inputErrorf("Expected body to be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return inputErrorf("Malformed request body: %v", err)
	}
	if dec.More() {
		return inputErrorf("Malformed request body: unexpected data after the JSON object")
	}
	return nil
}

// readOptionalJSONBody is readJSONBody for endpoints whose body may be left out (Backstage
// then sees an empty object): a request without a body leaves out untouched.
func (h *httpAPI) readOptionalJSONBody(w http.ResponseWriter, r *http.Request, out any) error {
	if r.ContentLength == 0 && len(r.TransferEncoding) == 0 {
		return nil
	}
	return h.readJSONBody(w, r, out)
}
