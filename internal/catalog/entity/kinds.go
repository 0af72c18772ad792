package entity

// The kinds, from Backstage's JSON schemas (packages/catalog-model/src/schema/kinds/,
// plugins/scaffolder-common/src/Template.v1beta3.schema.json) and the relation fields of
// BuiltinKindsEntityProcessor and the kinds' model layers
// (packages/catalog-model/src/kinds/*EntityV1alpha1.ts), rewritten as Go checks.

// Relation types, in pairs (see Inverse).
const (
	RelationOwnedBy       = "ownedBy"
	RelationOwnerOf       = "ownerOf"
	RelationConsumesAPI   = "consumesApi"
	RelationAPIConsumedBy = "apiConsumedBy"
	RelationProvidesAPI   = "providesApi"
	RelationAPIProvidedBy = "apiProvidedBy"
	RelationDependsOn     = "dependsOn"
	RelationDependencyOf  = "dependencyOf"
	RelationParentOf      = "parentOf"
	RelationChildOf       = "childOf"
	RelationMemberOf      = "memberOf"
	RelationHasMember     = "hasMember"
	RelationPartOf        = "partOf"
	RelationHasPart       = "hasPart"
)

var backstageV1 = []string{"backstage.io/v1alpha1", "backstage.io/v1beta1"}

// BuiltinKinds are the kinds every Backstage catalog knows: Component, API, Resource,
// System, Domain, Group, User and Location (group backstage.io, v1alpha1 or v1beta1).
func BuiltinKinds() []KindSpec {
	return []KindSpec{
		{Kind: "Component", APIVersions: backstageV1, Check: checkComponent, Relations: []RelationField{
			{"owner", RelationOwnedBy, "Group"},
			{"subcomponentOf", RelationPartOf, "Component"},
			{"providesApis", RelationProvidesAPI, "API"},
			{"consumesApis", RelationConsumesAPI, "API"},
			{"dependsOn", RelationDependsOn, ""},
			{"dependencyOf", RelationDependencyOf, ""},
			{"system", RelationPartOf, "System"},
		}},
		{Kind: "API", APIVersions: backstageV1, Check: checkAPI, Relations: ownerAndSystem()},
		{Kind: "Resource", APIVersions: backstageV1, Check: checkResource, Relations: []RelationField{
			{"owner", RelationOwnedBy, "Group"},
			{"dependsOn", RelationDependsOn, ""},
			{"dependencyOf", RelationDependencyOf, ""},
			{"system", RelationPartOf, "System"},
		}},
		{Kind: "System", APIVersions: backstageV1, Check: checkSystem, Relations: []RelationField{
			{"owner", RelationOwnedBy, "Group"},
			{"domain", RelationPartOf, "Domain"},
		}},
		{Kind: "Domain", APIVersions: backstageV1, Check: checkDomain, Relations: []RelationField{
			{"owner", RelationOwnedBy, "Group"},
			{"subdomainOf", RelationPartOf, "Domain"},
		}},
		{Kind: "Group", APIVersions: backstageV1, Check: checkGroup, Relations: []RelationField{
			{"parent", RelationChildOf, "Group"},
			{"children", RelationParentOf, "Group"},
			{"members", RelationHasMember, "User"},
		}},
		{Kind: "User", APIVersions: backstageV1, Check: checkUser, Relations: []RelationField{
			{"memberOf", RelationMemberOf, "Group"},
		}},
		{Kind: "Location", APIVersions: backstageV1, Check: checkLocation},
	}
}

// ScaffolderKinds is the Template kind of the scaffolder (scaffolder.backstage.io/v1beta3),
// which Backstage's ScaffolderEntitiesProcessor adds to the catalog.
func ScaffolderKinds() []KindSpec {
	return []KindSpec{{
		Kind: "Template", APIVersions: []string{"scaffolder.backstage.io/v1beta3"}, Check: checkTemplate,
		Relations: []RelationField{{"owner", RelationOwnedBy, "Group"}},
	}}
}

// AIKinds are the kinds of Backstage's optional AI catalog module
// (catalog-backend-module-ai-model): the AiResource kind with its skill and rule variants,
// and the mcp-server variant of API, which has remotes instead of a definition. A standard
// Backstage catalog rejects them; add them with NewModel(BuiltinKinds(), ScaffolderKinds(),
// AIKinds()).
func AIKinds() []KindSpec {
	v1alpha1 := []string{"backstage.io/v1alpha1"}
	base := ownerAndSystem()
	return []KindSpec{
		{Kind: "AiResource", APIVersions: v1alpha1, Check: checkAiResource, Relations: base},
		{Kind: "AiResource", APIVersions: v1alpha1, SpecType: "skill", Check: checkSkill,
			Relations: append(ownerAndSystem(), RelationField{"dependsOn", RelationDependsOn, "AiResource"})},
		{Kind: "AiResource", APIVersions: v1alpha1, SpecType: "rule", Check: checkRule, Relations: base},
		{Kind: "API", APIVersions: backstageV1, SpecType: "mcp-server", Check: checkMCPServer, Relations: base},
	}
}

func ownerAndSystem() []RelationField {
	return []RelationField{{"owner", RelationOwnedBy, "Group"}, {"system", RelationPartOf, "System"}}
}

// specCheck runs fn with a validator on spec and returns its errors.
func specCheck(spec map[string]any, fn func(v *validator, s map[string]any)) []FieldError {
	v := &validator{}
	fn(v, spec)
	return v.errs
}

const sp = "spec"

func checkComponent(spec map[string]any) []FieldError {
	return specCheck(spec, func(v *validator, s map[string]any) {
		v.str(s, sp, "type", true, 1)
		v.str(s, sp, "lifecycle", true, 1)
		v.str(s, sp, "owner", true, 1)
		v.str(s, sp, "system", false, 1)
		v.str(s, sp, "subcomponentOf", false, 1)
		v.strList(s, sp, "providesApis", false)
		v.strList(s, sp, "consumesApis", false)
		v.strList(s, sp, "dependsOn", false)
		v.strList(s, sp, "dependencyOf", false)
	})
}

func checkAPI(spec map[string]any) []FieldError {
	return specCheck(spec, func(v *validator, s map[string]any) {
		v.str(s, sp, "type", true, 1)
		v.str(s, sp, "lifecycle", true, 1)
		v.str(s, sp, "owner", true, 1)
		v.str(s, sp, "definition", true, 1)
		v.str(s, sp, "system", false, 1)
	})
}

func checkResource(spec map[string]any) []FieldError {
	return specCheck(spec, func(v *validator, s map[string]any) {
		v.str(s, sp, "type", true, 1)
		v.str(s, sp, "owner", true, 1)
		v.strList(s, sp, "dependsOn", false)
		v.strList(s, sp, "dependencyOf", false)
		v.str(s, sp, "system", false, 1)
	})
}

func checkSystem(spec map[string]any) []FieldError {
	return specCheck(spec, func(v *validator, s map[string]any) {
		v.str(s, sp, "owner", true, 1)
		v.str(s, sp, "domain", false, 1)
		v.str(s, sp, "type", false, 1)
	})
}

func checkDomain(spec map[string]any) []FieldError {
	return specCheck(spec, func(v *validator, s map[string]any) {
		v.str(s, sp, "owner", true, 1)
		v.str(s, sp, "subdomainOf", false, 1)
		v.str(s, sp, "type", false, 1)
	})
}

// profile checks the display fields Group and User profiles share; other profile fields
// are free.
func profile(v *validator, s map[string]any) {
	if p := v.object(s, sp, "profile", false); p != nil {
		for _, k := range []string{"displayName", "email", "picture"} {
			v.str(p, "spec.profile", k, false, 1)
		}
	}
}

func checkGroup(spec map[string]any) []FieldError {
	return specCheck(spec, func(v *validator, s map[string]any) {
		v.str(s, sp, "type", true, 1)
		profile(v, s)
		v.str(s, sp, "parent", false, 1)
		v.strList(s, sp, "children", true)
		v.strList(s, sp, "members", false)
	})
}

// checkUser: memberOf is required by the schema even though Backstage's TypeScript type
// made it optional ("theoretically - but not practically - optional", backstage#10205).
func checkUser(spec map[string]any) []FieldError {
	return specCheck(spec, func(v *validator, s map[string]any) {
		profile(v, s)
		v.strList(s, sp, "memberOf", true)
	})
}

func checkLocation(spec map[string]any) []FieldError {
	return specCheck(spec, func(v *validator, s map[string]any) {
		v.str(s, sp, "type", false, 1)
		v.str(s, sp, "target", false, 1)
		v.strList(s, sp, "targets", false)
		v.enum(s, sp, "presence", "required", "optional")
	})
}

func permissions(v *validator, obj map[string]any, base string) {
	if p := v.object(obj, base, "backstage:permissions", false); p != nil {
		pp := childPath(base, "backstage:permissions")
		for i, t := range v.array(p, pp, "tags", false) {
			if !isString(t) {
				v.typeError(indexPath(childPath(pp, "tags"), i), "a string", t)
			}
		}
	}
}

func checkTemplate(spec map[string]any) []FieldError {
	return specCheck(spec, func(v *validator, s map[string]any) {
		v.str(s, sp, "type", true, 1)
		v.str(s, sp, "owner", false, 1)
		v.str(s, sp, "lifecycle", false, 1)
		if raw, has := s["parameters"]; has {
			switch p := raw.(type) {
			case map[string]any:
				permissions(v, p, "spec.parameters")
			case []any:
				for i, item := range p {
					path := indexPath("spec.parameters", i)
					if m, ok := item.(map[string]any); ok {
						permissions(v, m, path)
					} else {
						v.typeError(path, "an object (a JSON Schema of one form page)", item)
					}
				}
			default:
				v.typeError("spec.parameters", "an object or an array of objects", raw)
			}
		}
		if sec := v.object(s, sp, "secrets", false); sec != nil {
			v.object(sec, "spec.secrets", "schema", false)
		}
		if pres := v.object(s, sp, "presentation", false); pres != nil {
			if bl := v.object(pres, "spec.presentation", "buttonLabels", false); bl != nil {
				for _, k := range []string{"backButtonText", "createButtonText", "reviewButtonText"} {
					v.str(bl, "spec.presentation.buttonLabels", k, false, 0)
				}
			}
		}
		if rec := v.object(s, sp, "EXPERIMENTAL_recovery", false); rec != nil {
			v.str(rec, "spec.EXPERIMENTAL_recovery", "EXPERIMENTAL_strategy", false, 0)
		}
		for i, item := range v.array(s, sp, "EXPERIMENTAL_formDecorators", false) {
			path := indexPath("spec.EXPERIMENTAL_formDecorators", i)
			d, ok := item.(map[string]any)
			if !ok {
				v.typeError(path, "an object", item)
				continue
			}
			v.str(d, path, "id", false, 0)
			v.object(d, path, "input", false)
		}
		for i, item := range v.array(s, sp, "steps", true) {
			path := indexPath("spec.steps", i)
			st, ok := item.(map[string]any)
			if !ok {
				v.typeError(path, "an object", item)
				continue
			}
			v.str(st, path, "id", false, 0)
			v.str(st, path, "name", false, 0)
			v.str(st, path, "action", true, 0)
			v.object(st, path, "input", false)
			v.stringOrBool(st, path, "if")
			permissions(v, st, path)
		}
		if out := v.object(s, sp, "output", false); out != nil {
			const op = "spec.output"
			for i, item := range v.array(out, op, "links", false) {
				path := indexPath(op+".links", i)
				l, ok := item.(map[string]any)
				if !ok {
					v.typeError(path, "an object", item)
					continue
				}
				v.stringOrBool(l, path, "if")
				for _, k := range []string{"url", "entityRef", "title", "icon"} {
					v.str(l, path, k, false, 1)
				}
			}
			for i, item := range v.array(out, op, "text", false) {
				path := indexPath(op+".text", i)
				t, ok := item.(map[string]any)
				if !ok {
					v.typeError(path, "an object", item)
					continue
				}
				v.stringOrBool(t, path, "if")
				v.str(t, path, "title", false, 1)
				v.str(t, path, "icon", false, 1)
				v.str(t, path, "content", false, 0)
			}
			for _, k := range sortedKeys(out) {
				if k != "links" && k != "text" && !isString(out[k]) {
					v.typeError(childPath(op, k), "a string (a templated output value)", out[k])
				}
			}
		}
	})
}

func checkAiResource(spec map[string]any) []FieldError {
	return specCheck(spec, func(v *validator, s map[string]any) {
		v.str(s, sp, "type", true, 1)
		v.str(s, sp, "lifecycle", true, 1)
		v.str(s, sp, "owner", true, 1)
		v.str(s, sp, "system", false, 1)
	})
}

func checkSkill(spec map[string]any) []FieldError {
	return specCheck(spec, func(v *validator, s map[string]any) {
		v.str(s, sp, "lifecycle", true, 1)
		v.str(s, sp, "owner", true, 1)
		v.str(s, sp, "system", false, 1)
		for _, k := range []string{"disciplines", "categories", "agents", "dependsOn"} {
			v.strList(s, sp, k, false)
		}
	})
}

func checkRule(spec map[string]any) []FieldError {
	return specCheck(spec, func(v *validator, s map[string]any) {
		v.str(s, sp, "lifecycle", true, 1)
		v.str(s, sp, "owner", true, 1)
		v.str(s, sp, "system", false, 1)
		v.strList(s, sp, "disciplines", false)
		v.str(s, sp, "category", true, 1)
		v.str(s, sp, "rationale", true, 1)
	})
}

func checkMCPServer(spec map[string]any) []FieldError {
	return specCheck(spec, func(v *validator, s map[string]any) {
		v.str(s, sp, "lifecycle", true, 1)
		v.str(s, sp, "owner", true, 1)
		v.str(s, sp, "system", false, 1)
		remotes := v.array(s, sp, "remotes", true)
		if remotes != nil && len(remotes) == 0 {
			v.add("spec.remotes", CodeType, "must list at least one remote")
		}
		for i, item := range remotes {
			path := indexPath("spec.remotes", i)
			r, ok := item.(map[string]any)
			if !ok {
				v.typeError(path, "an object", item)
				continue
			}
			v.str(r, path, "type", true, 1)
			v.str(r, path, "url", true, 1)
		}
	})
}
