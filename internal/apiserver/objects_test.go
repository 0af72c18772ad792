package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/paved-dev/paved/api"
)

func TestListPagingReturnsEveryObjectOnce(t *testing.T) {
	f := newFixture(t)
	want := map[string]bool{}
	for i := range 23 {
		ns := []string{"alpha", "beta", "gamma"}[i%3]
		name := fmt.Sprintf("w%02d", i)
		o := f.createWidget(ns, name, `{"size":1}`)
		if i%2 == 0 {
			f.mustDo(req{method: "PATCH", path: "/apis/test.paved.dev/v1/namespaces/" + ns + "/widgets/" + name,
				contentType: "application/merge-patch+json", body: `{"metadata":{"labels":{"even":"yes"}}}`}, http.StatusOK)
		}
		want[o.Metadata.Namespace+"/"+o.Metadata.Name] = i%2 == 0
	}
	tests := []struct {
		name  string
		path  string
		query url.Values
		match func(key string, even bool) bool
	}{
		{"all namespaces", "/apis/test.paved.dev/v1/widgets", nil, func(string, bool) bool { return true }},
		{"one namespace", "/apis/test.paved.dev/v1/namespaces/beta/widgets", nil,
			func(k string, _ bool) bool { return strings.HasPrefix(k, "beta/") }},
		{"label selector", "/apis/test.paved.dev/v1/widgets", url.Values{"labelSelector": {"even=yes"}},
			func(_ string, even bool) bool { return even }},
		{"field selector", "/apis/test.paved.dev/v1/widgets", url.Values{"fieldSelector": {"metadata.namespace=gamma"}},
			func(k string, _ bool) bool { return strings.HasPrefix(k, "gamma/") }},
	}
	for _, tt := range tests {
		for _, limit := range []int{1, 4, 7, 100} {
			t.Run(fmt.Sprintf("%s limit %d", tt.name, limit), func(t *testing.T) {
				seen := map[string]int{}
				cont := ""
				for page := 0; ; page++ {
					if page > 50 {
						t.Fatal("paging does not end")
					}
					q := url.Values{"limit": {fmt.Sprint(limit)}}
					maps.Copy(q, tt.query)
					if cont != "" {
						q.Set("continue", cont)
					}
					l := f.mustDo(req{path: tt.path + "?" + q.Encode()}, http.StatusOK).list(t)
					if len(l.Items) > limit {
						t.Fatalf("page %d has %d items, limit %d", page, len(l.Items), limit)
					}
					if l.Metadata.ResourceVersion == "" {
						t.Errorf("page %d has no resourceVersion", page)
					}
					for _, o := range l.Items {
						seen[o.Metadata.Namespace+"/"+o.Metadata.Name]++
					}
					cont = l.Metadata.Continue
					if cont == "" {
						break
					}
				}
				for k, even := range want {
					n := seen[k]
					switch {
					case tt.match(k, even) && n != 1:
						t.Errorf("%s listed %d times, want once", k, n)
					case !tt.match(k, even) && n != 0:
						t.Errorf("%s listed, but it does not match", k)
					}
				}
			})
		}
	}
}

func TestMergePatch(t *testing.T) {
	f := newFixture(t)
	item := widgetsPath + "/p1"
	f.mustDo(req{method: "POST", path: widgetsPath, body: `{"apiVersion":"test.paved.dev/v1","kind":"Widget",
		"metadata":{"name":"p1","labels":{"keep":"1","drop":"1"},"annotations":{"a":"b"}},
		"spec":{"size":1,"color":"red","tags":{"a":1,"b":2}}}`}, http.StatusCreated)

	steps := []struct {
		name        string
		contentType string
		patch       string
		wantSpec    string
		wantLabels  map[string]string
		wantGen     int64
	}{
		{"null removes keys, objects merge", "application/merge-patch+json",
			`{"spec":{"color":null,"tags":{"a":null,"c":3}},"metadata":{"labels":{"drop":null,"new":"x"}}}`,
			`{"size":1,"tags":{"b":2,"c":3}}`, map[string]string{"keep": "1", "new": "x"}, 2},
		{"metadata only keeps generation", "application/merge-patch+json",
			`{"metadata":{"labels":{"more":"y"}}}`,
			`{"size":1,"tags":{"b":2,"c":3}}`, map[string]string{"keep": "1", "new": "x", "more": "y"}, 2},
		{"application/json is a merge patch", "application/json",
			`{"spec":{"size":9}}`,
			`{"size":9,"tags":{"b":2,"c":3}}`, map[string]string{"keep": "1", "new": "x", "more": "y"}, 3},
		{"arrays and scalars replace", "application/merge-patch+json",
			`{"spec":{"tags":{"list":[1,2]}}}`,
			`{"size":9,"tags":{"b":2,"c":3,"list":[1,2]}}`, map[string]string{"keep": "1", "new": "x", "more": "y"}, 4},
		{"null labels removes them all", "application/merge-patch+json",
			`{"metadata":{"labels":null}}`,
			`{"size":9,"tags":{"b":2,"c":3,"list":[1,2]}}`, nil, 4},
		{"empty patch changes nothing", "application/merge-patch+json",
			`{}`,
			`{"size":9,"tags":{"b":2,"c":3,"list":[1,2]}}`, nil, 4},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			got := f.mustDo(req{method: "PATCH", path: item, contentType: s.contentType, body: s.patch}, http.StatusOK).object(t)
			if string(got.Spec) != s.wantSpec {
				t.Errorf("spec = %s, want %s", got.Spec, s.wantSpec)
			}
			if diff := cmp.Diff(s.wantLabels, got.Metadata.Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
			if got.Metadata.Generation != s.wantGen {
				t.Errorf("generation = %d, want %d", got.Metadata.Generation, s.wantGen)
			}
			if got.Metadata.Annotations["a"] != "b" {
				t.Errorf("annotations lost: %v", got.Metadata.Annotations)
			}
			stored := f.mustDo(req{path: item}, http.StatusOK).object(t)
			if diff := cmp.Diff(got, stored); diff != "" {
				t.Errorf("PATCH answer differs from what GET reads (-patch +get):\n%s", diff)
			}
		})
	}

	t.Run("resourceVersion in the patch makes it conditional", func(t *testing.T) {
		cur := f.mustDo(req{path: item}, http.StatusOK).object(t)
		p := `{"metadata":{"resourceVersion":"` + cur.Metadata.ResourceVersion + `"},"spec":{"color":"blue"}}`
		got := f.mustDo(req{method: "PATCH", path: item, contentType: "application/merge-patch+json", body: p}, http.StatusOK).object(t)
		if !strings.Contains(string(got.Spec), `"color":"blue"`) {
			t.Errorf("spec = %s", got.Spec)
		}
		// The same patch again is now stale.
		r := f.mustDo(req{method: "PATCH", path: item, contentType: "application/merge-patch+json", body: p}, http.StatusConflict)
		if st := r.status(t); st.Reason != api.ReasonConflict {
			t.Errorf("reason = %s", st.Reason)
		}
	})
}

// TestConcurrentPatchesAllApply checks that patches without a resourceVersion are retried
// on conflict, so that concurrent patches of different fields all land.
func TestConcurrentPatchesAllApply(t *testing.T) {
	f := newFixture(t)
	f.createWidget("default", "busy", `{"size":1}`)
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, n)
	client := f.hs.Client()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"metadata":{"labels":{"l%d":"v"}}}`, i)
			hr, err := http.NewRequestWithContext(context.Background(), http.MethodPatch, f.hs.URL+widgetsPath+"/busy", strings.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			hr.Header.Set("Authorization", "Bearer "+f.token)
			hr.Header.Set("Content-Type", "application/merge-patch+json")
			res, err := client.Do(hr)
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				errs <- fmt.Errorf("patch %d: %d %s", i, res.StatusCode, b)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := f.mustDo(req{path: widgetsPath + "/busy"}, http.StatusOK).object(t)
	if len(got.Metadata.Labels) != n {
		t.Errorf("labels = %v, want %d of them", got.Metadata.Labels, n)
	}
}

func TestGenerationBumpsOnlyOnSpecChange(t *testing.T) {
	f := newFixture(t)
	item := widgetsPath + "/g1"
	f.createWidget("default", "g1", `{"size":1}`)
	steps := []struct {
		name    string
		req     req
		wantGen int64
	}{
		{"label change", req{method: "PUT", path: item, body: `{"apiVersion":"test.paved.dev/v1","kind":"Widget","metadata":{"name":"g1","labels":{"a":"b"}},"spec":{"size":1}}`}, 1},
		{"same spec, other key order and spacing", req{method: "PUT", path: item, body: `{"metadata":{"name":"g1","labels":{"a":"b"}},"spec":{ "size" : 1 }}`}, 1},
		{"status through PUT on the object is ignored", req{method: "PUT", path: item, body: `{"metadata":{"name":"g1","labels":{"a":"b"}},"spec":{"size":1},"status":{"phase":"x"}}`}, 1},
		{"spec change", req{method: "PUT", path: item, body: `{"metadata":{"name":"g1","labels":{"a":"b"}},"spec":{"size":2}}`}, 2},
		{"status change", req{method: "PUT", path: item + "/status", body: `{"metadata":{"name":"g1"},"status":{"observedGeneration":2}}`}, 2},
		{"spec patch", req{method: "PATCH", path: item, contentType: "application/merge-patch+json", body: `{"spec":{"size":3}}`}, 3},
		{"annotation patch", req{method: "PATCH", path: item, contentType: "application/merge-patch+json", body: `{"metadata":{"annotations":{"x":"y"}}}`}, 3},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			got := f.mustDo(s.req, http.StatusOK).object(t)
			if got.Metadata.Generation != s.wantGen {
				t.Errorf("generation = %d, want %d", got.Metadata.Generation, s.wantGen)
			}
		})
	}
	got := f.mustDo(req{path: item}, http.StatusOK).object(t)
	if string(got.Status) != `{"observedGeneration":2}` {
		t.Errorf("status = %s: PUT on the object must not have touched it", got.Status)
	}
}

func TestStatusSubresource(t *testing.T) {
	f := newFixture(t)
	item := widgetsPath + "/s1"
	created := f.createWidget("default", "s1", `{"size":1}`)

	// The status body carries another spec: only status may change.
	body := `{"apiVersion":"test.paved.dev/v1","kind":"Widget","metadata":{"name":"s1","labels":{"sneaky":"1"}},"spec":{"size":99},
		"status":{"observedGeneration":1,"conditions":[{"type":"Ready","status":"True","reason":"Done","lastTransitionTime":"2026-01-02T03:04:05Z"}]}}`
	got := f.mustDo(req{method: "PUT", path: item + "/status", body: body}, http.StatusOK).object(t)
	if string(got.Spec) != `{"size":1}` || got.Metadata.Labels != nil {
		t.Errorf("status update changed spec %s or labels %v", got.Spec, got.Metadata.Labels)
	}
	if got.Metadata.Generation != 1 {
		t.Errorf("generation = %d", got.Metadata.Generation)
	}
	cs := api.ReadCommonStatus(got)
	if c := api.FindCondition(cs.Conditions, api.ConditionReady); c == nil || c.Status != api.ConditionTrue {
		t.Errorf("conditions = %+v", cs.Conditions)
	}
	if got.Metadata.ResourceVersion == created.Metadata.ResourceVersion {
		t.Errorf("resourceVersion did not move")
	}

	// GET on /status returns the whole object.
	st := f.mustDo(req{path: item + "/status"}, http.StatusOK).object(t)
	if diff := cmp.Diff(got, st); diff != "" {
		t.Errorf("GET status (-put +get):\n%s", diff)
	}

	// A merge patch on /status changes only status, whatever else it names.
	got = f.mustDo(req{method: "PATCH", path: item + "/status", contentType: "application/merge-patch+json",
		body: `{"spec":{"size":50},"status":{"phase":"Running","conditions":null}}`}, http.StatusOK).object(t)
	if string(got.Spec) != `{"size":1}` {
		t.Errorf("status patch changed spec: %s", got.Spec)
	}
	var status map[string]any
	if err := json.Unmarshal(got.Status, &status); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"observedGeneration": float64(1), "phase": "Running"}, status); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}

	// A stale resourceVersion on /status is a conflict.
	stale := `{"metadata":{"name":"s1","resourceVersion":"` + created.Metadata.ResourceVersion + `"},"status":{"phase":"Old"}}`
	f.mustDo(req{method: "PUT", path: item + "/status", body: stale}, http.StatusConflict)
}

func TestFinalizerDeleteFlow(t *testing.T) {
	f := newFixture(t)
	item := widgetsPath + "/fin"
	created := f.mustDo(req{method: "POST", path: widgetsPath, body: `{"apiVersion":"test.paved.dev/v1","kind":"Widget",
		"metadata":{"name":"fin","finalizers":["test.paved.dev/a","test.paved.dev/b"]},"spec":{"size":1}}`}, http.StatusCreated).object(t)

	// DELETE with a matching uid precondition marks the object; it stays readable.
	del := f.mustDo(req{method: "DELETE", path: item, body: `{"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"uid":"` + created.Metadata.UID + `"}}`}, http.StatusOK).object(t)
	if del.Metadata.DeletionTimestamp == nil {
		t.Fatalf("no deletionTimestamp after DELETE with finalizers: %+v", del.Metadata)
	}
	got := f.mustDo(req{path: item}, http.StatusOK).object(t)
	if got.Metadata.DeletionTimestamp == nil || !slices.Equal(got.Metadata.Finalizers, created.Metadata.Finalizers) {
		t.Errorf("stored object = %+v", got.Metadata)
	}
	// A second DELETE is harmless.
	again := f.mustDo(req{method: "DELETE", path: item}, http.StatusOK).object(t)
	if again.Metadata.ResourceVersion != got.Metadata.ResourceVersion {
		t.Errorf("second DELETE wrote again")
	}
	// Spec is frozen and no finalizer may be added.
	f.mustDo(req{method: "PATCH", path: item, contentType: "application/merge-patch+json", body: `{"spec":{"size":2}}`}, http.StatusUnprocessableEntity)
	f.mustDo(req{method: "PATCH", path: item, contentType: "application/merge-patch+json",
		body: `{"metadata":{"finalizers":["test.paved.dev/a","test.paved.dev/b","test.paved.dev/c"]}}`}, http.StatusUnprocessableEntity)

	// Removing one finalizer keeps it; removing the last deletes it.
	got = f.mustDo(req{method: "PATCH", path: item, contentType: "application/merge-patch+json",
		body: `{"metadata":{"finalizers":["test.paved.dev/b"]}}`}, http.StatusOK).object(t)
	if !slices.Equal(got.Metadata.Finalizers, []string{"test.paved.dev/b"}) {
		t.Errorf("finalizers = %v", got.Metadata.Finalizers)
	}
	f.mustDo(req{path: item}, http.StatusOK)
	last := f.mustDo(req{method: "PATCH", path: item, contentType: "application/merge-patch+json",
		body: `{"metadata":{"finalizers":null}}`}, http.StatusOK).object(t)
	if last.Metadata.DeletionTimestamp == nil {
		t.Errorf("the last state lacks its deletionTimestamp")
	}
	f.mustDo(req{path: item}, http.StatusNotFound)

	// Without finalizers DELETE removes at once and answers with the last state.
	plain := f.createWidget("default", "plain", `{"size":7}`)
	gone := f.mustDo(req{method: "DELETE", path: widgetsPath + "/plain?resourceVersion=" + plain.Metadata.ResourceVersion}, http.StatusOK).object(t)
	if gone.Metadata.UID != plain.Metadata.UID || string(gone.Spec) != `{"size":7}` {
		t.Errorf("DELETE answered %+v", gone)
	}
	f.mustDo(req{path: widgetsPath + "/plain"}, http.StatusNotFound)
}
