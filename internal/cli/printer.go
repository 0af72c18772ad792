package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/yaml"

	"github.com/paved-dev/paved/api"
)

// newTabWriter aligns columns the way kubectl's tables do.
func newTabWriter(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)
}

// age formats how long ago t was, as kubectl's AGE column does ("5s", "3m20s", "2h", "4d").
func age(t *time.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "<unknown>"
	}
	d := now.Sub(*t)
	if d < 0 {
		// A server clock ahead of ours should not print a negative age.
		d = 0
	}
	return duration.HumanDuration(d)
}

// refName names an object the way kubectl's messages do: lower-case kind, group, name
// ("environment.paved.dev/dev").
func refName(r api.APIResource, name string) string {
	k := strings.ToLower(r.Kind)
	if r.Group != "" {
		k += "." + r.Group
	}
	return k + "/" + name
}

// column is one column of a table.
type column struct {
	header string
	value  func(o *objectView) string
}

// objectView is an object with its generic JSON form, decoded once for all columns.
type objectView struct {
	obj     *api.Object
	generic any
}

func newObjectView(o *api.Object) *objectView {
	v := &objectView{obj: o}
	b, err := json.Marshal(o)
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		_ = dec.Decode(&v.generic)
	}
	return v
}

// tableColumns chooses the columns for a kind: NAMESPACE when listing across namespaces,
// NAME, the kind's own columns (wide ones only if wide), READY when any object reports a
// Ready condition, and AGE.
func tableColumns(r api.APIResource, allNamespaces, wide bool, items []api.Object, now time.Time) []column {
	var cols []column
	if allNamespaces && r.Namespaced {
		cols = append(cols, column{"NAMESPACE", func(v *objectView) string { return v.obj.Metadata.Namespace }})
	}
	cols = append(cols, column{"NAME", func(v *objectView) string { return v.obj.Metadata.Name }})
	for _, c := range r.Columns {
		if c.Wide && !wide {
			continue
		}
		p, err := parsePath(c.JSONPath)
		cols = append(cols, column{strings.ToUpper(c.Name), func(v *objectView) string {
			if err != nil {
				return "<invalid path>"
			}
			return formatCell(p.eval(v.generic))
		}})
	}
	if anyReady(items) {
		cols = append(cols, column{"READY", func(v *objectView) string {
			if c := api.FindCondition(api.ReadCommonStatus(v.obj).Conditions, api.ConditionReady); c != nil {
				return c.Status
			}
			return "-"
		}})
	}
	cols = append(cols, column{"AGE", func(v *objectView) string { return age(v.obj.Metadata.CreationTimestamp, now) }})
	return cols
}

func anyReady(items []api.Object) bool {
	for i := range items {
		if api.FindCondition(api.ReadCommonStatus(&items[i]).Conditions, api.ConditionReady) != nil {
			return true
		}
	}
	return false
}

// printTable writes items as a table, with a header line if header is set.
func printTable(w io.Writer, cols []column, items []api.Object, header bool) error {
	tw := newTabWriter(w)
	if header {
		hs := make([]string, len(cols))
		for i, c := range cols {
			hs[i] = c.header
		}
		fmt.Fprintln(tw, strings.Join(hs, "\t"))
	}
	for i := range items {
		v := newObjectView(&items[i])
		cells := make([]string, len(cols))
		for j, c := range cols {
			cells[j] = sanitizeCell(c.value(v))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// sanitizeCell keeps a value on one line and out of the column separators.
func sanitizeCell(s string) string {
	return strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(s)
}

// formatCell renders a column value: strings as they are, other values as compact JSON,
// a missing value as "<none>".
func formatCell(v any, ok bool) string {
	if !ok || v == nil {
		return "<none>"
	}
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// fieldPath is a parsed column path such as .spec.type, .status.conditions[0].reason or
// .metadata.labels['app.kubernetes.io/name'].
type fieldPath []pathStep

type pathStep struct {
	key   string
	index int
	isIdx bool
}

// parsePath parses the dotted path of a kind's column. A surrounding "{...}", as kubectl's
// custom columns accept, is allowed.
func parsePath(s string) (fieldPath, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	if s == "" || s == "." {
		return fieldPath{}, nil
	}
	var p fieldPath
	i := 0
	for i < len(s) {
		switch s[i] {
		case '.':
			j := i + 1
			for j < len(s) && s[j] != '.' && s[j] != '[' && s[j] != ']' {
				j++
			}
			if j == i+1 {
				return nil, fmt.Errorf("path %q: empty field name at offset %d", s, i)
			}
			p = append(p, pathStep{key: s[i+1 : j]})
			i = j
		case '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("path %q: unclosed [", s)
			}
			inner := s[i+1 : i+end]
			i += end + 1
			if len(inner) >= 2 && (inner[0] == '\'' || inner[0] == '"') && inner[len(inner)-1] == inner[0] {
				p = append(p, pathStep{key: inner[1 : len(inner)-1]})
				continue
			}
			n, err := strconv.Atoi(inner)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("path %q: [%s] is neither an index nor a quoted key", s, inner)
			}
			p = append(p, pathStep{index: n, isIdx: true})
		default:
			if i == 0 {
				// "spec.type" without the leading dot.
				s = "." + s
				continue
			}
			return nil, fmt.Errorf("path %q: unexpected %q at offset %d", s, s[i], i)
		}
	}
	return p, nil
}

// eval follows the path through a decoded JSON value.
func (p fieldPath) eval(v any) (any, bool) {
	for _, st := range p {
		switch x := v.(type) {
		case map[string]any:
			if st.isIdx {
				return nil, false
			}
			var ok bool
			if v, ok = x[st.key]; !ok {
				return nil, false
			}
		case []any:
			if !st.isIdx || st.index >= len(x) {
				return nil, false
			}
			v = x[st.index]
		default:
			return nil, false
		}
	}
	return v, true
}

// printObjects writes objects as YAML or JSON: one object alone, several as a List.
func printObjects(w io.Writer, format string, items []api.Object, single bool) error {
	var v any
	if single && len(items) == 1 {
		v = &items[0]
	} else {
		if items == nil {
			items = []api.Object{}
		}
		v = &api.List{APIVersion: "v1", Kind: "List", Items: items}
	}
	return printValue(w, format, v)
}

func printValue(w io.Writer, format string, v any) error {
	switch format {
	case "json":
		b, err := json.MarshalIndent(v, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case "yaml":
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		y, err := yaml.JSONToYAML(b)
		if err != nil {
			return err
		}
		_, err = w.Write(y)
		return err
	}
	return fmt.Errorf("unknown output format %q: use yaml, json, wide or name", format)
}

// indentYAML renders raw JSON as YAML indented by prefix, for describe.
func indentYAML(raw json.RawMessage, prefix string) string {
	y, err := yaml.JSONToYAML(raw)
	if err != nil {
		return prefix + string(raw) + "\n"
	}
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(string(y), "\n"), "\n") {
		b.WriteString(prefix + l + "\n")
	}
	return b.String()
}

// sortedKV renders a map as "k=v" lines in key order.
func sortedKV(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "=" + m[k]
	}
	return out
}
