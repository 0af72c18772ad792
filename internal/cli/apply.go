package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/spf13/cobra"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/client"
)

// applyRetries bounds how often apply re-reads an object that changed under it.
const applyRetries = 5

func newApplyCommand(g *globals) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|- [-f ...]",
		Short: "Create or update objects from YAML or JSON files",
		Long: `Create or update objects from YAML or JSON files.

Each -f names a file, a directory (its *.yaml, *.yml and *.json files, recursively, in
name order, hidden entries skipped) or "-" for standard input. A file may hold several
YAML documents separated by "---". An object that exists is updated when its labels,
annotations or spec differ; status in the files is ignored. A document that fails does
not stop the others; the command exits non-zero if any failed.`,
		Example: `  paved apply -f environments.yaml
  paved apply -f platform/ -n team-a
  cat env.json | paved apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runApply(cmd, g, files)
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "file, directory or - for stdin (repeatable)")
	_ = cmd.MarkFlagRequired("filename")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
	return cmd
}

func runApply(cmd *cobra.Command, g *globals, files []string) error {
	ctx := cmd.Context()
	ms, err := readManifests(files, cmd.InOrStdin())
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		return fmt.Errorf("no objects found in %v", files)
	}
	c, err := g.Client()
	if err != nil {
		return err
	}
	// One failure to reach the server is reported once, not once per document.
	if _, err := c.Kinds(ctx); err != nil {
		return err
	}
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	failed := 0
	for _, m := range ms {
		if m.Err == nil {
			var ref, result string
			ref, result, m.Err = applyOne(ctx, c, g, m.Object)
			if m.Err == nil {
				fmt.Fprintf(out, "%s %s\n", ref, result)
				continue
			}
		}
		failed++
		fmt.Fprintf(errOut, "error: %s: %s\n", m.where(), errorMessage(m.Err))
	}
	if failed > 0 {
		return &exitError{code: 1}
	}
	return nil
}

// applyOne creates obj or brings the stored object's labels, annotations and spec in line
// with it. It reports the object's name and "created", "configured" or "unchanged".
func applyOne(ctx context.Context, c *client.Client, g *globals, obj *api.Object) (ref, result string, err error) {
	res, err := c.ResourceFor(ctx, obj.APIVersion, obj.Kind)
	if err != nil {
		return "", "", err
	}
	m := &obj.Metadata
	if m.Name == "" {
		return "", "", fmt.Errorf("%s: metadata.name is required (apply needs a fixed name to find the object again)", obj.Kind)
	}
	ref = refName(res, m.Name)
	if res.Namespaced {
		switch {
		case m.Namespace == "":
			m.Namespace = g.ns()
		case g.namespace != "" && g.namespace != m.Namespace:
			return ref, "", fmt.Errorf("%s: the file says namespace %q but -n says %q", ref, m.Namespace, g.namespace)
		}
	} else {
		// Kubernetes ignores a namespace on a cluster-scoped object; so does apply.
		m.Namespace = ""
	}
	// The server owns these; a file copied from `get -o yaml` carries them.
	obj.Status = nil
	m.ResourceVersion, m.UID, m.Generation = "", "", 0
	m.CreationTimestamp, m.DeletionTimestamp = nil, nil

	for attempt := 0; ; attempt++ {
		cur, err := c.Get(ctx, res, m.Namespace, m.Name)
		if api.IsNotFound(err) {
			_, err = c.Create(ctx, obj)
			if api.IsAlreadyExists(err) && attempt < applyRetries {
				continue // created concurrently: update it instead
			}
			if err != nil {
				return ref, "", err
			}
			return ref, "created", nil
		}
		if err != nil {
			return ref, "", err
		}
		if sameDesired(cur, obj) {
			return ref, "unchanged", nil
		}
		next := cur.DeepCopy()
		next.Metadata.Labels = m.Labels
		next.Metadata.Annotations = m.Annotations
		next.Spec = obj.Spec
		// Controllers add finalizers and owners; keep theirs unless the file says otherwise.
		if m.Finalizers != nil {
			next.Metadata.Finalizers = m.Finalizers
		}
		if m.OwnerReferences != nil {
			next.Metadata.OwnerReferences = m.OwnerReferences
		}
		next.Status = nil
		_, err = c.Update(ctx, next)
		if api.IsConflict(err) && attempt < applyRetries {
			continue
		}
		if err != nil {
			return ref, "", err
		}
		return ref, "configured", nil
	}
}

// sameDesired reports whether applying want would change nothing in cur: equal labels,
// annotations and spec, and the finalizers and owners want names, if any.
func sameDesired(cur, want *api.Object) bool {
	if !sameMap(cur.Metadata.Labels, want.Metadata.Labels) || !sameMap(cur.Metadata.Annotations, want.Metadata.Annotations) {
		return false
	}
	if want.Metadata.Finalizers != nil && !reflect.DeepEqual(cur.Metadata.Finalizers, want.Metadata.Finalizers) {
		return false
	}
	if want.Metadata.OwnerReferences != nil && !reflect.DeepEqual(cur.Metadata.OwnerReferences, want.Metadata.OwnerReferences) {
		return false
	}
	return sameJSON(cur.Spec, want.Spec)
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// sameJSON compares two JSON documents by value, so that key order and spacing (the
// server stores compact JSON) do not count; absent, null and {} are all "no spec".
func sameJSON(a, b json.RawMessage) bool {
	va, errA := decodeJSONValue(a)
	vb, errB := decodeJSONValue(b)
	if errA != nil || errB != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(va, vb)
}

func decodeJSONValue(b json.RawMessage) (any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if v == nil {
		return map[string]any{}, nil
	}
	return normalizeNumbers(v), nil
}

// normalizeNumbers makes 1 and 1.0 compare equal, as they are the same JSON number.
func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeNumbers(e)
		}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil {
			if f == float64(int64(f)) {
				return int64(f)
			}
			return f
		}
	}
	return v
}
