package cli

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/paved-dev/paved/api"
)

func newAPIResourcesCommand(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "api-resources",
		Short: "List the kinds the server serves",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.Client()
			if err != nil {
				return err
			}
			rs, err := c.RefreshKinds(cmd.Context())
			if err != nil {
				return err
			}
			rs = append([]api.APIResource(nil), rs...)
			sort.SliceStable(rs, func(i, j int) bool {
				if rs[i].Group != rs[j].Group {
					return rs[i].Group < rs[j].Group
				}
				return rs[i].Plural < rs[j].Plural
			})
			out := cmd.OutOrStdout()
			switch output {
			case "name":
				for _, r := range rs {
					n := r.Plural
					if r.Group != "" {
						n += "." + r.Group
					}
					fmt.Fprintln(out, n)
				}
				return nil
			case "yaml", "json":
				return printValue(out, output, &api.APIResourceList{APIVersion: "v1", Kind: "APIResourceList", Resources: rs})
			case "":
			default:
				return fmt.Errorf("unknown output format %q: use yaml, json or name", output)
			}
			tw := newTabWriter(out)
			fmt.Fprintln(tw, "NAME\tSHORTNAMES\tAPIVERSION\tNAMESPACED\tKIND")
			for _, r := range rs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Plural, strings.Join(r.ShortNames, ","),
					api.JoinAPIVersion(r.Group, r.Version), strconv.FormatBool(r.Namespaced), r.Kind)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: name, yaml or json")
	return cmd
}
