package api

import "encoding/json"

// APIResource describes one kind the server serves, as GET /apis lists them.
type APIResource struct {
	Group      string   `json:"group"`
	Version    string   `json:"version"`
	Kind       string   `json:"kind"`
	Plural     string   `json:"plural"`
	Singular   string   `json:"singular,omitempty"`
	ShortNames []string `json:"shortNames,omitempty"`
	Namespaced bool     `json:"namespaced"`
	// Columns are extra table columns for `paved get`.
	Columns []Column `json:"columns,omitempty"`
	// Schema is the JSON Schema of spec, if the kind has one.
	Schema json.RawMessage `json:"schema,omitempty"`
}

// Column is one extra column of a kind's table view; JSONPath is a dotted path such as
// ".spec.type".
type Column struct {
	Name     string `json:"name"`
	JSONPath string `json:"jsonPath"`
	// Wide columns show only with -o wide.
	Wide bool `json:"wide,omitempty"`
}

// APIResourceList is the body of GET /apis.
type APIResourceList struct {
	APIVersion string        `json:"apiVersion"`
	Kind       string        `json:"kind"`
	Resources  []APIResource `json:"resources"`
}
