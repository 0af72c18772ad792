// Package orggen writes generated Backstage catalogs of any size (an organisation's groups,
// users, domains, systems, resources, APIs and components, with relations across files),
// for the catalog's benchmarks and load tests.
package orggen

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// Write writes a generated organisation of files x perFile entities below dir
// (files/file-NNN.yaml, referenced by one Location file, all.yaml) and returns the path of
// all.yaml and, per group, how many entities it owns. The mix per 1,000 entities: 10
// groups, 100 users, 1 domain, 20 systems, 169 resources, 200 APIs and 500 components,
// with owners, systems, domains, group parents, memberships, provided and consumed APIs
// and dependencies pointing across files.
func Write(dir string, files, perFile int) (string, map[string]int, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	scale := func(n int) int { return max(1, n*perFile/1000) }
	nGroups, nUsers, nSystems, nResources, nAPIs := scale(10), scale(100), scale(20), scale(169), scale(200)
	nComponents := perFile - nGroups - nUsers - 1 - nSystems - nResources - nAPIs
	owns := map[string]int{}
	group := func(f, j int) string { return fmt.Sprintf("group-%03d-%02d", f, j) }
	randGroup := func() string { return group(rng.IntN(files), rng.IntN(nGroups)) }
	own := func(g string) string { owns["group:default/"+g]++; return g }
	if err := os.MkdirAll(filepath.Join(dir, "files"), 0o755); err != nil {
		return "", nil, err
	}
	var targets []string
	for f := 0; f < files; f++ {
		name := fmt.Sprintf("files/file-%03d.yaml", f)
		targets = append(targets, "./"+name)
		fh, err := os.Create(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return "", nil, err
		}
		w := bufio.NewWriter(fh)
		doc := func(format string, args ...any) { fmt.Fprintf(w, "---\n"+format, args...) }
		for j := 0; j < nGroups; j++ {
			parent := ""
			if f > 0 || j > 0 {
				parent = "  parent: " + group(f/2, 0) + "\n"
				if f == 0 {
					parent = "  parent: " + group(0, 0) + "\n"
				}
			}
			doc("apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: %s\n  description: Team %d of division %d\nspec:\n  type: team\n  profile:\n    displayName: Team %d-%d\n    email: team-%d-%d@example.com\n%s  children: []\n",
				group(f, j), j, f, f, j, f, j, parent)
		}
		for j := 0; j < nUsers; j++ {
			doc("apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: user-%03d-%03d\nspec:\n  profile:\n    displayName: User %d %d\n    email: user-%d-%d@example.com\n  memberOf: [%s, %s]\n",
				f, j, f, j, f, j, group(f, j%nGroups), randGroup())
		}
		doc("apiVersion: backstage.io/v1alpha1\nkind: Domain\nmetadata:\n  name: domain-%03d\n  description: Business domain %d\nspec:\n  owner: %s\n", f, f, own(group(f, 0)))
		for j := 0; j < nSystems; j++ {
			doc("apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata:\n  name: system-%03d-%02d\n  description: System %d of file %d\n  tags: [saas, aks]\nspec:\n  owner: %s\n  domain: domain-%03d\n",
				f, j, j, f, own(group(f, j%nGroups)), rng.IntN(files))
		}
		types := []string{"database", "cache", "queue", "bucket"}
		for j := 0; j < nResources; j++ {
			doc("apiVersion: backstage.io/v1alpha1\nkind: Resource\nmetadata:\n  name: resource-%03d-%03d\n  description: A %s\n  annotations:\n    paved.dev/region: westeurope\nspec:\n  type: %s\n  owner: %s\n  system: system-%03d-%02d\n",
				f, j, types[j%4], types[j%4], own(randGroup()), f, j%nSystems)
		}
		for j := 0; j < nAPIs; j++ {
			doc("apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: api-%03d-%03d\n  description: REST API %d of file %d\n  tags: [rest, openapi]\nspec:\n  type: openapi\n  lifecycle: production\n  owner: %s\n  system: system-%03d-%02d\n  definition: |\n    openapi: 3.0.0\n    info:\n      title: api %d %d\n      version: 1.0.0\n    paths:\n      /items:\n        get:\n          responses:\n            '200':\n              description: ok\n",
				f, j, j, f, own(group(f, j%nGroups)), f, j%nSystems, f, j)
		}
		for j := 0; j < nComponents; j++ {
			doc("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: component-%03d-%03d\n  description: Microservice %d of file %d, running on AKS\n  tags: [go, aks, service]\n  annotations:\n    github.com/project-slug: saas/component-%03d-%03d\n    backstage.io/techdocs-ref: dir:.\n  links:\n    - url: https://grafana.example.com/d/component-%03d-%03d\n      title: Dashboard\nspec:\n  type: service\n  lifecycle: production\n  owner: %s\n  system: system-%03d-%02d\n  providesApis: [api-%03d-%03d]\n  consumesApis: [api-%03d-%03d, api-%03d-%03d]\n  dependsOn: [resource:resource-%03d-%03d, component:component-%03d-%03d]\n",
				f, j, j, f, f, j, f, j, own(group(f, j%nGroups)), f, j%nSystems, f, j%nAPIs,
				rng.IntN(files), rng.IntN(nAPIs), rng.IntN(files), rng.IntN(nAPIs),
				rng.IntN(files), rng.IntN(nResources), rng.IntN(files), rng.IntN(nComponents))
		}
		if err := w.Flush(); err != nil {
			fh.Close()
			return "", nil, err
		}
		if err := fh.Close(); err != nil {
			return "", nil, err
		}
	}
	all := filepath.Join(dir, "all.yaml")
	loc := "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: generated-org\nspec:\n  targets:\n    - " + strings.Join(targets, "\n    - ") + "\n"
	if err := os.WriteFile(all, []byte(loc), 0o644); err != nil {
		return "", nil, err
	}
	return all, owns, nil
}
