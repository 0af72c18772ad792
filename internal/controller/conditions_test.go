package controller_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/controller"
)

func objWithStatus(gen int64, status string) *api.Object {
	o := &api.Object{APIVersion: "test.paved.dev/v1", Kind: "Widget", Metadata: api.ObjectMeta{Name: "w", Generation: gen}}
	if status != "" {
		o.Status = json.RawMessage(status)
	}
	return o
}

func statusMap(t *testing.T, o *api.Object) map[string]any {
	t.Helper()
	m := map[string]any{}
	if len(o.Status) > 0 {
		if err := json.Unmarshal(o.Status, &m); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// condSummary drops times so tables can state the rest.
type condSummary struct {
	Type, Status, Reason, Message string
	Gen                           int64
}

func summarize(cs []api.Condition) []condSummary {
	var out []condSummary
	for _, c := range cs {
		out = append(out, condSummary{c.Type, c.Status, c.Reason, c.Message, c.ObservedGeneration})
	}
	return out
}

func TestConditionHelpers(t *testing.T) {
	tests := []struct {
		name     string
		gen      int64
		status   string
		apply    func(o *api.Object) error
		want     []condSummary
		wantOG   any // status.observedGeneration, nil if absent
		wantKeep map[string]any
	}{
		{
			name: "reconciling on an empty status", gen: 3,
			apply: func(o *api.Object) error { return controller.MarkReconciling(o, "", "applying") },
			want:  []condSummary{{"Reconciling", "True", "Progressing", "applying", 3}},
		},
		{
			name: "ready removes reconciling and stalled, keeps other fields", gen: 2,
			status:   `{"url":"https://x","replicas":3,"conditions":[{"type":"Reconciling","status":"True","reason":"Progressing","lastTransitionTime":"2024-01-01T00:00:00Z"},{"type":"Stalled","status":"True","reason":"Bad","lastTransitionTime":"2024-01-01T00:00:00Z"},{"type":"Synced","status":"True","reason":"Applied","lastTransitionTime":"2024-01-01T00:00:00Z","observedGeneration":2}]}`,
			apply:    func(o *api.Object) error { return controller.MarkReady(o, "", "all good") },
			want:     []condSummary{{"Synced", "True", "Applied", "", 2}, {"Ready", "True", "Succeeded", "all good", 2}},
			wantOG:   float64(2),
			wantKeep: map[string]any{"url": "https://x", "replicas": float64(3)},
		},
		{
			name: "failed keeps retrying visible to kstatus", gen: 5,
			apply: func(o *api.Object) error { return controller.MarkFailed(o, "ApplyFailed", "connection refused") },
			want: []condSummary{{"Ready", "False", "ApplyFailed", "connection refused", 5},
				{"Reconciling", "True", "ProgressingWithRetry", "connection refused", 5}},
			wantOG: float64(5),
		},
		{
			name: "stalled replaces reconciling", gen: 1,
			status: `{"conditions":[{"type":"Reconciling","status":"True","reason":"Progressing","lastTransitionTime":"2024-01-01T00:00:00Z"}]}`,
			apply:  func(o *api.Object) error { return controller.MarkStalled(o, "InvalidSpec", "size must be positive") },
			want: []condSummary{{"Ready", "False", "InvalidSpec", "size must be positive", 1},
				{"Stalled", "True", "InvalidSpec", "size must be positive", 1}},
			wantOG: float64(1),
		},
		{
			name: "synced false", gen: 1,
			apply: func(o *api.Object) error { return controller.SetSynced(o, false, "PushFailed", "denied") },
			want:  []condSummary{{"Synced", "False", "PushFailed", "denied", 1}},
		},
		{
			name: "remove condition", gen: 1,
			status:   `{"phase":"x","conditions":[{"type":"Synced","status":"True","lastTransitionTime":"2024-01-01T00:00:00Z"}]}`,
			apply:    func(o *api.Object) error { return controller.RemoveCondition(o, "Synced") },
			want:     nil,
			wantKeep: map[string]any{"phase": "x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := objWithStatus(tt.gen, tt.status)
			if err := tt.apply(o); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, summarize(controller.Conditions(o))); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
			m := statusMap(t, o)
			if diff := cmp.Diff(tt.wantOG, m["observedGeneration"]); diff != "" {
				t.Errorf("status.observedGeneration (-want +got):\n%s", diff)
			}
			for k, v := range tt.wantKeep {
				if diff := cmp.Diff(v, m[k]); diff != "" {
					t.Errorf("status.%s was not kept (-want +got):\n%s", k, diff)
				}
			}
		})
	}
}

func TestSetConditionKeepsTransitionTimeWhileStatusHolds(t *testing.T) {
	old := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	o := objWithStatus(1, `{"conditions":[{"type":"Ready","status":"True","reason":"A","lastTransitionTime":"2024-01-01T00:00:00Z","observedGeneration":1}]}`)

	changed, err := controller.SetCondition(o, api.Condition{Type: "Ready", Status: "True", Reason: "A"})
	if err != nil || changed {
		t.Fatalf("same condition again: changed=%v err=%v; want no change", changed, err)
	}
	o.Metadata.Generation = 2
	changed, err = controller.SetCondition(o, api.Condition{Type: "Ready", Status: "True", Reason: "B", Message: "new reason"})
	if err != nil || !changed {
		t.Fatalf("new reason: changed=%v err=%v; want a change", changed, err)
	}
	c := controller.GetCondition(o, "Ready")
	if !c.LastTransitionTime.Equal(old) {
		t.Errorf("lastTransitionTime = %v; want it kept at %v while status stays True", c.LastTransitionTime, old)
	}
	if c.ObservedGeneration != 2 {
		t.Errorf("observedGeneration = %d, want 2 (metadata.generation)", c.ObservedGeneration)
	}
	if !controller.IsReady(o) {
		t.Error("IsReady = false")
	}
	if _, err = controller.SetCondition(o, api.Condition{Type: "Ready", Status: "False", Reason: "C"}); err != nil {
		t.Fatal(err)
	}
	if c := controller.GetCondition(o, "Ready"); !c.LastTransitionTime.After(old) {
		t.Errorf("lastTransitionTime = %v; want it moved when status changed", c.LastTransitionTime)
	}
	if controller.IsReady(o) {
		t.Error("IsReady = true with Ready=False")
	}
}

func TestConditionHelpersRefuseForeignStatus(t *testing.T) {
	for _, status := range []string{`"a string"`, `[1,2]`, `{"conditions":"nope"}`} {
		o := objWithStatus(1, status)
		if err := controller.MarkReady(o, "", ""); err == nil {
			t.Errorf("status %s: MarkReady succeeded; want an error rather than dropping the status", status)
		}
		if string(o.Status) != status {
			t.Errorf("status %s was changed to %s on error", status, o.Status)
		}
	}
}

func TestConditionNumbersKeepTheirText(t *testing.T) {
	o := objWithStatus(1, `{"bytes":12345678901234567890}`)
	if err := controller.MarkReady(o, "", ""); err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(o.Status, &m); err != nil {
		t.Fatal(err)
	}
	if got := string(m["bytes"]); got != "12345678901234567890" {
		t.Errorf("bytes = %s; a large number must not lose digits", got)
	}
}
