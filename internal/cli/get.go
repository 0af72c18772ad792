package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/client"
)

// listPageSize bounds each list request; ListAll follows the continue tokens.
const listPageSize = 500

type getOptions struct {
	allNamespaces bool
	selector      string
	fieldSelector string
	output        string
	watch         bool
	noHeaders     bool
}

func newGetCommand(g *globals) *cobra.Command {
	var o getOptions
	cmd := &cobra.Command{
		Use:   "get KIND [NAME...] | KIND/NAME...",
		Short: "Show objects as a table, YAML or JSON",
		Example: `  paved get environments
  paved get env dev -o yaml
  paved get events -A
  paved get env/dev ns/default`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeKindsAndNames(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch o.output {
			case "", "wide", "yaml", "json", "name":
			default:
				return fmt.Errorf("unknown output format %q: use yaml, json, wide or name", o.output)
			}
			return runGet(cmd, g, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list objects in all namespaces")
	f.StringVarP(&o.selector, "selector", "l", "", "label selector, such as tier=production,app!=web")
	f.StringVar(&o.fieldSelector, "field-selector", "", "field selector: metadata.name or metadata.namespace")
	f.StringVarP(&o.output, "output", "o", "", "output format: yaml, json, wide or name")
	f.BoolVarP(&o.watch, "watch", "w", false, "after listing, print changes until interrupted")
	f.BoolVar(&o.noHeaders, "no-headers", false, "leave out the table's header line")
	return cmd
}

func runGet(cmd *cobra.Command, g *globals, o getOptions, args []string) error {
	ctx := cmd.Context()
	c, err := g.Client()
	if err != nil {
		return err
	}
	targets, err := parseTargets(ctx, c, args)
	if err != nil {
		return err
	}
	named := 0
	for _, t := range targets {
		named += len(t.names)
		if len(t.names) > 0 && o.allNamespaces {
			return errors.New("an object cannot be read by name across all namespaces: drop -A and pass -n")
		}
	}
	if o.watch && (len(targets) > 1 || named > 1) {
		return errors.New("--watch follows one kind, or one object")
	}
	ns := g.ns()
	if o.allNamespaces {
		ns = ""
	}
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	var (
		errs     []error
		all      []api.Object // for -o yaml|json, printed once at the end
		printed  bool
		listRV   string
		listCols []column
	)
	for _, t := range targets {
		var items []api.Object
		if len(t.names) > 0 {
			for _, name := range t.names {
				obj, err := c.Get(ctx, t.res, objectNamespace(t.res, ns), name)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				items = append(items, *obj)
			}
		} else {
			l, err := c.ListAll(ctx, t.res, client.ListOptions{Namespace: objectNamespace(t.res, ns),
				LabelSelector: o.selector, FieldSelector: o.fieldSelector, Limit: listPageSize})
			if err != nil {
				return err
			}
			items, listRV = l.Items, l.Metadata.ResourceVersion
		}
		switch o.output {
		case "yaml", "json":
			all = append(all, items...)
			continue
		case "name":
			for _, it := range items {
				fmt.Fprintln(out, refName(t.res, it.Metadata.Name))
			}
			continue
		}
		if len(items) == 0 {
			if len(t.names) == 0 && !o.watch {
				fmt.Fprintln(errOut, noResources(t.res, ns))
			}
			if !o.watch {
				continue
			}
		}
		if printed {
			fmt.Fprintln(out)
		}
		listCols = tableColumns(t.res, o.allNamespaces, o.output == "wide", items, g.now())
		if err := printTable(out, listCols, items, !o.noHeaders); err != nil {
			return err
		}
		printed = true
	}
	if (o.output == "yaml" || o.output == "json") && (named == 0 || len(all) > 0) {
		if err := printObjects(out, o.output, all, named == 1 && len(targets) == 1); err != nil {
			return err
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if !o.watch {
		return nil
	}
	t := targets[0]
	wo := client.WatchOptions{Namespace: objectNamespace(t.res, ns), LabelSelector: o.selector,
		FieldSelector: o.fieldSelector, ResourceVersion: listRV}
	if len(t.names) == 1 {
		wo.FieldSelector = "metadata.name=" + t.names[0]
		// A watch of one object starts after the object as read.
		if len(all) == 1 {
			wo.ResourceVersion = all[0].Metadata.ResourceVersion
		}
	}
	if listCols == nil {
		listCols = tableColumns(t.res, o.allNamespaces, o.output == "wide", nil, g.now())
	}
	return watchAndPrint(ctx, c, t.res, wo, o, listCols, out)
}

// noResources is kubectl's message for an empty list.
func noResources(r api.APIResource, ns string) string {
	if r.Namespaced && ns != "" {
		return fmt.Sprintf("No resources found in %s namespace.", ns)
	}
	return "No resources found"
}

// watchAndPrint prints each change to the watched objects until ctx ends.
func watchAndPrint(ctx context.Context, c *client.Client, r api.APIResource, wo client.WatchOptions, o getOptions, cols []column, out io.Writer) error {
	ch, err := c.Watch(ctx, r, wo)
	if err != nil {
		return err
	}
	for ev := range ch {
		switch ev.Type {
		case api.EventBookmark:
			continue
		case api.EventError:
			return client.StatusOf(ev)
		}
		var err error
		switch o.output {
		case "yaml", "json":
			if o.output == "yaml" {
				fmt.Fprintln(out, "---")
			}
			err = printValue(out, o.output, &ev.Object)
		case "name":
			_, err = fmt.Fprintln(out, refName(r, ev.Object.Metadata.Name))
		default:
			err = printTable(out, cols, []api.Object{ev.Object}, false)
		}
		if err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil // interrupted: the normal way to end a watch
	}
	return errors.New("the server closed the watch")
}
