package entity

import (
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	xy := RefDefaults{Kind: "x", Namespace: "y"}
	cases := []struct {
		in       string
		defaults RefDefaults
		want     CompoundRef
		err      string // substring of the error; "" for success
	}{
		{"a:b/c", RefDefaults{}, CompoundRef{"a", "b", "c"}, ""},
		{"a:c", RefDefaults{}, CompoundRef{"a", "default", "c"}, ""},
		{"b/c", RefDefaults{}, CompoundRef{}, "missing or empty kind"},
		{"c", RefDefaults{}, CompoundRef{}, "missing or empty kind"},
		{"a:b/c", xy, CompoundRef{"a", "b", "c"}, ""},
		{"b/c", xy, CompoundRef{"x", "b", "c"}, ""},
		{"a:c", xy, CompoundRef{"a", "y", "c"}, ""},
		{"c", xy, CompoundRef{"x", "y", "c"}, ""},
		{"c", RefDefaults{Kind: "x"}, CompoundRef{"x", "default", "c"}, ""},
		// Case is kept as written; String lower-cases.
		{"User:Guest", RefDefaults{}, CompoundRef{"User", "default", "Guest"}, ""},
		// ":" and "/" may appear in names (backstage#10073).
		{"a:b:c", RefDefaults{}, CompoundRef{"a", "default", "b:c"}, ""},
		{"a/b/c", xy, CompoundRef{"x", "a", "b/c"}, ""},
		{"a/b:c", xy, CompoundRef{"x", "a", "b:c"}, ""},
		{"a:b/c/d", RefDefaults{}, CompoundRef{"a", "b", "c/d"}, ""},
		{"a:b/c:d", RefDefaults{}, CompoundRef{"a", "b", "c:d"}, ""},
		{"web@example.com", RefDefaults{Kind: "Group"}, CompoundRef{"Group", "default", "web@example.com"}, ""},
		{"backstage/techdocs-core", RefDefaults{Kind: "Group"}, CompoundRef{"Group", "backstage", "techdocs-core"}, ""},
		// Empty parts are errors, not defaults.
		{":b/c", xy, CompoundRef{}, "was not on the form"},
		{"a:/c", xy, CompoundRef{}, "was not on the form"},
		{"a:b/", xy, CompoundRef{}, "was not on the form"},
		{"a:/", xy, CompoundRef{}, "was not on the form"},
		{":b/", xy, CompoundRef{}, "was not on the form"},
		{":/c", xy, CompoundRef{}, "was not on the form"},
		{":/", xy, CompoundRef{}, "was not on the form"},
		{"/c", xy, CompoundRef{}, "was not on the form"},
		{"b/", xy, CompoundRef{}, "was not on the form"},
		{":c", xy, CompoundRef{}, "was not on the form"},
		{"a:", xy, CompoundRef{}, "was not on the form"},
		{"", xy, CompoundRef{}, "must not be empty"},
	}
	for _, tc := range cases {
		got, err := ParseRef(tc.in, tc.defaults)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseRef(%q) error = %v, want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRef(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseRef(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseRefErrorMessageMatchesBackstage(t *testing.T) {
	_, err := ParseRef("r", RefDefaults{Namespace: "default"})
	want := `entity reference "r" had missing or empty kind (e.g. did not start with "component:" or similar)`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
}

func TestRefStringAndEqual(t *testing.T) {
	cases := []struct {
		ref  CompoundRef
		want string
	}{
		{CompoundRef{"Component", "default", "artist-lookup"}, "component:default/artist-lookup"},
		{CompoundRef{"Group", "", "Team-A"}, "group:default/team-a"},
		{CompoundRef{"USER", "Development", "Guest"}, "user:development/guest"},
		{CompoundRef{"Group", "default", "İnfra"}, "group:default/i̇nfra"}, // full case mapping, as JavaScript
	}
	for _, tc := range cases {
		if got := tc.ref.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.ref, got, tc.want)
		}
	}
	if !(CompoundRef{"K", "ns", "n"}).Equal(CompoundRef{"k", "nS", "N"}) {
		t.Error("refs differing in case should be equal")
	}
	if (CompoundRef{"K", "ns", "n"}).Equal(CompoundRef{"K", "ns", "m"}) {
		t.Error("refs with different names should differ")
	}
	if !(CompoundRef{"K", "", "n"}).Equal(CompoundRef{"K", "default", "n"}) {
		t.Error("an empty namespace should equal the default namespace")
	}
	e := &Entity{Kind: "Component", Metadata: Metadata{Name: "Petstore"}}
	if got := e.Ref().String(); got != "component:default/petstore" {
		t.Errorf("entity ref = %q", got)
	}
}
