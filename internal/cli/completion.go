package cli

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/paved-dev/paved/internal/client"
)

// completeKindsAndNames completes a kind as the first argument and object names after it,
// asking the server; when the server cannot be reached it offers nothing rather than failing.
func completeKindsAndNames(g *globals) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		c, err := g.Client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		if len(args) == 0 {
			rs, err := c.Kinds(ctx)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []string
			for _, r := range rs {
				if strings.HasPrefix(r.Plural, toComplete) {
					out = append(out, r.Plural)
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		}
		if strings.Contains(args[0], "/") {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		r, err := c.ResolveKind(ctx, args[0])
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		l, err := c.List(ctx, r, client.ListOptions{Namespace: objectNamespace(r, g.ns()), Limit: listPageSize})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, o := range l.Items {
			if strings.HasPrefix(o.Metadata.Name, toComplete) {
				out = append(out, o.Metadata.Name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
