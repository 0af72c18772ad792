package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/paved-dev/paved/api"
)

func newVersionCommand(g *globals) *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client's version and, if it can be reached, the server's",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Client Version: %s\n", g.version)
			if clientOnly {
				return nil
			}
			c, err := g.Client()
			if err != nil {
				return err
			}
			v, err := c.ServerVersion(cmd.Context())
			switch {
			case api.IsNotFound(err):
				fmt.Fprintln(out, "Server Version: unknown (the server does not report it)")
			case err != nil:
				// Not an error of this command: the client's version was asked for too.
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: server version: %v\n", err)
			default:
				fmt.Fprintf(out, "Server Version: %s\n", v)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print only the client's version")
	return cmd
}
