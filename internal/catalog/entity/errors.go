package entity

import (
	"fmt"
	"strconv"
	"strings"
)

// ErrorCode classifies a FieldError, so that callers can map it (for example to an HTTP
// status or a Kubernetes-style cause) without parsing messages.
type ErrorCode string

const (
	// CodeRequired: a required field is missing.
	CodeRequired ErrorCode = "Required"
	// CodeType: a field has the wrong JSON type, or is empty where it must not be.
	CodeType ErrorCode = "Type"
	// CodeFormat: a field has the right type but breaks a format rule (name, tag, url, ...).
	CodeFormat ErrorCode = "Format"
	// CodeUnknownField: a root field that an entity may not have.
	CodeUnknownField ErrorCode = "UnknownField"
	// CodeUnsupportedKind: no kind the catalog knows matches the apiVersion and kind.
	CodeUnsupportedKind ErrorCode = "UnsupportedKind"
	// CodeReference: an entity reference that cannot be parsed.
	CodeReference ErrorCode = "Reference"
)

// FieldError is one problem with one field of an entity. Field is a path such as
// "metadata.name", "metadata.tags[1]", `metadata.labels["example.com/x"]` or
// "spec.steps[0].action"; Line and Column locate it in the source when known (1-based).
type FieldError struct {
	Field   string    `json:"field"`
	Message string    `json:"message"`
	Code    ErrorCode `json:"code"`
	Line    int       `json:"line,omitempty"`
	Column  int       `json:"column,omitempty"`
}

func (e FieldError) Error() string {
	s := e.Message
	if e.Field != "" {
		s = e.Field + ": " + s
	}
	if e.Line > 0 {
		s += fmt.Sprintf(" (line %d, column %d)", e.Line, e.Column)
	}
	return s
}

// InvalidError is an entity that failed validation.
type InvalidError struct {
	Ref    string // the entity's reference, when it has a kind and a name
	Errors []FieldError
}

func (e *InvalidError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.Error()
	}
	what := "entity"
	if e.Ref != "" {
		what += " " + e.Ref
	}
	return what + " is invalid: " + strings.Join(parts, "; ")
}

// AsError returns nil if errs is empty, else an *InvalidError for e holding errs.
func AsError(e *Entity, errs []FieldError) error {
	if len(errs) == 0 {
		return nil
	}
	ie := &InvalidError{Errors: errs}
	if e != nil && e.Kind != "" && e.Metadata.Name != "" {
		ie.Ref = e.Ref().String()
	}
	return ie
}

// SyntaxError is a document that cannot be read as YAML or JSON, or whose shape no entity
// can have (nested too deeply, too many aliases, duplicate keys, invalid UTF-8).
type SyntaxError struct {
	Line, Column int // 1-based; 0 when unknown
	Msg          string
}

func (e *SyntaxError) Error() string {
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

// isIdent reports whether key can follow a dot in a path: [A-Za-z_][A-Za-z0-9_-]*.
func isIdent(key string) bool {
	for i := 0; i < len(key); i++ {
		c := key[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '-')) {
			return false
		}
	}
	return key != ""
}

// childPath is the path of key inside the object at base.
func childPath(base, key string) string {
	if isIdent(key) {
		if base == "" {
			return key
		}
		return base + "." + key
	}
	return base + "[" + strconv.Quote(key) + "]"
}

// indexPath is the path of element i of the array at base.
func indexPath(base string, i int) string {
	return base + "[" + strconv.Itoa(i) + "]"
}

// FieldPath is the path of key inside the object at base, written as FieldError paths are:
// "metadata.name", `metadata.annotations["backstage.io/view-url"]`; base "" is the root.
func FieldPath(base, key string) string { return childPath(base, key) }

// IndexPath is the path of element i of the array at base: "spec.targets[2]".
func IndexPath(base string, i int) string { return indexPath(base, i) }
