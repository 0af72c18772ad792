package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/client"
)

// target is a kind and, optionally, names of its objects, as typed on the command line.
type target struct {
	res   api.APIResource
	names []string
}

// parseTargets reads the "KIND [NAME...]" or "KIND/NAME [KIND/NAME...]" forms kubectl
// accepts, resolving each kind through discovery. Consecutive names of one kind are
// grouped so that output stays in the order typed.
func parseTargets(ctx context.Context, c *client.Client, args []string) ([]target, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("name a kind: `paved api-resources` lists them")
	}
	if !strings.Contains(args[0], "/") {
		res, err := c.ResolveKind(ctx, args[0])
		if err != nil {
			return nil, err
		}
		for _, a := range args[1:] {
			if strings.Contains(a, "/") {
				return nil, fmt.Errorf("%q: use either KIND NAME... or KIND/NAME..., not both", a)
			}
		}
		return []target{{res: res, names: args[1:]}}, nil
	}
	var out []target
	for _, a := range args {
		kind, name, ok := strings.Cut(a, "/")
		if !ok || kind == "" || name == "" {
			return nil, fmt.Errorf("%q: expected KIND/NAME", a)
		}
		res, err := c.ResolveKind(ctx, kind)
		if err != nil {
			return nil, err
		}
		if n := len(out); n > 0 && out[n-1].res.Kind == res.Kind && out[n-1].res.Group == res.Group {
			out[n-1].names = append(out[n-1].names, name)
			continue
		}
		out = append(out, target{res: res, names: []string{name}})
	}
	return out, nil
}

// objectNamespace is the namespace to address an object of r in: ns for namespaced kinds,
// nothing for cluster-scoped ones.
func objectNamespace(r api.APIResource, ns string) string {
	if r.Namespaced {
		return ns
	}
	return ""
}
