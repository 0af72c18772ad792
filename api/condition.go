package api

import (
	"encoding/json"
	"time"
)

// Condition types every controller reports, kstatus-compatible.
const (
	ConditionReady       = "Ready"
	ConditionSynced      = "Synced"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
)

// Condition status values.
const (
	ConditionTrue    = "True"
	ConditionFalse   = "False"
	ConditionUnknown = "Unknown"
)

// Condition is one observation of an object's state, shaped like metav1.Condition.
type Condition struct {
	Type               string    `json:"type"`
	Status             string    `json:"status"`
	Reason             string    `json:"reason,omitempty"`
	Message            string    `json:"message,omitempty"`
	LastTransitionTime time.Time `json:"lastTransitionTime"`
	ObservedGeneration int64     `json:"observedGeneration,omitempty"`
}

// CommonStatus is the part of status every controller-managed kind shares.
type CommonStatus struct {
	ObservedGeneration int64       `json:"observedGeneration,omitempty"`
	Conditions         []Condition `json:"conditions,omitempty"`
}

// SetCondition sets c in conds, keeping lastTransitionTime when the status did not change.
// It reports whether anything changed.
func SetCondition(conds *[]Condition, c Condition, now time.Time) bool {
	for i := range *conds {
		old := &(*conds)[i]
		if old.Type != c.Type {
			continue
		}
		if old.Status == c.Status && old.Reason == c.Reason && old.Message == c.Message &&
			old.ObservedGeneration == c.ObservedGeneration {
			return false
		}
		if old.Status == c.Status {
			c.LastTransitionTime = old.LastTransitionTime
		} else {
			c.LastTransitionTime = now
		}
		*old = c
		return true
	}
	c.LastTransitionTime = now
	*conds = append(*conds, c)
	return true
}

// FindCondition returns the condition of type t, or nil.
func FindCondition(conds []Condition, t string) *Condition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

// ReadCommonStatus decodes the common part of an object's status; an absent or foreign
// status gives the zero value.
func ReadCommonStatus(o *Object) CommonStatus {
	var s CommonStatus
	if len(o.Status) > 0 {
		_ = json.Unmarshal(o.Status, &s)
	}
	return s
}
