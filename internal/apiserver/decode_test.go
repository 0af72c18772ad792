package apiserver

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/paved-dev/paved/api"
)

// TestBadInputWritesNothing sends every kind of bad request and checks the answer's code,
// reason and message, and that the store's revision did not move.
func TestBadInputWritesNothing(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxBodyBytes = 64 << 10 })
	w1 := f.createWidget("default", "w1", `{"size":1}`)
	item := widgetsPath + "/w1"
	big := widget("default", "big", `{"size":1,"marker":"`+strings.Repeat("x", 100<<10)+`"}`)
	const mergePatch = "application/merge-patch+json"

	tests := []struct {
		name       string
		req        req
		wantCode   int
		wantReason string
		wantMsg    string // substring of the message
		wantCause  string // a field path among the causes
	}{
		{"malformed JSON", req{method: "POST", path: widgetsPath, body: `{"apiVersion": "test.paved.dev/v1",`},
			400, api.ReasonBadRequest, "not valid JSON", ""},
		{"not an object", req{method: "POST", path: widgetsPath, body: `["a"]`},
			400, api.ReasonBadRequest, "must be a JSON object", ""},
		{"empty body", req{method: "POST", path: widgetsPath, contentType: "application/json"},
			400, api.ReasonBadRequest, "empty", ""},
		{"trailing data", req{method: "POST", path: widgetsPath, body: widget("", "w2", `{"size":1}`) + `{}`},
			400, api.ReasonBadRequest, "after the object", ""},
		{"malformed YAML", req{method: "POST", path: widgetsPath, contentType: "application/yaml", body: "kind: Widget\n  metadata: [\n"},
			400, api.ReasonBadRequest, "not valid YAML", ""},
		{"duplicate YAML key", req{method: "POST", path: widgetsPath, contentType: "application/yaml",
			body: "apiVersion: test.paved.dev/v1\nkind: Widget\nkind: Widget\nmetadata: {name: w2}\nspec: {size: 1}\n"},
			400, api.ReasonBadRequest, "not valid YAML", ""},
		{"several YAML documents", req{method: "POST", path: widgetsPath, contentType: "application/yaml",
			body: "apiVersion: test.paved.dev/v1\nkind: Widget\nmetadata: {name: w2}\nspec: {size: 1}\n---\napiVersion: test.paved.dev/v1\nkind: Widget\nmetadata: {name: w3}\nspec: {size: 1}\n"},
			400, api.ReasonBadRequest, "2 YAML documents", ""},
		{"unknown top-level field", req{method: "POST", path: widgetsPath, body: `{"apiVersion":"test.paved.dev/v1","kind":"Widget","metadata":{"name":"w2"},"specs":{"size":1}}`},
			400, api.ReasonBadRequest, `unknown field "specs"`, "specs"},
		{"mis-cased field", req{method: "POST", path: widgetsPath, body: `{"apiVersion":"test.paved.dev/v1","Kind":"Widget","metadata":{"name":"w2"},"spec":{"size":1}}`},
			400, api.ReasonBadRequest, `unknown field "Kind"`, "Kind"},
		{"unknown metadata field", req{method: "POST", path: widgetsPath, body: `{"apiVersion":"test.paved.dev/v1","kind":"Widget","metadata":{"name":"w2","lables":{}},"spec":{"size":1}}`},
			400, api.ReasonBadRequest, `unknown field "metadata.lables"`, "metadata.lables"},
		{"wrong type in metadata", req{method: "POST", path: widgetsPath, body: `{"apiVersion":"test.paved.dev/v1","kind":"Widget","metadata":{"name":"w2","labels":"x"},"spec":{"size":1}}`},
			400, api.ReasonBadRequest, "labels", ""},
		{"unknown plural", req{method: "POST", path: "/apis/test.paved.dev/v1/namespaces/default/gadgets", body: widget("", "w2", `{"size":1}`)},
			404, api.ReasonNotFound, `no resource "gadgets"`, ""},
		{"unknown group", req{path: "/apis/nope.dev/v1/widgets"},
			404, api.ReasonNotFound, `no resource "widgets"`, ""},
		{"unregistered kind in body", req{method: "POST", path: widgetsPath, body: `{"apiVersion":"test.paved.dev/v1","kind":"Gadget","metadata":{"name":"w2"}}`},
			400, api.ReasonBadRequest, "Gadget", ""},
		{"other kind than the path", req{method: "POST", path: widgetsPath, body: `{"apiVersion":"paved.dev/v1","kind":"Environment","metadata":{"name":"w2"}}`},
			400, api.ReasonBadRequest, "path is for Widget", ""},
		{"schema violation", req{method: "POST", path: widgetsPath, body: widget("", "w2", `{"size":0,"color":7}`)},
			422, api.ReasonInvalid, "spec.size", "spec.color"},
		{"missing required field", req{method: "POST", path: widgetsPath, body: widget("", "w2", `{}`)},
			422, api.ReasonInvalid, "size", "spec"},
		{"spec not an object", req{method: "POST", path: widgetsPath, body: widget("", "w2", `[1]`)},
			422, api.ReasonInvalid, "must be an object", "spec"},
		{"invalid name", req{method: "POST", path: widgetsPath, body: widget("", "W_2", `{"size":1}`)},
			422, api.ReasonInvalid, "metadata.name", "metadata.name"},
		{"already exists", req{method: "POST", path: widgetsPath, body: widget("", "w1", `{"size":1}`)},
			409, api.ReasonAlreadyExists, "already exists", ""},
		{"resourceVersion on create", req{method: "POST", path: widgetsPath, body: `{"apiVersion":"test.paved.dev/v1","kind":"Widget","metadata":{"name":"w2","resourceVersion":"3"},"spec":{"size":1}}`},
			400, api.ReasonBadRequest, "resourceVersion", ""},
		{"oversized body", req{method: "POST", path: widgetsPath, body: big},
			413, api.ReasonTooLarge, "bytes", ""},
		{"unsupported media type", req{method: "POST", path: widgetsPath, contentType: "text/plain", body: widget("", "w2", `{"size":1}`)},
			415, api.ReasonUnsupportedMedia, "text/plain", ""},
		{"unsupported charset", req{method: "POST", path: widgetsPath, contentType: "application/json; charset=latin1", body: widget("", "w2", `{"size":1}`)},
			415, api.ReasonUnsupportedMedia, "charset", ""},
		{"wrong namespace", req{method: "POST", path: widgetsPath, body: widget("other", "w2", `{"size":1}`)},
			400, api.ReasonBadRequest, `metadata.namespace "other"`, ""},
		{"namespace on cluster-scoped kind", req{method: "POST", path: "/apis/paved.dev/v1/environments", body: `{"apiVersion":"paved.dev/v1","kind":"Environment","metadata":{"name":"dev","namespace":"x"}}`},
			422, api.ReasonInvalid, "cluster-scoped", "metadata.namespace"},
		{"name mismatch", req{method: "PUT", path: item, body: widget("default", "w9", `{"size":2}`)},
			400, api.ReasonBadRequest, `metadata.name "w9"`, ""},
		{"update of missing object", req{method: "PUT", path: widgetsPath + "/w9", body: widget("default", "w9", `{"size":2}`)},
			404, api.ReasonNotFound, "not found", ""},
		{"stale resourceVersion", req{method: "PUT", path: item, body: `{"apiVersion":"test.paved.dev/v1","kind":"Widget","metadata":{"name":"w1","resourceVersion":"1000"},"spec":{"size":2}}`},
			409, api.ReasonConflict, "modified", ""},
		{"update schema violation", req{method: "PUT", path: item, body: widget("default", "w1", `{"size":"big"}`)},
			422, api.ReasonInvalid, "spec.size", "spec.size"},
		{"patch type not supported", req{method: "PATCH", path: item, contentType: "application/json-patch+json", body: `[{"op":"add","path":"/spec/size","value":2}]`},
			415, api.ReasonUnsupportedMedia, "merge patch", ""},
		{"patch without content type", req{method: "PATCH", path: item, contentType: " ", body: `{}`},
			415, api.ReasonUnsupportedMedia, "", ""},
		{"patch not JSON", req{method: "PATCH", path: item, contentType: mergePatch, body: `{"spec":`},
			400, api.ReasonBadRequest, "not valid JSON", ""},
		{"patch not an object", req{method: "PATCH", path: item, contentType: mergePatch, body: `[1]`},
			400, api.ReasonBadRequest, "must be a JSON object", ""},
		{"patch adds unknown field", req{method: "PATCH", path: item, contentType: mergePatch, body: `{"specs":{"size":2}}`},
			400, api.ReasonBadRequest, `unknown field "specs"`, ""},
		{"patch renames", req{method: "PATCH", path: item, contentType: mergePatch, body: `{"metadata":{"name":"w9"}}`},
			400, api.ReasonBadRequest, "metadata.name", ""},
		{"patch changes kind", req{method: "PATCH", path: item, contentType: mergePatch, body: `{"kind":"Environment"}`},
			400, api.ReasonBadRequest, "kind", ""},
		{"patch schema violation", req{method: "PATCH", path: item, contentType: mergePatch, body: `{"spec":{"size":null}}`},
			422, api.ReasonInvalid, "size", "spec"},
		{"patch with stale resourceVersion", req{method: "PATCH", path: item, contentType: mergePatch, body: `{"metadata":{"resourceVersion":"1000"},"spec":{"size":2}}`},
			409, api.ReasonConflict, "", ""},
		{"patch with another uid", req{method: "PATCH", path: item, contentType: mergePatch, body: `{"metadata":{"uid":"0000"},"spec":{"size":2}}`},
			409, api.ReasonConflict, "uid", ""},
		{"update with another uid", req{method: "PUT", path: item, body: `{"metadata":{"name":"w1","uid":"0000"},"spec":{"size":2}}`},
			409, api.ReasonConflict, "uid", ""},
		{"invalid label value", req{method: "POST", path: widgetsPath, body: `{"apiVersion":"test.paved.dev/v1","kind":"Widget","metadata":{"name":"w2","labels":{"app":"not valid!"}},"spec":{"size":1}}`},
			422, api.ReasonInvalid, "metadata.labels[app]", "metadata.labels[app]"},
		{"patch of missing object", req{method: "PATCH", path: widgetsPath + "/w9", contentType: mergePatch, body: `{"spec":{"size":2}}`},
			404, api.ReasonNotFound, "", ""},
		{"bad label selector", req{path: widgetsPath + "?labelSelector=a%20in%20(b"},
			400, api.ReasonBadRequest, "label selector", ""},
		{"bad field selector", req{path: widgetsPath + "?fieldSelector=spec.size%3D1"},
			400, api.ReasonBadRequest, "field selector", ""},
		{"bad continue token", req{path: widgetsPath + "?limit=1&continue=not-a-token"},
			400, api.ReasonBadRequest, "continue token", ""},
		{"bad limit", req{path: widgetsPath + "?limit=-1"},
			400, api.ReasonBadRequest, "limit", ""},
		{"bad watch flag", req{path: widgetsPath + "?watch=maybe"},
			400, api.ReasonBadRequest, "watch", ""},
		{"bad watch resourceVersion", req{path: widgetsPath + "?watch=true&resourceVersion=abc"},
			400, api.ReasonBadRequest, "resourceVersion", ""},
		{"bad watch label selector", req{path: widgetsPath + "?watch=1&labelSelector=%21%21"},
			400, api.ReasonBadRequest, "label selector", ""},
		{"bad watch timeout", req{path: widgetsPath + "?watch=1&timeoutSeconds=soon"},
			400, api.ReasonBadRequest, "timeoutSeconds", ""},
		{"delete with wrong uid", req{method: "DELETE", path: item + "?uid=nope"},
			409, api.ReasonConflict, "uid", ""},
		{"delete with wrong resourceVersion in body", req{method: "DELETE", path: item, body: `{"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"resourceVersion":"1000"}}`},
			409, api.ReasonConflict, "resourceVersion", ""},
		{"delete with preconditions that disagree", req{method: "DELETE", path: item + "?uid=a", body: `{"preconditions":{"uid":"b"}}`},
			400, api.ReasonBadRequest, "differ", ""},
		{"delete with orphan policy", req{method: "DELETE", path: item, body: `{"propagationPolicy":"Orphan"}`},
			400, api.ReasonBadRequest, "propagationPolicy", ""},
		{"delete with unknown option", req{method: "DELETE", path: item, body: `{"gracePeriod":0}`},
			400, api.ReasonBadRequest, "gracePeriod", ""},
		{"delete of missing object", req{method: "DELETE", path: widgetsPath + "/w9"},
			404, api.ReasonNotFound, "", ""},
		{"write without token", req{method: "POST", path: widgetsPath, body: widget("", "w2", `{"size":1}`), noToken: true},
			401, api.ReasonUnauthorized, "Bearer", ""},
		{"write with wrong token", req{method: "DELETE", path: item, token: f.token + "x"},
			401, api.ReasonUnauthorized, "not valid", ""},
		{"read without token", req{path: item, noToken: true},
			401, api.ReasonUnauthorized, "", ""},
		{"wrong method", req{method: "POST", path: item, body: widget("default", "w1", `{"size":1}`)},
			405, api.ReasonMethodNotAllowed, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.revision()
			r := f.do(tt.req)
			if r.code != tt.wantCode {
				t.Fatalf("got %d, want %d: %s", r.code, tt.wantCode, r.body)
			}
			st := r.status(t)
			if st.Reason != tt.wantReason || st.Code != tt.wantCode || st.Status != "Failure" {
				t.Errorf("status = %s/%d/%s, want %s/%d/Failure", st.Reason, st.Code, st.Status, tt.wantReason, tt.wantCode)
			}
			if !strings.Contains(st.Message, tt.wantMsg) {
				t.Errorf("message %q does not contain %q", st.Message, tt.wantMsg)
			}
			if tt.wantCause != "" && !hasCause(st, tt.wantCause) {
				t.Errorf("causes %+v lack field %q", st.Details, tt.wantCause)
			}
			if tt.wantCode == http.StatusUnauthorized {
				wa := r.header.Get("WWW-Authenticate")
				if !strings.HasPrefix(wa, `Bearer realm="paved"`) {
					t.Errorf("WWW-Authenticate = %q", wa)
				}
				if wantInvalid := tt.req.token != ""; strings.Contains(wa, "invalid_token") != wantInvalid {
					t.Errorf("WWW-Authenticate = %q: invalid_token only for a wrong token", wa)
				}
			}
			if after := f.revision(); after != before {
				t.Errorf("store revision moved from %d to %d on a bad request", before, after)
			}
		})
	}
	// The object everything above aimed at is as it was.
	got := f.mustDo(req{path: item}, http.StatusOK).object(t)
	if got.Metadata.ResourceVersion != w1.Metadata.ResourceVersion {
		t.Errorf("w1 changed: resourceVersion %s, was %s", got.Metadata.ResourceVersion, w1.Metadata.ResourceVersion)
	}
}

func hasCause(st *api.Status, field string) bool {
	if st.Details == nil {
		return false
	}
	for _, c := range st.Details.Causes {
		if c.Field == field {
			return true
		}
	}
	return false
}

// TestOversizedBodyWithoutLength checks the limit holds for a chunked body, which
// announces no Content-Length to refuse early.
func TestOversizedBodyWithoutLength(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxBodyBytes = 1 << 10 })
	before := f.revision()
	body := widget("default", "big", `{"size":1,"marker":"`+strings.Repeat("x", 4<<10)+`"}`)
	// A reader that is not a *bytes.Reader or *strings.Reader makes the client send chunks.
	hr, err := http.NewRequest(http.MethodPost, f.hs.URL+widgetsPath, struct{ *bytes.Buffer }{bytes.NewBufferString(body)})
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Authorization", "Bearer "+f.token)
	hr.Header.Set("Content-Type", "application/json")
	r := f.send(hr)
	if r.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("got %d, want 413: %s", r.code, r.body)
	}
	if st := r.status(t); st.Reason != api.ReasonTooLarge {
		t.Errorf("reason = %s", st.Reason)
	}
	if f.revision() != before {
		t.Errorf("an oversized body was written")
	}
}

func TestCreateFromYAML(t *testing.T) {
	f := newFixture(t)
	body := "apiVersion: test.paved.dev/v1\nkind: Widget\nmetadata:\n  name: from-yaml\n  labels:\n    app: web\nspec:\n  size: 3\n  tags:\n    a: \"1\"\n"
	got := f.mustDo(req{method: "POST", path: widgetsPath, contentType: "application/yaml", body: body}, http.StatusCreated).object(t)
	if got.Metadata.Namespace != "default" || got.Metadata.Labels["app"] != "web" {
		t.Errorf("metadata = %+v", got.Metadata)
	}
	if string(got.Spec) != `{"size":3,"tags":{"a":"1"}}` {
		t.Errorf("spec = %s", got.Spec)
	}
	// PUT in YAML too; the object's kind and apiVersion may be left to the path.
	put := "metadata:\n  name: from-yaml\nspec:\n  size: 4\n"
	got = f.mustDo(req{method: "PUT", path: widgetsPath + "/from-yaml", contentType: "application/yaml", body: put}, http.StatusOK).object(t)
	if string(got.Spec) != `{"size":4}` || got.Kind != "Widget" {
		t.Errorf("after PUT: kind %q spec %s", got.Kind, got.Spec)
	}
}
