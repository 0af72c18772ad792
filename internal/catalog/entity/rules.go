package entity

import (
	"regexp"
	"strconv"
	"strings"
)

// The format rules of catalog-model's KubernetesValidatorFunctions, CommonValidatorFunctions
// and makeValidator (packages/catalog-model/src/validation/). Lengths are counted the way
// JavaScript counts them (UTF-16 code units), so a rule accepts exactly what Backstage does.

var (
	objectNameRE = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	dnsLabelRE   = regexp.MustCompile(`^[a-z0-9]+(\-[a-z0-9]+)*$`)
	kindRE       = regexp.MustCompile(`^[a-zA-Z][a-z0-9A-Z]*$`)
	versionRE    = regexp.MustCompile(`^[a-z0-9A-Z]+$`)
	tagRE        = regexp.MustCompile(`^[a-z0-9:+#]+(\-[a-z0-9:+#]+)*$`)
)

// Expectations, worded as Backstage's FieldFormatEntityPolicy words them.
const (
	expectName       = "a string that is sequences of [a-zA-Z0-9] separated by any of [-_.], at most 63 characters in total"
	expectNamespace  = "a string that is sequences of [a-z0-9] separated by [-], at most 63 characters in total"
	expectKind       = "a string that is a sequence of [a-zA-Z][a-z0-9A-Z], at most 63 characters in total"
	expectTag        = "a string that is sequences of [a-z0-9:+#] separated by [-], at most 63 characters in total"
	expectPrefixed   = "a valid prefix and/or suffix: an optional DNS subdomain prefix (at most 253 characters) and '/', then " + expectName
	expectAPIVersion = "a valid prefix and/or suffix: an optional DNS subdomain prefix (at most 253 characters) and '/', then a version of [a-zA-Z0-9], at most 63 characters"
	expectURL        = "a string that is a valid url"
	expectNonBlank   = "a non empty string"
)

// jsLen is the length JavaScript reports for s.
func jsLen(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 { // a surrogate pair
			n++
		}
	}
	return n
}

func lenBetween(s string, lo, hi int) bool {
	if len(s) < lo { // quick reject; byte length >= UTF-16 length
		return false
	}
	n := jsLen(s)
	return n >= lo && n <= hi
}

// IsValidName reports whether s is a valid metadata.name (and label value, link icon):
// 1-63 characters, [a-zA-Z0-9] runs separated by single characters of [-_.].
func IsValidName(s string) bool {
	return lenBetween(s, 1, 63) && objectNameRE.MatchString(s)
}

// IsValidNamespace reports whether s is a valid metadata.namespace: a DNS label.
func IsValidNamespace(s string) bool { return isDNSLabel(s) }

func isDNSLabel(s string) bool {
	return lenBetween(s, 1, 63) && dnsLabelRE.MatchString(s)
}

func isDNSSubdomain(s string) bool {
	if !lenBetween(s, 1, 253) {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if !isDNSLabel(part) {
			return false
		}
	}
	return true
}

// prefixAndOrSuffix is catalog-model's isValidPrefixAndOrSuffix with "/" as separator:
// "suffix" or "prefix/suffix", never more than one separator.
func prefixAndOrSuffix(s string, prefix, suffix func(string) bool) bool {
	parts := strings.Split(s, "/")
	switch len(parts) {
	case 1:
		return suffix(parts[0])
	case 2:
		return prefix(parts[0]) && suffix(parts[1])
	}
	return false
}

// IsValidKind reports whether s is a well-formed kind (not whether the kind is known).
func IsValidKind(s string) bool {
	return lenBetween(s, 1, 63) && kindRE.MatchString(s)
}

// IsValidAPIVersion reports whether s is a well-formed apiVersion such as
// "backstage.io/v1alpha1" (not whether the version is known).
func IsValidAPIVersion(s string) bool {
	return prefixAndOrSuffix(s, isDNSSubdomain, func(v string) bool {
		return lenBetween(v, 1, 63) && versionRE.MatchString(v)
	})
}

// IsValidLabelKey reports whether s is a valid label key: an optional DNS subdomain prefix
// and "/", then a name.
func IsValidLabelKey(s string) bool { return prefixAndOrSuffix(s, isDNSSubdomain, IsValidName) }

// IsValidLabelValue reports whether s is a valid label value: empty, or a valid name.
func IsValidLabelValue(s string) bool { return s == "" || IsValidName(s) }

// IsValidAnnotationKey reports whether s is a valid annotation key (the label key rule).
// Annotation values may be any string.
func IsValidAnnotationKey(s string) bool { return IsValidLabelKey(s) }

// IsValidTag reports whether s is a valid tag: 1-63 characters, runs of [a-z0-9:+#]
// separated by single dashes.
func IsValidTag(s string) bool {
	return lenBetween(s, 1, 63) && tagRE.MatchString(s)
}

// isNonBlank is CommonValidatorFunctions.isValidString: a string with something other than
// whitespace (JavaScript's trim also removes the byte order mark).
func isNonBlank(s string) bool {
	return strings.TrimSpace(strings.ReplaceAll(s, "\uFEFF", "")) != ""
}

// IsValidURL reports whether s parses as an absolute URL the way the WHATWG URL parser
// (JavaScript's new URL(s), which Backstage uses for links) accepts it: a scheme, and for
// the special schemes (http, https, ws, wss, ftp, file) a usable host and port. It is a
// close approximation, not a complete URL parser.
func IsValidURL(s string) bool {
	s = strings.TrimFunc(s, func(r rune) bool { return r <= 0x20 })
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1 // the parser removes these anywhere
		}
		return r
	}, s)
	colon := strings.IndexByte(s, ':')
	if colon <= 0 {
		return false
	}
	scheme := strings.ToLower(s[:colon])
	for i, r := range scheme {
		alpha := r >= 'a' && r <= 'z'
		if !(alpha || (i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'))) {
			return false
		}
	}
	rest := s[colon+1:]
	switch scheme {
	case "http", "https", "ws", "wss", "ftp":
		return validSpecialAuthority(rest, false)
	case "file":
		return validSpecialAuthority(rest, true)
	}
	return true // other schemes take an opaque path: almost anything goes
}

func validSpecialAuthority(rest string, emptyHostOK bool) bool {
	rest = strings.TrimLeft(rest, `/\`)
	end := strings.IndexAny(rest, `/\?#`)
	if end >= 0 {
		rest = rest[:end]
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest = rest[at+1:]
	}
	host, port := rest, ""
	if strings.HasPrefix(host, "[") {
		close := strings.IndexByte(host, ']')
		if close < 0 {
			return false
		}
		ip := host[1:close]
		if ip == "" || strings.Trim(ip, "0123456789abcdefABCDEF:.") != "" {
			return false
		}
		after := host[close+1:]
		if after != "" && !strings.HasPrefix(after, ":") {
			return false
		}
		host, port = host[:close+1], strings.TrimPrefix(after, ":")
	} else if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host, port = host[:i], host[i+1:]
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 0 || n > 65535 || strings.Trim(port, "0123456789") != "" {
			return false
		}
	}
	if host == "" {
		return emptyHostOK && port == ""
	}
	if strings.HasPrefix(host, "[") {
		return true
	}
	for _, r := range host {
		if r <= 0x20 || r == 0x7f || strings.ContainsRune("#%/:<>?@[\\]^|", r) {
			return false
		}
	}
	return true
}
