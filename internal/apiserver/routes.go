package apiserver

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/kinds"
)

// readyTimeout bounds the store check behind /readyz, so a hung database makes the probe
// fail instead of hang.
const readyTimeout = 2 * time.Second

// routes registers every path. Object paths are parsed by hand below the group and version
// rather than as ServeMux patterns: "namespaces/{ns}/{plural}" and "{plural}/{name}/status"
// overlap (the built-in Namespace kind's plural is "namespaces"), which ServeMux refuses.
func (s *Server) routes() {
	s.mux.Handle("/apis", s.authenticate(http.HandlerFunc(s.serveDiscovery)))
	s.mux.Handle("/apis/{$}", s.authenticate(http.HandlerFunc(s.serveDiscovery)))
	s.mux.Handle("/apis/{group}/{version}", s.authenticate(http.HandlerFunc(s.serveDiscovery)))
	s.mux.Handle("/apis/{group}/{version}/{path...}", s.authenticate(http.HandlerFunc(s.serveResource)))
	s.mux.HandleFunc("/healthz", s.serveHealthz)
	s.mux.HandleFunc("/readyz", s.serveReadyz)
	s.mux.Handle("/metrics", promhttp.HandlerFor(s.opts.Registry, promhttp.HandlerOpts{}))
	s.mux.Handle("/", s.authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, api.NewError(api.ReasonNotFound, "no route for %s: the object API is under /apis", r.URL.Path))
	})))
}

// serveDiscovery answers GET /apis with every kind and GET /apis/{group}/{version} with
// that group-version's kinds.
func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	setInfoResource(r, "discovery")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.writeError(w, r, methodNotAllowed(w, []string{http.MethodGet}, "discovery"))
		return
	}
	group, version := r.PathValue("group"), r.PathValue("version")
	list := api.APIResourceList{APIVersion: "v1", Kind: "APIResourceList", Resources: []api.APIResource{}}
	for _, k := range s.store.Kinds().All() {
		if group != "" && (k.Group != group || k.Version != version) {
			continue
		}
		list.Resources = append(list.Resources, k.Describe())
	}
	if group != "" && len(list.Resources) == 0 {
		s.writeError(w, r, api.NewError(api.ReasonNotFound, "the server serves no kinds in %s: GET /apis lists them", api.JoinAPIVersion(group, version)))
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) serveHealthz(w http.ResponseWriter, r *http.Request) {
	setInfoResource(r, "healthz")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// serveReadyz reports whether the server should get traffic: not after Close, and only
// while the store answers.
func (s *Server) serveReadyz(w http.ResponseWriter, r *http.Request) {
	setInfoResource(r, "readyz")
	if s.ctx.Err() != nil {
		s.writeError(w, r, api.NewError(api.ReasonServiceUnavailable, "the server is shutting down"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	var err error
	if s.opts.Ready != nil {
		err = s.opts.Ready(ctx)
	} else {
		_, err = s.store.Revision(ctx)
	}
	if err != nil {
		s.log.WarnContext(r.Context(), "api: not ready", "err", err)
		s.writeError(w, r, api.NewError(api.ReasonServiceUnavailable, "not ready; the server log says why"))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// target is what an object path names.
type target struct {
	kind *kinds.Kind
	// namespace is the path's namespace; empty for cluster-scoped kinds and for a
	// namespaced kind read across all namespaces.
	namespace string
	// allNamespaces marks "/apis/{g}/{v}/{plural}" for a namespaced kind: GET only.
	allNamespaces bool
	// name is empty for a collection.
	name   string
	status bool
}

// resolve parses the part of an object path after /apis/{group}/{version}/.
//
//	{plural}                                   collection (cluster-scoped, or all namespaces)
//	{plural}/{name}[/status]                   cluster-scoped object
//	namespaces/{ns}/{plural}                   namespaced collection
//	namespaces/{ns}/{plural}/{name}[/status]   namespaced object
func (s *Server) resolve(group, version, path string) (target, error) {
	segs := strings.Split(path, "/")
	if n := len(segs); n > 1 && segs[n-1] == "" {
		segs = segs[:n-1] // tolerate one trailing slash
	}
	for _, seg := range segs {
		if seg == "" {
			return target{}, api.NewError(api.ReasonNotFound, "no route for /apis/%s/%s/%s", group, version, path)
		}
	}
	reg := s.store.Kinds()
	notFound := func() error {
		return api.NewError(api.ReasonNotFound, "no route for /apis/%s/%s/%s", group, version, path)
	}

	if len(segs) >= 3 && segs[0] == "namespaces" {
		// "namespaces/{name}/status" is the status of a cluster-scoped kind whose plural is
		// "namespaces", not a kind called "status".
		nsKind, isNsKind := reg.ByGVR(group, version, "namespaces")
		if !(len(segs) == 3 && segs[2] == "status" && isNsKind && !nsKind.Namespaced) {
			k, ok := reg.ByGVR(group, version, segs[2])
			if !ok {
				return target{}, unknownResource(group, version, segs[2])
			}
			if !k.Namespaced {
				return target{}, api.NewError(api.ReasonNotFound, "%s is cluster-scoped: its path is /apis/%s/%s/%s", k.Kind, group, version, k.Plural)
			}
			t := target{kind: k, namespace: segs[1]}
			switch rest := segs[3:]; {
			case len(rest) == 0:
			case len(rest) == 1:
				t.name = rest[0]
			case len(rest) == 2 && rest[1] == "status":
				t.name, t.status = rest[0], true
			default:
				return target{}, notFound()
			}
			return t, nil
		}
	}

	k, ok := reg.ByGVR(group, version, segs[0])
	if !ok {
		return target{}, unknownResource(group, version, segs[0])
	}
	t := target{kind: k}
	switch rest := segs[1:]; {
	case len(rest) == 0:
		t.allNamespaces = k.Namespaced
		return t, nil
	case len(rest) == 1:
		t.name = rest[0]
	case len(rest) == 2 && rest[1] == "status":
		t.name, t.status = rest[0], true
	default:
		return target{}, notFound()
	}
	if k.Namespaced {
		return target{}, api.NewError(api.ReasonNotFound, "%s is namespaced: its path is /apis/%s/%s/namespaces/{namespace}/%s/%s", k.Kind, group, version, k.Plural, t.name)
	}
	return t, nil
}
