package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/client"
)

// searchFullTextFields are the keys `paved catalog search` looks for its text in: names,
// titles, tags and the spec fields people search by. Long free text (descriptions) is
// left out; it is slow to scan and rarely what is meant.
var searchFullTextFields = []string{"metadata.name", "metadata.title", "metadata.tags", "spec.type",
	"spec.owner", "spec.lifecycle", "spec.system", "spec.profile.displayname", "spec.profile.email"}

// newCatalogCommand is `paved catalog`: the service catalog through the Backstage catalog
// API the server serves under /api/catalog.
func newCatalogCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "catalog",
		Short: "Work with the service catalog (Backstage entities and locations)",
		Long: `Work with the service catalog: Backstage entities (components, APIs, systems, groups,
users, ...) read from registered locations, through the Backstage catalog API the server
serves under /api/catalog. Entities are also objects: ` + "`paved get components`" + ` lists them too.

An entity reference is [kind:][namespace/]name, case-insensitive; the namespace defaults
to -n or "default", and without a kind the name must be unique across kinds.`,
	}
	cmd.AddCommand(
		newCatalogRegisterCommand(g),
		newCatalogGetCommand(g),
		newCatalogSearchCommand(g),
		newCatalogErrorsCommand(g),
		newCatalogRefreshCommand(g),
		newCatalogLocationsCommand(g),
	)
	return cmd
}

func newCatalogRegisterCommand(g *globals) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "register URL|PATH",
		Short: "Register a location (a catalog-info.yaml by URL or local path) and read it",
		Long: `Register a location: an http(s) URL of a catalog file, or a local path (the server must
be allowed to read it: catalog.fileRoots). The catalog reads it at once and again on
every refresh; the entities it yields appear in the catalog.`,
		Example: `  paved catalog register https://git.example.com/team/svc/raw/main/catalog-info.yaml
  paved catalog register ./examples/catalog/all.yaml
  paved catalog register ./catalog-info.yaml --dry-run`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.Client()
			if err != nil {
				return err
			}
			typ, target := "url", args[0]
			if u, err := url.Parse(target); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
				typ = "file"
				if target, err = filepath.Abs(strings.TrimPrefix(target, "file://")); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			res, err := c.CatalogAddLocation(cmd.Context(), typ, target, dryRun)
			if api.IsConflict(err) {
				// Registering is idempotent for the user: say which location it is.
				locs, lerr := c.CatalogLocations(cmd.Context())
				if lerr == nil {
					for _, l := range locs {
						if l.Type == typ && l.Target == target {
							fmt.Fprintf(out, "location %s:%s is already registered (id %s)\n", typ, target, l.ID)
							return nil
						}
					}
				}
			}
			if err != nil {
				return err
			}
			refs := entityRefs(res.Entities)
			if dryRun {
				fmt.Fprintf(out, "location %s:%s would yield %d %s:\n", typ, target, len(refs), plural(len(refs), "entity", "entities"))
			} else {
				fmt.Fprintf(out, "location %s registered: %s:%s, %d %s\n", res.Location.ID, typ, target, len(refs), plural(len(refs), "entity", "entities"))
			}
			for _, r := range refs {
				fmt.Fprintf(out, "  %s\n", r)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only show what the location would yield; register nothing")
	return cmd
}

func newCatalogGetCommand(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "get REF",
		Short: "Show one entity as the Backstage catalog API serves it",
		Example: `  paved catalog get component:default/artist-lookup
  paved catalog get api:petstore -o json
  paved catalog get artist-lookup`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "yaml" && output != "json" {
				return fmt.Errorf("unknown output format %q: use yaml or json", output)
			}
			c, err := g.Client()
			if err != nil {
				return err
			}
			kind, ns, name, err := resolveEntityRef(cmd.Context(), c, args[0], g.ns())
			if err != nil {
				return err
			}
			e, err := c.CatalogEntityByName(cmd.Context(), kind, ns, name)
			if err != nil {
				return err
			}
			return printValue(cmd.OutOrStdout(), output, e)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "yaml", "output format: yaml or json")
	return cmd
}

func newCatalogSearchCommand(g *globals) *cobra.Command {
	var filters []string
	var query string
	var limit int
	var output string
	cmd := &cobra.Command{
		Use:   "search [TEXT]",
		Short: "Find entities by text and filters",
		Long: `Find entities whose name, title, tags, type, owner, lifecycle, system or profile
contains TEXT (case-insensitively), and that match every --filter. A filter is
key=value, or key alone for "has the key"; keys are dotted paths such as kind, spec.type,
metadata.tags or relations.ownedby, values are case-insensitive, and repeating a key
within one --filter ("kind=component,kind=api") matches any of its values.

--query takes a Backstage filter predicate as JSON instead of filters: field equality,
$all, $any, $not, $exists, $in, $hasPrefix and $contains (docs/catalog-api.md).`,
		Example: `  paved catalog search payments
  paved catalog search --filter kind=component --filter spec.type=service
  paved catalog search svc --filter relations.ownedby=group:default/team-a -o json
  paved catalog search --query '{"$all": [{"kind": "component"}, {"$not": {"spec.lifecycle": "experimental"}}]}'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch output {
			case "", "json", "yaml", "name":
			default:
				return fmt.Errorf("unknown output format %q: use json, yaml or name", output)
			}
			if limit <= 0 {
				return errors.New("--limit must be at least 1")
			}
			c, err := g.Client()
			if err != nil {
				return err
			}
			q := client.CatalogQuery{Limit: limit, OrderFields: []string{"metadata.name,asc"}}
			if query != "" {
				if len(filters) > 0 {
					return errors.New("use --filter or --query, not both")
				}
				if !json.Valid([]byte(query)) {
					return errors.New("--query must be JSON, such as '{\"kind\": \"component\"}'")
				}
				q.Query = json.RawMessage(query)
			}
			if len(filters) > 0 {
				// The flags all apply (AND): one filter of the API.
				q.Filter = []string{strings.Join(filters, ",")}
			}
			if len(args) == 1 && strings.TrimSpace(args[0]) != "" {
				q.FullText = args[0]
				q.FullTextFields = searchFullTextFields
			}
			if output == "" || output == "name" {
				q.Fields = []string{"kind", "metadata.namespace", "metadata.name", "metadata.title", "spec.type", "spec.owner"}
			}
			page, err := c.CatalogQueryEntities(cmd.Context(), q)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch output {
			case "json", "yaml":
				return printValue(out, output, map[string]any{"items": page.Items, "totalItems": page.TotalItems})
			case "name":
				for _, r := range entityRefs(page.Items) {
					fmt.Fprintln(out, r)
				}
				return nil
			}
			if len(page.Items) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "No entities found")
				return nil
			}
			tw := newTabWriter(out)
			fmt.Fprintln(tw, "REF\tTYPE\tOWNER\tTITLE")
			for _, e := range page.Items {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", sanitizeCell(entityRef(e)), cell(e, "spec", "type"),
					cell(e, "spec", "owner"), cell(e, "metadata", "title"))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if int64(len(page.Items)) < page.TotalItems {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d of %d entities shown; raise --limit to see more\n", len(page.Items), page.TotalItems)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&filters, "filter", "f", nil, "key=value (or key) the entities must match; repeatable, all must hold")
	f.StringVar(&query, "query", "", "a Backstage filter predicate as JSON (instead of --filter)")
	f.IntVar(&limit, "limit", 50, "show at most this many entities")
	f.StringVarP(&output, "output", "o", "", "output format: json, yaml or name (default: a table)")
	return cmd
}

func newCatalogErrorsCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "errors",
		Short: "List the processing errors of locations and entities",
		Long: `List what went wrong while reading the catalog: errors of registered locations (files
that cannot be read or parsed, invalid entities, conflicts, cycles) and the errors and
warnings entities carry in status.items.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.Client()
			if err != nil {
				return err
			}
			rows, err := catalogErrors(cmd.Context(), c)
			if err != nil {
				return err
			}
			if len(rows) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "No processing errors")
				return nil
			}
			tw := newTabWriter(cmd.OutOrStdout())
			fmt.Fprintln(tw, "SOURCE\tLEVEL\tMESSAGE")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", sanitizeCell(r[0]), sanitizeCell(r[1]), sanitizeCell(r[2]))
			}
			return tw.Flush()
		},
	}
}

// catalogErrors collects [source, level, message] rows: each location's processing errors
// (from its CatalogLocation object's status), then each entity's status items.
func catalogErrors(ctx context.Context, c *client.Client) ([][3]string, error) {
	var rows [][3]string
	if res, err := c.ResolveKind(ctx, "cataloglocations.catalog.paved.dev"); err == nil {
		locs, err := c.ListAll(ctx, res, client.ListOptions{})
		if err != nil {
			return nil, err
		}
		for _, l := range locs.Items {
			var spec struct{ Type, Target string }
			var st struct {
				Errors []struct {
					Reason, File, Entity, Message string
					Line                          int
				}
				ErrorCount int
			}
			_ = json.Unmarshal(l.Spec, &spec)
			_ = json.Unmarshal(l.Status, &st)
			src := fmt.Sprintf("location %s (%s:%s)", l.Metadata.Name, spec.Type, spec.Target)
			for _, e := range st.Errors {
				msg := e.Message
				if e.Entity != "" && !strings.Contains(msg, e.Entity) {
					msg = "entity " + e.Entity + ": " + msg
				}
				if e.File != "" {
					where := e.File
					if e.Line > 0 {
						where += fmt.Sprintf(" (line %d)", e.Line)
					}
					msg = where + ": " + msg
				}
				rows = append(rows, [3]string{src, "error", msg})
			}
			if more := st.ErrorCount - len(st.Errors); more > 0 {
				rows = append(rows, [3]string{src, "error", fmt.Sprintf("... and %d more", more)})
			}
		}
	}
	ents, err := c.CatalogEntities(ctx, nil, []string{"kind", "metadata.namespace", "metadata.name", "status"})
	if err != nil {
		return nil, err
	}
	type item struct {
		ref   string
		level string
		msg   string
	}
	var items []item
	for _, e := range ents {
		st, _ := e["status"].(map[string]any)
		its, _ := st["items"].([]any)
		for _, raw := range its {
			it, _ := raw.(map[string]any)
			level, _ := it["level"].(string)
			msg, _ := it["message"].(string)
			if ev, ok := it["error"].(map[string]any); ok {
				if name, _ := ev["name"].(string); name != "" && !strings.HasPrefix(msg, name) {
					msg = name + ": " + msg
				}
			}
			items = append(items, item{entityRef(e), level, msg})
		}
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].ref < items[j].ref })
	for _, it := range items {
		rows = append(rows, [3]string{it.ref, it.level, it.msg})
	}
	return rows, nil
}

func newCatalogRefreshCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "refresh REF",
		Short:   "Read the location of an entity again now",
		Example: `  paved catalog refresh component:default/artist-lookup`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.Client()
			if err != nil {
				return err
			}
			kind, ns, name, err := resolveEntityRef(cmd.Context(), c, args[0], g.ns())
			if err != nil {
				return err
			}
			ref := strings.ToLower(kind + ":" + ns + "/" + name)
			if err := c.CatalogRefresh(cmd.Context(), ref); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "refreshed %s\n", ref)
			return nil
		},
	}
}

func newCatalogLocationsCommand(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "locations",
		Short: "List the registered locations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.Client()
			if err != nil {
				return err
			}
			locs, err := c.CatalogLocations(cmd.Context())
			if err != nil {
				return err
			}
			sort.Slice(locs, func(i, j int) bool {
				return locs[i].Type+":"+locs[i].Target < locs[j].Type+":"+locs[j].Target
			})
			switch output {
			case "json", "yaml":
				return printValue(cmd.OutOrStdout(), output, locs)
			case "":
			default:
				return fmt.Errorf("unknown output format %q: use json or yaml", output)
			}
			if len(locs) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "No locations registered")
				return nil
			}
			tw := newTabWriter(cmd.OutOrStdout())
			fmt.Fprintln(tw, "ID\tTYPE\tTARGET")
			for _, l := range locs {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", sanitizeCell(l.ID), sanitizeCell(l.Type), sanitizeCell(l.Target))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml (default: a table)")
	return cmd
}

// parseEntityRef splits [kind:][namespace/]name as Backstage's parseEntityRef does: a
// colon before any slash ends the kind, the first slash ends the namespace. kind may be
// empty; the namespace defaults to defaultNS.
func parseEntityRef(s, defaultNS string) (kind, ns, name string, err error) {
	rest := s
	colon, slash := strings.IndexByte(s, ':'), strings.IndexByte(s, '/')
	if colon >= 0 && (slash < 0 || colon < slash) {
		kind, rest = s[:colon], s[colon+1:]
		if kind == "" {
			return "", "", "", fmt.Errorf("entity reference %q has an empty kind", s)
		}
	}
	ns = defaultNS
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		ns, rest = rest[:i], rest[i+1:]
		if ns == "" {
			return "", "", "", fmt.Errorf("entity reference %q has an empty namespace", s)
		}
	}
	if rest == "" {
		return "", "", "", fmt.Errorf("entity reference %q has no name: use [kind:][namespace/]name", s)
	}
	return kind, ns, rest, nil
}

// resolveEntityRef parses a reference; one without a kind is looked up by name, and must
// name exactly one entity.
func resolveEntityRef(ctx context.Context, c *client.Client, s, defaultNS string) (kind, ns, name string, err error) {
	kind, ns, name, err = parseEntityRef(s, defaultNS)
	if err != nil || kind != "" {
		return kind, ns, name, err
	}
	page, err := c.CatalogQueryEntities(ctx, client.CatalogQuery{Limit: 10,
		Filter: []string{"metadata.name=" + name + ",metadata.namespace=" + ns},
		Fields: []string{"kind", "metadata.namespace", "metadata.name"}})
	if err != nil {
		return "", "", "", err
	}
	switch len(page.Items) {
	case 0:
		return "", "", "", api.NewNotFound("entity", ns+"/"+name)
	case 1:
		e := page.Items[0]
		return cell(e, "kind"), cell(e, "metadata", "namespace"), cell(e, "metadata", "name"), nil
	}
	return "", "", "", fmt.Errorf("%q names several entities (%s): give the kind, as in %s",
		s, strings.Join(entityRefs(page.Items), ", "), entityRefs(page.Items)[0])
}

// cell reads a string at a path of an entity ("" if absent).
func cell(e map[string]any, path ...string) string {
	var v any = e
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	switch t := v.(type) {
	case string:
		return sanitizeCell(t)
	case nil:
		return ""
	}
	return sanitizeCell(fmt.Sprint(v))
}

// entityRef is the canonical reference of an entity: kind:namespace/name, lower-cased.
func entityRef(e map[string]any) string {
	ns := cell(e, "metadata", "namespace")
	if ns == "" {
		ns = "default"
	}
	return strings.ToLower(cell(e, "kind") + ":" + ns + "/" + cell(e, "metadata", "name"))
}

func entityRefs(es []client.CatalogEntity) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = entityRef(e)
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
