package entity

import "testing"

// BenchmarkIngestOne measures what ingestion does per entity in this package: parse,
// validate, derive relations and build search rows.
func BenchmarkIngestOne(b *testing.B) {
	doc := []byte(`apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: artist-lookup
  description: Artist Lookup
  tags: [java, data]
  annotations: {backstage.io/source-location: "url:https://example.com/repo/"}
  links: [{url: "https://example.com/dashboard", title: Dashboard, icon: dashboard}]
spec:
  type: service
  lifecycle: experimental
  owner: team-a
  system: artist-engagement-portal
  providesApis: [artist-api]
  dependsOn: [resource:artists-db]
`)
	b.ReportAllocs()
	for b.Loop() {
		e, err := Parse(doc)
		if err != nil {
			b.Fatal(err)
		}
		if errs := Validate(e); len(errs) > 0 {
			b.Fatal(errs)
		}
		rs, _ := Relations(e)
		e.Relations = rs
		if _, err := SearchRows(e); err != nil {
			b.Fatal(err)
		}
	}
}
