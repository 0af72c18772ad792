package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/client"
)

type deleteOptions struct {
	files          []string
	selector       string
	ignoreNotFound bool
}

func newDeleteCommand(g *globals) *cobra.Command {
	var o deleteOptions
	cmd := &cobra.Command{
		Use:   "delete KIND NAME... | KIND/NAME... | KIND -l SELECTOR | -f FILE",
		Short: "Delete objects by name, by label selector or as named in files",
		Long: `Delete objects by name, by label selector or as named in files.

An object with finalizers is marked for deletion and disappears once its controllers have
cleaned up after it.`,
		Example: `  paved delete environment dev
  paved delete env/dev env/staging
  paved delete env -l tier=development
  paved delete -f environments.yaml`,
		ValidArgsFunction: completeKindsAndNames(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDelete(cmd, g, o, args)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.files, "filename", "f", nil, "delete the objects named in this file, directory or - (repeatable)")
	f.StringVarP(&o.selector, "selector", "l", "", "delete every object of KIND with matching labels")
	f.BoolVar(&o.ignoreNotFound, "ignore-not-found", false, "treat an object that does not exist as deleted, silently")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
	return cmd
}

// deletion is one object to delete, with where it was named for error messages.
type deletion struct {
	res        api.APIResource
	namespace  string
	name       string
	where      string
	resolveErr error
}

func runDelete(cmd *cobra.Command, g *globals, o deleteOptions, args []string) error {
	ctx := cmd.Context()
	switch {
	case len(o.files) > 0 && len(args) > 0:
		return errors.New("name objects either with -f or as arguments, not both")
	case len(o.files) == 0 && len(args) == 0:
		return errors.New("name what to delete: KIND NAME..., KIND/NAME... or -f FILE")
	}
	c, err := g.Client()
	if err != nil {
		return err
	}
	var todo []deletion
	if len(o.files) > 0 {
		ms, err := readManifests(o.files, cmd.InOrStdin())
		if err != nil {
			return err
		}
		for _, m := range ms {
			d := deletion{where: m.where(), resolveErr: m.Err}
			if m.Err == nil {
				d.res, d.resolveErr = c.ResourceFor(ctx, m.Object.APIVersion, m.Object.Kind)
				d.name = m.Object.Metadata.Name
				d.namespace = m.Object.Metadata.Namespace
				if d.namespace == "" || g.namespace != "" {
					d.namespace = g.ns()
				}
			}
			todo = append(todo, d)
		}
	} else {
		targets, err := parseTargets(ctx, c, args)
		if err != nil {
			return err
		}
		for _, t := range targets {
			if len(t.names) == 0 {
				if o.selector == "" {
					return fmt.Errorf("name the %s to delete, or select them with -l", t.res.Plural)
				}
				l, err := c.ListAll(ctx, t.res, client.ListOptions{Namespace: objectNamespace(t.res, g.ns()),
					LabelSelector: o.selector, Limit: listPageSize})
				if err != nil {
					return err
				}
				if len(l.Items) == 0 {
					fmt.Fprintln(cmd.ErrOrStderr(), noResources(t.res, objectNamespace(t.res, g.ns())))
				}
				for _, it := range l.Items {
					todo = append(todo, deletion{res: t.res, namespace: it.Metadata.Namespace, name: it.Metadata.Name})
				}
				continue
			}
			for _, n := range t.names {
				todo = append(todo, deletion{res: t.res, namespace: g.ns(), name: n})
			}
		}
	}

	out := cmd.OutOrStdout()
	var errs []error
	for _, d := range todo {
		err := d.resolveErr
		if err == nil {
			_, err = c.Delete(ctx, d.res, objectNamespace(d.res, d.namespace), d.name, client.DeleteOptions{})
			if api.IsNotFound(err) && o.ignoreNotFound {
				continue
			}
		}
		if err != nil {
			if d.where != "" {
				err = fmt.Errorf("%s: %w", d.where, err)
			}
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(out, "%s deleted\n", refName(d.res, d.name))
	}
	return errors.Join(errs...)
}
