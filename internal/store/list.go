package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/kinds"
)

// ListOptions select and page a list.
type ListOptions struct {
	// Namespace limits a namespaced kind to one namespace; empty means all namespaces.
	Namespace string
	// LabelSelector in Kubernetes syntax: "app=web,tier in (a,b),!legacy".
	LabelSelector string
	// FieldSelector supports metadata.name and metadata.namespace with = and ==.
	FieldSelector string
	// Limit is the page size; 0 means everything.
	Limit int
	// Continue is the token from the previous page. Pages after the first are read at the
	// current revision; every page reports the first page's resourceVersion.
	Continue string
}

// MaxListLimit caps one page when a limit is given. A list without a limit returns
// everything, as Kubernetes does; clients that may meet large kinds should page.
const MaxListLimit = 10000

type continueToken struct {
	Rev       int64  `json:"rv"`
	Namespace string `json:"ns"`
	Name      string `json:"n"`
}

// ParseLabelSelector turns a Kubernetes label selector into backend requirements.
func ParseLabelSelector(sel string) ([]LabelRequirement, error) {
	if strings.TrimSpace(sel) == "" {
		return nil, nil
	}
	reqs, err := labels.ParseToRequirements(sel)
	if err != nil {
		return nil, api.NewBadRequest("invalid label selector %q: %v", trunc(sel), err)
	}
	out := make([]LabelRequirement, 0, len(reqs))
	for _, r := range reqs {
		lr := LabelRequirement{Key: r.Key(), Values: r.ValuesUnsorted()}
		switch r.Operator() {
		case selection.Equals, selection.DoubleEquals:
			lr.Op = LabelEquals
		case selection.NotEquals:
			lr.Op = LabelNotEquals
		case selection.In:
			lr.Op = LabelIn
		case selection.NotIn:
			lr.Op = LabelNotIn
		case selection.Exists:
			lr.Op = LabelExists
		case selection.DoesNotExist:
			lr.Op = LabelNotExists
		default:
			return nil, api.NewBadRequest("invalid label selector %q: operator %q is not supported", trunc(sel), r.Operator())
		}
		out = append(out, lr)
	}
	return out, nil
}

// MatchLabels reports whether lbls satisfy every requirement.
func MatchLabels(reqs []LabelRequirement, lbls map[string]string) bool {
	for _, r := range reqs {
		v, ok := lbls[r.Key]
		switch r.Op {
		case LabelEquals, LabelIn:
			if !ok || !contains(r.Values, v) {
				return false
			}
		case LabelNotEquals, LabelNotIn:
			if ok && contains(r.Values, v) {
				return false
			}
		case LabelExists:
			if !ok {
				return false
			}
		case LabelNotExists:
			if ok {
				return false
			}
		}
	}
	return true
}

func contains(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// parseFieldSelector supports equality on metadata.name and metadata.namespace.
func parseFieldSelector(sel string) (name, namespace string, err error) {
	if strings.TrimSpace(sel) == "" {
		return "", "", nil
	}
	fs, err := fields.ParseSelector(sel)
	if err != nil {
		return "", "", api.NewBadRequest("invalid field selector %q: %v", trunc(sel), err)
	}
	for _, r := range fs.Requirements() {
		if r.Operator != selection.Equals && r.Operator != selection.DoubleEquals {
			return "", "", api.NewBadRequest("invalid field selector %q: only = and == are supported", trunc(sel))
		}
		switch r.Field {
		case "metadata.name":
			name = r.Value
		case "metadata.namespace":
			namespace = r.Value
		default:
			return "", "", api.NewBadRequest("invalid field selector %q: field %q is not supported (use metadata.name or metadata.namespace)", trunc(sel), r.Field)
		}
	}
	return name, namespace, nil
}

// List returns the objects of kind k that match opts, in (namespace, name) order. The
// list's resourceVersion is the revision to start a watch from so that no write is missed.
func (s *Store) List(ctx context.Context, k *kinds.Kind, opts ListOptions) (*api.List, error) {
	reqs, err := ParseLabelSelector(opts.LabelSelector)
	if err != nil {
		return nil, err
	}
	name, ns, err := parseFieldSelector(opts.FieldSelector)
	if err != nil {
		return nil, err
	}
	if opts.Namespace != "" {
		if ns != "" && ns != opts.Namespace {
			return s.emptyList(ctx, k)
		}
		ns = opts.Namespace
	}
	if !k.Namespaced {
		if ns != "" {
			return s.emptyList(ctx, k) // cluster-scoped objects have no namespace to match
		}
		ns = ""
	}
	if opts.Limit < 0 {
		return nil, api.NewBadRequest("limit must not be negative")
	}
	limit := opts.Limit
	if limit > MaxListLimit {
		limit = MaxListLimit
	}
	q := Query{Resource: k.Resource(), Namespace: ns, Name: name, Labels: reqs, Limit: limit}
	if opts.Continue != "" {
		tok, err := decodeContinue(opts.Continue)
		if err != nil {
			return nil, err
		}
		q.AfterNamespace, q.AfterName = tok.Namespace, tok.Name
	}
	recs, rev, more, err := s.be.List(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", k.Plural, err)
	}
	out := &api.List{APIVersion: k.APIVersion(), Kind: k.Kind + "List", Items: make([]api.Object, 0, len(recs))}
	// Later pages are read at the current revision, not the first page's: every page reports
	// the first page's revision, so a watch from it may repeat changes but never misses one.
	if q.AfterName != "" {
		tok, _ := decodeContinue(opts.Continue)
		rev = tok.Rev
	}
	out.Metadata.ResourceVersion = strconv.FormatInt(rev, 10)
	for _, r := range recs {
		obj, err := Decode(r)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, *obj)
	}
	if more && len(recs) > 0 {
		last := recs[len(recs)-1]
		out.Metadata.Continue = encodeContinue(continueToken{Rev: rev, Namespace: last.Namespace, Name: last.Name})
	}
	return out, nil
}

// emptyList is the answer to a list that cannot match, with the revision to watch from.
func (s *Store) emptyList(ctx context.Context, k *kinds.Kind) (*api.List, error) {
	rev, err := s.Revision(ctx)
	if err != nil {
		return nil, err
	}
	l := &api.List{APIVersion: k.APIVersion(), Kind: k.Kind + "List", Items: []api.Object{}}
	l.Metadata.ResourceVersion = strconv.FormatInt(rev, 10)
	return l, nil
}

// ListOwnedBy returns every object, of any kind, that names uid among its owners.
func (s *Store) ListOwnedBy(ctx context.Context, uid string) ([]*api.Object, error) {
	recs, _, _, err := s.be.List(ctx, Query{OwnerUID: uid})
	if err != nil {
		return nil, fmt.Errorf("list dependents of %s: %w", uid, err)
	}
	out := make([]*api.Object, 0, len(recs))
	for _, r := range recs {
		obj, err := Decode(r)
		if err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
	return out, nil
}

// Count returns the number of objects of kind k (in namespace, if given).
func (s *Store) Count(ctx context.Context, k *kinds.Kind, namespace string) (int64, error) {
	return s.be.Count(ctx, k.Resource(), namespace)
}

func encodeContinue(t continueToken) string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(s string) (continueToken, error) {
	var t continueToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 1024 {
		return t, api.NewBadRequest("invalid continue token: it must be the metadata.continue of a previous list")
	}
	if err := json.Unmarshal(b, &t); err != nil || t.Rev <= 0 || t.Name == "" {
		return t, api.NewBadRequest("invalid continue token: it must be the metadata.continue of a previous list")
	}
	return t, nil
}
