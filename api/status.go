package api

import (
	"fmt"
	"strings"
)

// Reasons carried in Status.Reason, as Kubernetes names them.
const (
	ReasonBadRequest         = "BadRequest"
	ReasonNotFound           = "NotFound"
	ReasonAlreadyExists      = "AlreadyExists"
	ReasonConflict           = "Conflict"
	ReasonInvalid            = "Invalid"
	ReasonGone               = "Gone"
	ReasonUnauthorized       = "Unauthorized"
	ReasonForbidden          = "Forbidden"
	ReasonTooLarge           = "RequestEntityTooLarge"
	ReasonMethodNotAllowed   = "MethodNotAllowed"
	ReasonUnsupportedMedia   = "UnsupportedMediaType"
	ReasonInternalError      = "InternalError"
	ReasonServiceUnavailable = "ServiceUnavailable"
)

// Status is the body of every error the API returns.
type Status struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Status     string         `json:"status"`
	Message    string         `json:"message"`
	Reason     string         `json:"reason"`
	Code       int            `json:"code"`
	Details    *StatusDetails `json:"details,omitempty"`
}

// StatusDetails names the object and the fields an error is about.
type StatusDetails struct {
	Name   string        `json:"name,omitempty"`
	Group  string        `json:"group,omitempty"`
	Kind   string        `json:"kind,omitempty"`
	Causes []StatusCause `json:"causes,omitempty"`
}

// StatusCause is one reason an object was refused, with the path of the field at fault.
type StatusCause struct {
	Type    string `json:"reason,omitempty"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Error makes Status usable as a Go error on the client side.
func (s *Status) Error() string {
	if len(s.Details.causes()) == 0 {
		return s.Message
	}
	msg := s.Message
	for _, c := range s.Details.Causes {
		if c.Field != "" && !containsField(msg, c.Field) {
			msg += fmt.Sprintf("; %s: %s", c.Field, c.Message)
		}
	}
	return msg
}

func (d *StatusDetails) causes() []StatusCause {
	if d == nil {
		return nil
	}
	return d.Causes
}

func containsField(msg, field string) bool {
	return field != "" && strings.Contains(msg, field)
}
