package api

import (
	"errors"
	"fmt"
	"net/http"
)

// NewError builds a Status error with the HTTP code that belongs to reason.
func NewError(reason, format string, args ...any) *Status {
	return &Status{APIVersion: "v1", Kind: "Status", Status: "Failure", Reason: reason,
		Message: fmt.Sprintf(format, args...), Code: CodeFor(reason)}
}

// NewNotFound says that kind/name does not exist.
func NewNotFound(kind, name string) *Status {
	s := NewError(ReasonNotFound, "%s %q not found", kind, name)
	s.Details = &StatusDetails{Kind: kind, Name: name}
	return s
}

// NewAlreadyExists says that kind/name exists already.
func NewAlreadyExists(kind, name string) *Status {
	s := NewError(ReasonAlreadyExists, "%s %q already exists", kind, name)
	s.Details = &StatusDetails{Kind: kind, Name: name}
	return s
}

// NewConflict says that an update was based on a stale resourceVersion.
func NewConflict(kind, name, why string) *Status {
	s := NewError(ReasonConflict, "operation on %s %q conflicts: %s; read the object again and retry", kind, name, why)
	s.Details = &StatusDetails{Kind: kind, Name: name}
	return s
}

// NewInvalid says that kind/name failed validation; causes name the fields.
func NewInvalid(kind, name string, causes []StatusCause) *Status {
	msg := fmt.Sprintf("%s %q is invalid", kind, name)
	for i, c := range causes {
		sep := ": "
		if i > 0 {
			sep = ", "
		}
		if c.Field != "" {
			msg += sep + c.Field + ": " + c.Message
		} else {
			msg += sep + c.Message
		}
	}
	s := NewError(ReasonInvalid, "%s", msg)
	s.Details = &StatusDetails{Kind: kind, Name: name, Causes: causes}
	return s
}

// NewBadRequest says the request itself was malformed.
func NewBadRequest(format string, args ...any) *Status {
	return NewError(ReasonBadRequest, format, args...)
}

// CodeFor maps a reason to its HTTP status code.
func CodeFor(reason string) int {
	switch reason {
	case ReasonBadRequest:
		return http.StatusBadRequest
	case ReasonNotFound:
		return http.StatusNotFound
	case ReasonAlreadyExists, ReasonConflict:
		return http.StatusConflict
	case ReasonInvalid:
		return http.StatusUnprocessableEntity
	case ReasonGone:
		return http.StatusGone
	case ReasonUnauthorized:
		return http.StatusUnauthorized
	case ReasonForbidden:
		return http.StatusForbidden
	case ReasonTooLarge:
		return http.StatusRequestEntityTooLarge
	case ReasonMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case ReasonUnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case ReasonServiceUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// ReasonOf returns the reason of a Status error anywhere in err's chain, or "" if none.
func ReasonOf(err error) string {
	var s *Status
	if errors.As(err, &s) {
		return s.Reason
	}
	return ""
}

// IsNotFound reports whether err says an object does not exist.
func IsNotFound(err error) bool { return ReasonOf(err) == ReasonNotFound }

// IsAlreadyExists reports whether err says an object exists already.
func IsAlreadyExists(err error) bool { return ReasonOf(err) == ReasonAlreadyExists }

// IsConflict reports whether err is an optimistic-concurrency conflict.
func IsConflict(err error) bool { return ReasonOf(err) == ReasonConflict }

// IsInvalid reports whether err is a validation failure.
func IsInvalid(err error) bool { return ReasonOf(err) == ReasonInvalid }

// IsGone reports whether err says a watch revision has been compacted away.
func IsGone(err error) bool { return ReasonOf(err) == ReasonGone }
