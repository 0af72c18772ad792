package apiserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"

	yamlv2 "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"

	"github.com/paved-dev/paved/api"
)

// Media types the server reads.
const (
	mediaJSON       = "application/json"
	mediaYAML       = "application/yaml"
	mediaMergePatch = "application/merge-patch+json"
)

// readBody reads the whole request body, at most MaxBodyBytes of it.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := s.opts.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, api.NewError(api.ReasonTooLarge, "request body is %d bytes; at most %d are accepted", r.ContentLength, limit)
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	b, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, api.NewError(api.ReasonTooLarge, "request body is larger than %d bytes", limit)
		}
		return nil, badRequest("read request body: %v", err)
	}
	return b, nil
}

// mediaTypeOf returns the request's media type, lower-cased and without parameters.
// A charset other than UTF-8 is refused: JSON and YAML bodies are UTF-8 by definition.
func mediaTypeOf(r *http.Request) (string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "", nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", api.NewError(api.ReasonUnsupportedMedia, "Content-Type %q cannot be parsed: %v", ct, err)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return "", api.NewError(api.ReasonUnsupportedMedia, "charset %q is not supported: send UTF-8", cs)
	}
	return mt, nil
}

// decodeObject reads an object body, JSON by default or YAML when the Content-Type says so.
func (s *Server) decodeObject(w http.ResponseWriter, r *http.Request) (*api.Object, error) {
	mt, err := mediaTypeOf(r)
	if err != nil {
		return nil, err
	}
	yamlBody := false
	switch mt {
	case "", mediaJSON:
	case mediaYAML, "application/x-yaml", "text/yaml":
		yamlBody = true
	default:
		return nil, api.NewError(api.ReasonUnsupportedMedia, "Content-Type %q is not supported: send %s or %s", mt, mediaJSON, mediaYAML)
	}
	b, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	if yamlBody {
		if b, err = yamlToJSON(b); err != nil {
			return nil, err
		}
	}
	return decodeObjectJSON(b)
}

// yamlToJSON converts one YAML document to JSON. A body with several documents is refused
// rather than silently cut to its first.
func yamlToJSON(b []byte) ([]byte, error) {
	dec := yamlv2.NewDecoder(bytes.NewReader(b))
	docs := 0
	for {
		var v any
		err := dec.Decode(&v)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, badRequest("body is not valid YAML: %v", err)
		}
		if v != nil {
			docs++
		}
	}
	if docs > 1 {
		return nil, badRequest("body holds %d YAML documents; send one object per request", docs)
	}
	j, err := yaml.YAMLToJSONStrict(b)
	if err != nil {
		return nil, badRequest("body is not valid YAML: %v", err)
	}
	return j, nil
}

// fieldNames returns the JSON names of a struct's fields.
func fieldNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// envelopeFields are the names an object and its metadata may carry, taken from the api
// types so that a field added there is accepted here without a second edit.
var envelopeFields = sync.OnceValues(func() (top, meta []string) {
	return fieldNames(reflect.TypeFor[api.Object]()), fieldNames(reflect.TypeFor[api.ObjectMeta]())
})

// decodeObjectJSON decodes an object strictly: unknown or mis-cased fields in the envelope
// and metadata are refused by name (encoding/json would match "Kind" to kind and drop
// "specs" silently), and nothing may follow the object.
func decodeObjectJSON(b []byte) (*api.Object, error) {
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return nil, badRequest("request body is empty: send an object")
	}
	if t[0] != '{' {
		return nil, badRequest("request body must be a JSON object")
	}
	top, meta := envelopeFields()
	var fields map[string]json.RawMessage
	fd := json.NewDecoder(bytes.NewReader(t))
	if err := fd.Decode(&fields); err != nil {
		return nil, badRequest("body is not valid JSON: %v", err)
	}
	if _, err := fd.Token(); err != io.EOF {
		return nil, badRequest("body holds data after the object; send one object per request")
	}
	if err := checkFields(fields, top, ""); err != nil {
		return nil, err
	}
	if m := bytes.TrimSpace(fields["metadata"]); len(m) > 0 && m[0] == '{' {
		var mf map[string]json.RawMessage
		if err := json.Unmarshal(m, &mf); err != nil {
			return nil, badRequest("metadata is not valid JSON: %v", err)
		}
		if err := checkFields(mf, meta, "metadata."); err != nil {
			return nil, err
		}
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.DisallowUnknownFields()
	var obj api.Object
	if err := dec.Decode(&obj); err != nil {
		return nil, badRequest("body is not a valid object: %v", err)
	}
	return &obj, nil
}

func checkFields(fields map[string]json.RawMessage, allowed []string, prefix string) error {
	var unknown []string
	for k := range fields {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, prefix+k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	where := "an object has only " + strings.Join(allowed, ", ")
	if prefix != "" {
		where = "metadata has only " + strings.Join(allowed, ", ")
	}
	cs := make([]api.StatusCause, len(unknown))
	for i, f := range unknown {
		cs[i] = api.StatusCause{Type: "FieldValueNotSupported", Field: f, Message: "unknown field"}
	}
	st := badRequest("unknown field %s: %s", quoteAll(unknown), where).(*api.Status)
	st.Details = &api.StatusDetails{Causes: cs}
	return st
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// readMergePatch reads a JSON merge patch (RFC 7386). application/json is taken as a
// merge patch too, the way kubectl's --type merge users expect.
func (s *Server) readMergePatch(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	mt, err := mediaTypeOf(r)
	if err != nil {
		return nil, err
	}
	switch mt {
	case mediaMergePatch, mediaJSON:
	case "":
		return nil, api.NewError(api.ReasonUnsupportedMedia, "PATCH needs a Content-Type: send %s", mediaMergePatch)
	default:
		return nil, api.NewError(api.ReasonUnsupportedMedia, "patch type %q is not supported: send a JSON merge patch as %s", mt, mediaMergePatch)
	}
	b, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return nil, badRequest("request body is empty: send a merge patch")
	}
	if !json.Valid(t) {
		var v any
		err := json.Unmarshal(t, &v)
		return nil, badRequest("merge patch is not valid JSON: %v", err)
	}
	if t[0] != '{' {
		return nil, badRequest("a merge patch must be a JSON object")
	}
	return t, nil
}

// deleteOptions is the optional body of a DELETE, shaped like Kubernetes' DeleteOptions.
type deleteOptions struct {
	APIVersion    string `json:"apiVersion,omitempty"`
	Kind          string `json:"kind,omitempty"`
	Preconditions *struct {
		UID             *string `json:"uid,omitempty"`
		ResourceVersion *string `json:"resourceVersion,omitempty"`
	} `json:"preconditions,omitempty"`
	PropagationPolicy  string   `json:"propagationPolicy,omitempty"`
	GracePeriodSeconds *int64   `json:"gracePeriodSeconds,omitempty"`
	DryRun             []string `json:"dryRun,omitempty"`
}

// readDeleteOptions reads the DELETE body, if any.
func (s *Server) readDeleteOptions(w http.ResponseWriter, r *http.Request) (*deleteOptions, error) {
	b, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	var opts deleteOptions
	if len(bytes.TrimSpace(b)) == 0 {
		return &opts, nil
	}
	mt, err := mediaTypeOf(r)
	if err != nil {
		return nil, err
	}
	if mt != "" && mt != mediaJSON {
		return nil, api.NewError(api.ReasonUnsupportedMedia, "Content-Type %q is not supported for delete options: send %s", mt, mediaJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&opts); err != nil {
		return nil, badRequest("delete options are not valid: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("body holds data after the delete options")
	}
	if opts.Kind != "" && opts.Kind != "DeleteOptions" {
		return nil, badRequest("delete body is a %q; send DeleteOptions", opts.Kind)
	}
	if len(opts.DryRun) > 0 {
		return nil, badRequest("dryRun is not supported")
	}
	switch opts.PropagationPolicy {
	case "", "Background":
	default:
		// Dependents are always collected in the background; pretending to honour
		// Orphan or Foreground would delete what the caller meant to keep or wait for.
		return nil, badRequest("propagationPolicy %q is not supported: dependents are deleted in the background", opts.PropagationPolicy)
	}
	return &opts, nil
}
