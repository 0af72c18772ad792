package apiserver

import (
	"encoding/json"
	"net/http"
	"strconv"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/store"
)

// patchAttempts bounds how often a merge patch is re-applied after a concurrent write
// (as many as the store allows an unconditional update).
const patchAttempts = 16

// serveResource dispatches an object path by what it names and the method.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request) {
	t, err := s.resolve(r.PathValue("group"), r.PathValue("version"), r.PathValue("path"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	setInfoResource(r, t.kind.Resource())
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	if read {
		watch, err := watchRequested(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if watch && !t.status && r.Method == http.MethodGet {
			s.serveWatch(w, r, t)
			return
		}
	}

	var (
		obj  any
		code = http.StatusOK
	)
	switch {
	case t.name == "" && t.allNamespaces:
		if !read {
			err = methodNotAllowed(w, []string{http.MethodGet}, "the all-namespaces list of "+t.kind.Plural+" (create under namespaces/{namespace}/"+t.kind.Plural+")")
			break
		}
		obj, err = s.list(r, t)
	case t.name == "":
		switch {
		case read:
			obj, err = s.list(r, t)
		case r.Method == http.MethodPost:
			obj, err = s.create(w, r, t)
			code = http.StatusCreated
		default:
			err = methodNotAllowed(w, []string{http.MethodGet, http.MethodPost}, "a collection")
		}
	case t.status:
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			obj, err = s.store.Get(r.Context(), t.kind, t.namespace, t.name)
		case http.MethodPut:
			obj, err = s.update(w, r, t)
		case http.MethodPatch:
			obj, err = s.patch(w, r, t)
		default:
			err = methodNotAllowed(w, []string{http.MethodGet, http.MethodPut, http.MethodPatch}, "the status subresource")
		}
	default:
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			obj, err = s.store.Get(r.Context(), t.kind, t.namespace, t.name)
		case http.MethodPut:
			obj, err = s.update(w, r, t)
		case http.MethodPatch:
			obj, err = s.patch(w, r, t)
		case http.MethodDelete:
			obj, err = s.delete(w, r, t)
		default:
			err = methodNotAllowed(w, []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete}, "an object")
		}
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, code, obj)
}

func (s *Server) list(r *http.Request, t target) (*api.List, error) {
	q := r.URL.Query()
	opts := store.ListOptions{
		Namespace:     t.namespace,
		LabelSelector: q.Get("labelSelector"),
		FieldSelector: q.Get("fieldSelector"),
		Continue:      q.Get("continue"),
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return nil, badRequest("limit %q must be a non-negative integer", l)
		}
		opts.Limit = n
	}
	return s.store.List(r.Context(), t.kind, opts)
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, t target) (*api.Object, error) {
	obj, err := s.decodeObject(w, r)
	if err != nil {
		return nil, err
	}
	if err := checkBody(t, obj); err != nil {
		return nil, err
	}
	return s.store.Create(r.Context(), obj)
}

// update replaces an object (PUT), or only its status on the status subresource.
func (s *Server) update(w http.ResponseWriter, r *http.Request, t target) (*api.Object, error) {
	obj, err := s.decodeObject(w, r)
	if err != nil {
		return nil, err
	}
	if err := checkBody(t, obj); err != nil {
		return nil, err
	}
	if t.status {
		return s.store.UpdateStatus(r.Context(), obj)
	}
	return s.store.Update(r.Context(), obj)
}

// checkBody makes the body agree with the path: apiVersion, kind, namespace and name left
// empty are taken from the path; set, they must match it.
func checkBody(t target, obj *api.Object) error {
	k := t.kind
	if obj.APIVersion == "" {
		obj.APIVersion = k.APIVersion()
	}
	if obj.Kind == "" {
		obj.Kind = k.Kind
	}
	if obj.APIVersion != k.APIVersion() || obj.Kind != k.Kind {
		return badRequest("the body is a %s in %s, but the path is for %s in %s", obj.Kind, obj.APIVersion, k.Kind, k.APIVersion())
	}
	if k.Namespaced {
		switch obj.Metadata.Namespace {
		case "":
			obj.Metadata.Namespace = t.namespace
		case t.namespace:
		default:
			return badRequest("metadata.namespace %q does not match the namespace %q in the path", obj.Metadata.Namespace, t.namespace)
		}
	}
	if t.name != "" {
		switch obj.Metadata.Name {
		case "":
			obj.Metadata.Name = t.name
		case t.name:
		default:
			return badRequest("metadata.name %q does not match the name %q in the path", obj.Metadata.Name, t.name)
		}
	}
	return nil
}

// patch applies a JSON merge patch to the stored object and writes the result. Unless the
// patch names a resourceVersion or uid, a concurrent write makes it read and apply again,
// as a patch means "change these fields of whatever is there".
func (s *Server) patch(w http.ResponseWriter, r *http.Request, t target) (*api.Object, error) {
	p, err := s.readMergePatch(w, r)
	if err != nil {
		return nil, err
	}
	pinned := patchHasPreconditions(p)
	ctx := r.Context()
	for attempt := 1; ; attempt++ {
		cur, err := s.store.Get(ctx, t.kind, t.namespace, t.name)
		if err != nil {
			return nil, err
		}
		doc, err := json.Marshal(cur)
		if err != nil {
			return nil, errorf("encode %s %q for patching: %w", t.kind.Kind, t.name, err)
		}
		merged, err := jsonpatch.MergePatch(doc, p)
		if err != nil {
			return nil, badRequest("apply merge patch: %v", err)
		}
		obj, err := decodeObjectJSON(merged)
		if err != nil {
			return nil, err
		}
		if obj.APIVersion != cur.APIVersion || obj.Kind != cur.Kind {
			return nil, badRequest("a patch cannot change apiVersion or kind")
		}
		if obj.Metadata.Name != cur.Metadata.Name || obj.Metadata.Namespace != cur.Metadata.Namespace {
			return nil, badRequest("a patch cannot change metadata.name or metadata.namespace")
		}
		if !pinned {
			obj.Metadata.ResourceVersion = cur.Metadata.ResourceVersion
		}
		var out *api.Object
		if t.status {
			out, err = s.store.UpdateStatus(ctx, obj)
		} else {
			out, err = s.store.Update(ctx, obj)
		}
		if api.IsConflict(err) && !pinned && attempt < patchAttempts {
			continue
		}
		return out, err
	}
}

// patchHasPreconditions reports whether the patch sets metadata.resourceVersion or
// metadata.uid: either makes it conditional on the stored object, so a conflict is the
// answer rather than a reason to retry.
func patchHasPreconditions(p []byte) bool {
	var v struct {
		Metadata struct {
			ResourceVersion *string `json:"resourceVersion"`
			UID             *string `json:"uid"`
		} `json:"metadata"`
	}
	if json.Unmarshal(p, &v) != nil {
		return false
	}
	set := func(s *string) bool { return s != nil && *s != "" }
	return set(v.Metadata.ResourceVersion) || set(v.Metadata.UID)
}

// delete removes an object. Preconditions come from the query (?uid=, ?resourceVersion=)
// or from a DeleteOptions body; when both give one they must agree.
func (s *Server) delete(w http.ResponseWriter, r *http.Request, t target) (*api.Object, error) {
	body, err := s.readDeleteOptions(w, r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	opts := store.DeleteOptions{UID: q.Get("uid"), ResourceVersion: q.Get("resourceVersion")}
	if pc := body.Preconditions; pc != nil {
		if pc.UID != nil {
			if opts.UID != "" && opts.UID != *pc.UID {
				return nil, badRequest("the uid precondition in the query and in the body differ")
			}
			opts.UID = *pc.UID
		}
		if pc.ResourceVersion != nil {
			if opts.ResourceVersion != "" && opts.ResourceVersion != *pc.ResourceVersion {
				return nil, badRequest("the resourceVersion precondition in the query and in the body differ")
			}
			opts.ResourceVersion = *pc.ResourceVersion
		}
	}
	return s.store.Delete(r.Context(), t.kind, t.namespace, t.name, opts)
}
