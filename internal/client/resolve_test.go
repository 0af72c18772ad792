package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/kinds"
)

func testResources() []api.APIResource {
	var out []api.APIResource
	for _, k := range kinds.NewRegistry().All() {
		out = append(out, k.Describe())
	}
	return append(out,
		api.APIResource{Group: "backstage.io", Version: "v1alpha1", Kind: "Component", Plural: "components", Singular: "component", Namespaced: true},
		api.APIResource{Group: "other.io", Version: "v1", Kind: "Component", Plural: "components", Singular: "component", Namespaced: true},
	)
}

func TestResolve(t *testing.T) {
	rs := testResources()
	tests := []struct {
		name      string
		wantKind  string
		wantGroup string
		wantErr   string
	}{
		{"Environment", "Environment", "paved.dev", ""},
		{"environments", "Environment", "paved.dev", ""},
		{"environment", "Environment", "paved.dev", ""},
		{"ENV", "Environment", "paved.dev", ""},
		{"ns", "Namespace", "paved.dev", ""},
		{"events.paved.dev", "Event", "paved.dev", ""},
		{"components.backstage.io", "Component", "backstage.io", ""},
		{"components", "", "", "ambiguous kind"},
		{"widgets", "", "", `unknown kind "widgets"`},
	}
	for _, tt := range tests {
		got, err := resolve(rs, tt.name)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("resolve(%q) error = %v, want one containing %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("resolve(%q): %v", tt.name, err)
			continue
		}
		if got.Kind != tt.wantKind || got.Group != tt.wantGroup {
			t.Errorf("resolve(%q) = %s.%s, want %s.%s", tt.name, got.Kind, got.Group, tt.wantKind, tt.wantGroup)
		}
	}
	if _, err := resolve(rs, "components"); !errors.Is(err, kinds.ErrAmbiguous) {
		t.Errorf("ambiguous name error = %v, want kinds.ErrAmbiguous", err)
	}
}

func TestPath(t *testing.T) {
	env := api.APIResource{Group: "paved.dev", Version: "v1", Plural: "environments"}
	ev := api.APIResource{Group: "paved.dev", Version: "v1", Plural: "events", Namespaced: true}
	tests := []struct {
		r        api.APIResource
		ns, name string
		want     string
	}{
		{env, "", "", "/apis/paved.dev/v1/environments"},
		{env, "ignored", "dev", "/apis/paved.dev/v1/environments/dev"},
		{ev, "", "", "/apis/paved.dev/v1/events"},
		{ev, "team-a", "", "/apis/paved.dev/v1/namespaces/team-a/events"},
		{ev, "team-a", "e1", "/apis/paved.dev/v1/namespaces/team-a/events/e1"},
		{ev, "a b", "c/d", "/apis/paved.dev/v1/namespaces/a%20b/events/c%2Fd"},
	}
	for _, tt := range tests {
		if got := Path(tt.r, tt.ns, tt.name); got != tt.want {
			t.Errorf("Path(%s, %q, %q) = %q, want %q", tt.r.Plural, tt.ns, tt.name, got, tt.want)
		}
	}
}

func TestDecodeEvent(t *testing.T) {
	ev := decodeEvent([]byte(`{"type":"ADDED","object":{"apiVersion":"paved.dev/v1","kind":"Namespace","metadata":{"name":"a"}}}`))
	if ev.Type != api.EventAdded || ev.Object.Metadata.Name != "a" {
		t.Errorf("ADDED event decoded as %+v", ev)
	}
	st, _ := json.Marshal(api.NewError(api.ReasonGone, "revision 3 has been compacted"))
	ev = decodeEvent([]byte(`{"type":"ERROR","object":` + string(st) + `}`))
	if ev.Type != api.EventError {
		t.Fatalf("ERROR event decoded as type %q", ev.Type)
	}
	if s := StatusOf(ev); !api.IsGone(s) || s.Message != "revision 3 has been compacted" {
		t.Errorf("StatusOf(ERROR event) = %+v", s)
	}
	ev = decodeEvent([]byte(`{not json`))
	if ev.Type != api.EventError || !strings.Contains(StatusOf(ev).Message, "undecodable") {
		t.Errorf("garbage line decoded as %+v", ev)
	}
}

func TestNewRejectsBadServerAddress(t *testing.T) {
	for _, addr := range []string{"", "ftp://host", "http://", "http://a b"} {
		c := New(addr, "")
		if _, err := c.Kinds(t.Context()); err == nil || !strings.Contains(err.Error(), "server address") {
			t.Errorf("New(%q).Kinds error = %v, want a server address error", addr, err)
		}
	}
}

func TestNewAcceptsHostPort(t *testing.T) {
	if got := New("127.0.0.1:7007/", "").Server(); got != "http://127.0.0.1:7007" {
		t.Errorf("Server() = %q, want http://127.0.0.1:7007", got)
	}
}

func TestDecodeError(t *testing.T) {
	resp := func(code int, body string) *http.Response {
		return &http.Response{StatusCode: code, Status: fmt.Sprintf("%d %s", code, http.StatusText(code)),
			Body: io.NopCloser(strings.NewReader(body))}
	}
	st, _ := json.Marshal(api.NewNotFound("Environment", "dev"))
	err := decodeError(resp(404, string(st)))
	if !api.IsNotFound(err) || err.Error() != `Environment "dev" not found` {
		t.Errorf("Status body decoded as %v", err)
	}
	// A proxy in front of the server answers with its own page.
	err = decodeError(resp(502, "<html>Bad Gateway</html>"))
	if api.ReasonOf(err) != api.ReasonInternalError || !strings.Contains(err.Error(), "502 Bad Gateway: <html>Bad Gateway</html>") {
		t.Errorf("HTML body decoded as %q (reason %q)", err, api.ReasonOf(err))
	}
	err = decodeError(resp(401, ""))
	if api.ReasonOf(err) != api.ReasonUnauthorized {
		t.Errorf("empty 401 decoded with reason %q", api.ReasonOf(err))
	}
}
