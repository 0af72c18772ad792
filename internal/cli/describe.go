package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/client"
)

// maxDescribeEvents bounds the events describe shows; the newest are kept.
const maxDescribeEvents = 20

func newDescribeCommand(g *globals) *cobra.Command {
	var selector string
	cmd := &cobra.Command{
		Use:   "describe KIND [NAME...] | KIND/NAME...",
		Short: "Show objects in detail, with their conditions and recent events",
		Long: `Show objects in detail: metadata, spec, status conditions and the recent events about
them. Without a name, every object of the kind in the namespace is described.`,
		Example: `  paved describe environment dev
  paved describe env/dev`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeKindsAndNames(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDescribe(cmd, g, selector, args)
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "describe the objects of KIND with matching labels")
	return cmd
}

func runDescribe(cmd *cobra.Command, g *globals, selector string, args []string) error {
	ctx := cmd.Context()
	c, err := g.Client()
	if err != nil {
		return err
	}
	targets, err := parseTargets(ctx, c, args)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	var errs []error
	first := true
	for _, t := range targets {
		ns := objectNamespace(t.res, g.ns())
		var objs []api.Object
		if len(t.names) == 0 {
			l, err := c.ListAll(ctx, t.res, client.ListOptions{Namespace: ns, LabelSelector: selector, Limit: listPageSize})
			if err != nil {
				return err
			}
			if len(l.Items) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), noResources(t.res, ns))
			}
			objs = l.Items
		}
		for _, n := range t.names {
			o, err := c.Get(ctx, t.res, ns, n)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			objs = append(objs, *o)
		}
		for i := range objs {
			if !first {
				fmt.Fprintln(out)
			}
			first = false
			events, err := eventsFor(ctx, c, &objs[i])
			if err != nil {
				// The object is still worth showing; say why its events are missing.
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: cannot list events: %v\n", err)
			}
			if err := describeObject(out, t.res, &objs[i], events, g.now()); err != nil {
				return err
			}
		}
	}
	return errors.Join(errs...)
}

// eventSpec is the part of an Event's spec describe reads.
type eventSpec struct {
	Type           string     `json:"type"`
	Reason         string     `json:"reason"`
	Message        string     `json:"message"`
	Count          int        `json:"count"`
	Source         string     `json:"source"`
	FirstTimestamp *time.Time `json:"firstTimestamp"`
	LastTimestamp  *time.Time `json:"lastTimestamp"`
	InvolvedObject struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Namespace  string `json:"namespace"`
		Name       string `json:"name"`
		UID        string `json:"uid"`
	} `json:"involvedObject"`
}

type event struct {
	spec    eventSpec
	created *time.Time
}

func (e event) last() *time.Time {
	switch {
	case e.spec.LastTimestamp != nil:
		return e.spec.LastTimestamp
	case e.spec.FirstTimestamp != nil:
		return e.spec.FirstTimestamp
	}
	return e.created
}

func (e event) first() *time.Time {
	if e.spec.FirstTimestamp != nil {
		return e.spec.FirstTimestamp
	}
	return e.created
}

// eventsFor lists the Events about obj, oldest first: in its namespace, or in every
// namespace for a cluster-scoped object. A server without the Event kind has none.
func eventsFor(ctx context.Context, c *client.Client, obj *api.Object) ([]event, error) {
	res, err := c.ResourceFor(ctx, "paved.dev/v1", "Event")
	if err != nil {
		return nil, nil
	}
	l, err := c.ListAll(ctx, res, client.ListOptions{Namespace: obj.Metadata.Namespace, Limit: listPageSize})
	if err != nil {
		return nil, err
	}
	var out []event
	for i := range l.Items {
		var s eventSpec
		if json.Unmarshal(l.Items[i].Spec, &s) != nil || !involves(s, obj) {
			continue
		}
		out = append(out, event{spec: s, created: l.Items[i].Metadata.CreationTimestamp})
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].last(), out[j].last()
		return a != nil && b != nil && a.Before(*b)
	})
	if len(out) > maxDescribeEvents {
		out = out[len(out)-maxDescribeEvents:]
	}
	return out, nil
}

// involves reports whether an event is about obj. Fields the event leaves empty match.
func involves(s eventSpec, obj *api.Object) bool {
	ref := s.InvolvedObject
	if ref.Kind != obj.Kind || ref.Name != obj.Metadata.Name {
		return false
	}
	if ref.Namespace != "" && ref.Namespace != obj.Metadata.Namespace {
		return false
	}
	if ref.UID != "" && obj.Metadata.UID != "" && ref.UID != obj.Metadata.UID {
		return false
	}
	if ref.APIVersion != "" {
		g, _ := api.SplitAPIVersion(ref.APIVersion)
		if g != obj.Group() {
			return false
		}
	}
	return true
}

// describeObject writes the human view of one object.
func describeObject(w io.Writer, r api.APIResource, o *api.Object, events []event, now time.Time) error {
	tw := newTabWriter(w)
	m := o.Metadata
	field := func(label string, lines ...string) {
		if len(lines) == 0 {
			lines = []string{"<none>"}
		}
		for i, l := range lines {
			if i == 0 {
				fmt.Fprintf(tw, "%s:\t%s\n", label, sanitizeCell(l))
			} else {
				fmt.Fprintf(tw, "\t%s\n", sanitizeCell(l))
			}
		}
	}
	field("Name", m.Name)
	if r.Namespaced {
		field("Namespace", m.Namespace)
	}
	field("Kind", o.Kind)
	field("API Version", o.APIVersion)
	field("Labels", sortedKV(m.Labels)...)
	field("Annotations", sortedKV(m.Annotations)...)
	field("Created", timestamp(m.CreationTimestamp, now))
	if m.DeletionTimestamp != nil {
		field("Deleting Since", timestamp(m.DeletionTimestamp, now))
	}
	field("Generation", strconv.FormatInt(m.Generation, 10))
	field("Resource Version", m.ResourceVersion)
	field("UID", m.UID)
	field("Finalizers", m.Finalizers...)
	var owners []string
	for _, ow := range m.OwnerReferences {
		s := ow.Kind + "/" + ow.Name
		if ow.Controller != nil && *ow.Controller {
			s += " (controller)"
		}
		owners = append(owners, s)
	}
	field("Owners", owners...)
	if err := tw.Flush(); err != nil {
		return err
	}

	if isEmptyJSON(o.Spec) {
		fmt.Fprintln(w, "Spec:  <none>")
	} else {
		fmt.Fprintln(w, "Spec:")
		fmt.Fprint(w, indentYAML(o.Spec, "  "))
	}

	st := api.ReadCommonStatus(o)
	if rest := statusWithoutConditions(o.Status); rest != nil {
		fmt.Fprintln(w, "Status:")
		fmt.Fprint(w, indentYAML(rest, "  "))
	}
	if len(st.Conditions) == 0 {
		fmt.Fprintln(w, "Conditions:  <none>")
	} else {
		fmt.Fprintln(w, "Conditions:")
		tw = newTabWriter(w)
		fmt.Fprintln(tw, "  TYPE\tSTATUS\tREASON\tMESSAGE\tAGE")
		for _, c := range st.Conditions {
			t := c.LastTransitionTime
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", c.Type, c.Status, orDash(c.Reason),
				sanitizeCell(orDash(c.Message)), age(&t, now))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	if len(events) == 0 {
		fmt.Fprintln(w, "Events:  <none>")
		return nil
	}
	fmt.Fprintln(w, "Events:")
	tw = newTabWriter(w)
	fmt.Fprintln(tw, "  TYPE\tREASON\tAGE\tFROM\tMESSAGE")
	for _, e := range events {
		a := age(e.last(), now)
		if e.spec.Count > 1 {
			a = fmt.Sprintf("%s (x%d over %s)", a, e.spec.Count, age(e.first(), now))
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", e.spec.Type, e.spec.Reason, a, orDash(e.spec.Source),
			sanitizeCell(e.spec.Message))
	}
	return tw.Flush()
}

func timestamp(t *time.Time, now time.Time) string {
	if t == nil {
		return "<unknown>"
	}
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), age(t, now))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func isEmptyJSON(b json.RawMessage) bool {
	s := strings.TrimSpace(string(b))
	return s == "" || s == "null" || s == "{}"
}

// statusWithoutConditions returns the status minus its conditions (shown as a table), or
// nil if nothing else is left.
func statusWithoutConditions(raw json.RawMessage) json.RawMessage {
	if isEmptyJSON(raw) {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return raw
	}
	delete(m, "conditions")
	if len(m) == 0 {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	return b
}
