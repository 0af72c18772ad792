package controller

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/paved-dev/paved/api"
)

// Reasons the condition helpers use when the caller has nothing more specific.
const (
	ReasonSucceeded            = "Succeeded"
	ReasonProgressing          = "Progressing"
	ReasonProgressingWithRetry = "ProgressingWithRetry"
)

// now is the clock for condition times, in whole seconds like every other paved timestamp.
func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

// editStatus decodes obj's status as a JSON object (keeping every field it does not know),
// lets fn change its conditions and other fields, and writes it back. Numbers keep their
// exact text.
func editStatus(obj *api.Object, fn func(status map[string]any, conds *[]api.Condition) error) error {
	status := map[string]any{}
	if t := bytes.TrimSpace(obj.Status); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.UseNumber()
		if err := dec.Decode(&status); err != nil {
			return fmt.Errorf("%s %q: status is not a JSON object: %w", obj.Kind, obj.Metadata.Name, err)
		}
	}
	var conds []api.Condition
	if raw, ok := status["conditions"]; ok && raw != nil {
		b, err := json.Marshal(raw)
		if err == nil {
			err = json.Unmarshal(b, &conds)
		}
		if err != nil {
			return fmt.Errorf("%s %q: status.conditions is not a list of conditions: %w", obj.Kind, obj.Metadata.Name, err)
		}
	}
	if err := fn(status, &conds); err != nil {
		return err
	}
	if len(conds) > 0 {
		status["conditions"] = conds
	} else {
		delete(status, "conditions")
	}
	if len(status) == 0 {
		obj.Status = nil
		return nil
	}
	b, err := json.Marshal(status)
	if err != nil {
		return fmt.Errorf("%s %q: encode status: %w", obj.Kind, obj.Metadata.Name, err)
	}
	obj.Status = b
	return nil
}

// Conditions returns obj's status.conditions; a status without them (or not an object)
// gives none.
func Conditions(obj *api.Object) []api.Condition {
	return api.ReadCommonStatus(obj).Conditions
}

// GetCondition returns the condition of type t, or nil.
func GetCondition(obj *api.Object, t string) *api.Condition {
	return api.FindCondition(Conditions(obj), t)
}

// IsReady reports whether obj has Ready=True for its current generation.
func IsReady(obj *api.Object) bool {
	c := GetCondition(obj, api.ConditionReady)
	return c != nil && c.Status == api.ConditionTrue && c.ObservedGeneration == obj.Metadata.Generation
}

// SetCondition sets cond in obj's status.conditions without touching other status fields.
// lastTransitionTime is kept when the status did not change; observedGeneration defaults to
// metadata.generation. It reports whether the status changed.
func SetCondition(obj *api.Object, cond api.Condition) (bool, error) {
	changed := false
	err := editStatus(obj, func(_ map[string]any, conds *[]api.Condition) error {
		changed = setCond(obj, conds, cond)
		return nil
	})
	return changed, err
}

func setCond(obj *api.Object, conds *[]api.Condition, cond api.Condition) bool {
	if cond.ObservedGeneration == 0 {
		cond.ObservedGeneration = obj.Metadata.Generation
	}
	return api.SetCondition(conds, cond, now())
}

func removeCond(conds *[]api.Condition, t string) bool {
	out := (*conds)[:0]
	for _, c := range *conds {
		if c.Type != t {
			out = append(out, c)
		}
	}
	removed := len(out) != len(*conds)
	*conds = out
	return removed
}

// RemoveCondition removes the condition of type t from obj's status.
func RemoveCondition(obj *api.Object, t string) error {
	return editStatus(obj, func(_ map[string]any, conds *[]api.Condition) error {
		removeCond(conds, t)
		return nil
	})
}

// MarkReconciling says work on obj's current generation has started: Reconciling=True.
// kstatus reads this as InProgress.
func MarkReconciling(obj *api.Object, reason, message string) error {
	if reason == "" {
		reason = ReasonProgressing
	}
	return editStatus(obj, func(_ map[string]any, conds *[]api.Condition) error {
		setCond(obj, conds, api.Condition{Type: api.ConditionReconciling, Status: api.ConditionTrue, Reason: reason, Message: message})
		return nil
	})
}

// MarkReady says obj has converged: Ready=True, Reconciling and Stalled removed, and
// status.observedGeneration set to metadata.generation. kstatus reads this as Current.
func MarkReady(obj *api.Object, reason, message string) error {
	if reason == "" {
		reason = ReasonSucceeded
	}
	return editStatus(obj, func(status map[string]any, conds *[]api.Condition) error {
		setCond(obj, conds, api.Condition{Type: api.ConditionReady, Status: api.ConditionTrue, Reason: reason, Message: message})
		removeCond(conds, api.ConditionReconciling)
		removeCond(conds, api.ConditionStalled)
		status["observedGeneration"] = obj.Metadata.Generation
		return nil
	})
}

// MarkFailed says the last attempt failed and will be retried: Ready=False with reason and
// message, Reconciling=True (ProgressingWithRetry) and status.observedGeneration set.
// kstatus reads this as InProgress, which is true while retries go on.
func MarkFailed(obj *api.Object, reason, message string) error {
	return editStatus(obj, func(status map[string]any, conds *[]api.Condition) error {
		setCond(obj, conds, api.Condition{Type: api.ConditionReady, Status: api.ConditionFalse, Reason: reason, Message: message})
		setCond(obj, conds, api.Condition{Type: api.ConditionReconciling, Status: api.ConditionTrue, Reason: ReasonProgressingWithRetry, Message: message})
		removeCond(conds, api.ConditionStalled)
		status["observedGeneration"] = obj.Metadata.Generation
		return nil
	})
}

// MarkStalled says obj cannot converge without a change to it (pair it with a Terminal
// error): Ready=False and Stalled=True with reason and message, Reconciling removed.
// kstatus reads this as Failed.
func MarkStalled(obj *api.Object, reason, message string) error {
	return editStatus(obj, func(status map[string]any, conds *[]api.Condition) error {
		setCond(obj, conds, api.Condition{Type: api.ConditionReady, Status: api.ConditionFalse, Reason: reason, Message: message})
		setCond(obj, conds, api.Condition{Type: api.ConditionStalled, Status: api.ConditionTrue, Reason: reason, Message: message})
		removeCond(conds, api.ConditionReconciling)
		status["observedGeneration"] = obj.Metadata.Generation
		return nil
	})
}

// SetSynced records whether obj's desired state was written to its target (Synced=True or
// False) with reason and message.
func SetSynced(obj *api.Object, synced bool, reason, message string) error {
	st := api.ConditionFalse
	if synced {
		st = api.ConditionTrue
	}
	_, err := SetCondition(obj, api.Condition{Type: api.ConditionSynced, Status: st, Reason: reason, Message: message})
	return err
}
