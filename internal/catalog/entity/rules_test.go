package entity

import (
	"strings"
	"testing"
)

// The cases follow catalog-model's KubernetesValidatorFunctions tests, plus the edges of
// each rule.

var (
	a63       = strings.Repeat("a", 63)
	a64       = strings.Repeat("a", 64)
	subdomain = a63 + "." + a63 + "." + a63 + "." + strings.Repeat("a", 61) // 253 characters
)

func TestIsValidName(t *testing.T) {
	cases := map[string]bool{
		"":                  false,
		"a":                 true,
		"AZ09":              true,
		a63:                 true,
		a64:                 false,
		"a/b":               false,
		"a-b":               true,
		"-a-b":              false,
		"a-b-":              false,
		"a--b":              true,
		"a_b":               true,
		"a.b":               true,
		"a..b":              true,
		"artist-lookup":     true,
		"LoremService":      true,
		"invalid component": false,
		"jenny.doe":         true,
		"a:b":               false,
		"é":                 false,
		"a\n":               false, // JavaScript's $ does not match before a trailing newline
	}
	for in, want := range cases {
		if got := IsValidName(in); got != want {
			t.Errorf("IsValidName(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestIsValidNamespace(t *testing.T) {
	cases := map[string]bool{
		"":            false,
		"a":           true,
		"AZ09":        false,
		a63:           true,
		a64:           false,
		"a/b":         false,
		"a-b":         true,
		"-a-b":        false,
		"a-b-":        false,
		"a--b":        false,
		"a_b":         false,
		"a.b":         false,
		"default":     true,
		"development": true,
		"team-1":      true,
	}
	for in, want := range cases {
		if got := IsValidNamespace(in); got != want {
			t.Errorf("IsValidNamespace(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestIsValidKind(t *testing.T) {
	cases := map[string]bool{
		"": false, "a": true, "AZ09": true, "9AZ": false, a63: true, a64: false, "a-b": false,
		"Component": true, "AiResource": true, "API": true, "a_b": false,
	}
	for in, want := range cases {
		if got := IsValidKind(in); got != want {
			t.Errorf("IsValidKind(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestIsValidAPIVersion(t *testing.T) {
	cases := map[string]bool{
		"":                                false,
		"a":                               true,
		"AZ09":                            true,
		a63:                               true,
		a64:                               false,
		"a-b":                             false,
		"a_b":                             false,
		"a.b":                             false,
		"a/a":                             true,
		"a/aAb5C":                         true,
		"a-b.c/v1":                        true,
		"a--b.c/v1":                       false,
		subdomain + "/v1":                 true,
		subdomain + "a/v1":                false, // 254 characters of prefix
		"a/" + a63:                        true,
		"a/" + a64:                        false,
		"backstage.io/v1alpha1":           true,
		"scaffolder.backstage.io/v1beta3": true,
		"Backstage.io/v1alpha1":           false,
		"a/b/c":                           false,
		"/v1":                             false,
		"a/":                              false,
	}
	for in, want := range cases {
		if got := IsValidAPIVersion(in); got != want {
			t.Errorf("IsValidAPIVersion(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestIsValidLabelKeyAndValue(t *testing.T) {
	keys := map[string]bool{
		"":                                 false,
		"a":                                true,
		"AZ09":                             true,
		a63:                                true,
		a64:                                false,
		"a/b":                              true,
		"a-b":                              true,
		"-a-b":                             false,
		"a-b-":                             false,
		"a--b":                             true,
		"a_b":                              true,
		"a.b":                              true,
		"a..b":                             true,
		"a-b.c/a":                          true,
		"a--b.c/a":                         false,
		subdomain + "/a":                   true,
		subdomain + "a/a":                  false,
		"a/" + a63:                         true,
		"a/" + a64:                         false,
		"a/b/c":                            false,
		"Example.com/a":                    false,
		"goVersion":                        true,
		"example.com/custom":               true,
		"backstage.io/managed-by-location": true,
	}
	for in, want := range keys {
		if got := IsValidLabelKey(in); got != want {
			t.Errorf("IsValidLabelKey(%q) = %v, want %v", in, got, want)
		}
		if got := IsValidAnnotationKey(in); got != want {
			t.Errorf("IsValidAnnotationKey(%q) = %v, want %v", in, got, want)
		}
	}
	values := map[string]bool{
		"": true, "a": true, "AZ09": true, a63: true, a64: false, "a/b": false, "a-b": true,
		"-a-b": false, "a-b-": false, "a--b": true, "a_b": true, "a.b": true, "a..b": true,
		"go1.15.3": true, "custom_label_value": true, "two words": false,
	}
	for in, want := range values {
		if got := IsValidLabelValue(in); got != want {
			t.Errorf("IsValidLabelValue(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestIsValidTag(t *testing.T) {
	cases := map[string]bool{
		"":          false,
		"java":      true,
		"c++":       true,
		"c#":        true,
		"a:b":       true,
		"go-1":      true,
		"a--b":      false,
		"-a":        false,
		"a-":        false,
		"Java":      false,
		"go 1.15.3": false,
		"go1.15.3":  false,
		"tier_gold": false,
		a63:         true,
		a64:         false,
		"é":         false,
	}
	for in, want := range cases {
		if got := IsValidTag(in); got != want {
			t.Errorf("IsValidTag(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestIsValidURL(t *testing.T) {
	cases := map[string]bool{
		"https://example.com/user":             true,
		"http://www.acme.com/":                 true,
		"https://example.com:8443/x?y#z":       true,
		"https://user:pw@example.com":          true,
		"http://[::1]:7007/api":                true,
		"mailto:team@example.com":              true,
		"slack://channel":                      true,
		"file:///etc/hosts":                    true,
		"  https://example.com  ":              true,
		"example.com":                          false,
		"/relative/path":                       false,
		"":                                     false,
		"https://":                             false,
		"https://exa mple.com":                 false,
		"https://example.com:99999":            false,
		"https://example.com:80a":              false,
		"1http://example.com":                  false,
		"http://[::1":                          false,
		"https://example.com/with space is ok": true,
	}
	for in, want := range cases {
		if got := IsValidURL(in); got != want {
			t.Errorf("IsValidURL(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestJSLengthCountsUTF16(t *testing.T) {
	// 62 ASCII letters and one character outside the BMP are 64 UTF-16 code units.
	if got := jsLen(strings.Repeat("a", 62) + "😀"); got != 64 {
		t.Fatalf("jsLen = %d, want 64", got)
	}
	if got := jsLen("é"); got != 1 {
		t.Fatalf("jsLen(é) = %d, want 1", got)
	}
}
