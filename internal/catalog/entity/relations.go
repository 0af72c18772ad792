package entity

import (
	"cmp"
	"slices"
)

var inverses = map[string]string{
	RelationOwnedBy:       RelationOwnerOf,
	RelationOwnerOf:       RelationOwnedBy,
	RelationConsumesAPI:   RelationAPIConsumedBy,
	RelationAPIConsumedBy: RelationConsumesAPI,
	RelationProvidesAPI:   RelationAPIProvidedBy,
	RelationAPIProvidedBy: RelationProvidesAPI,
	RelationDependsOn:     RelationDependencyOf,
	RelationDependencyOf:  RelationDependsOn,
	RelationParentOf:      RelationChildOf,
	RelationChildOf:       RelationParentOf,
	RelationMemberOf:      RelationHasMember,
	RelationHasMember:     RelationMemberOf,
	RelationPartOf:        RelationHasPart,
	RelationHasPart:       RelationPartOf,
}

// Inverse returns the relation type of the other direction ("ownedBy" for "ownerOf"), or
// "" for a type that has none.
func Inverse(relationType string) string { return inverses[relationType] }

// Relations derives the relations of e with the Default model.
func Relations(e *Entity) ([]Relation, []FieldError) { return Default().Relations(e) }

// Relations derives the outgoing relations that e's spec fields imply, as Backstage's
// processors emit them: each reference is parsed with the field's default kind and e's
// namespace, and yields {Type, TargetRef (canonical, lower-cased), Target (as written)}.
// The catalog stores each relation and, on the target, its Inverse pointing back at e.
// Duplicates (same type and target) are dropped. A reference that cannot be parsed is a
// FieldError (Backstage fails the entity's processing for it, for example a dependsOn
// entry without a kind); the other relations are still returned. An entity of a kind the
// model does not know has no relations.
func (m *Model) Relations(e *Entity) ([]Relation, []FieldError) {
	ks, _ := m.lookup(e.APIVersion, e.Kind, e.Spec)
	if ks == nil || e.Spec == nil {
		return nil, nil
	}
	self := e.Ref()
	var out []Relation
	var errs []FieldError
	seen := map[[2]string]bool{}
	emit := func(path string, target any, f RelationField) {
		s, ok := target.(string)
		if !ok {
			errs = append(errs, FieldError{Field: path, Code: CodeType,
				Message: "must be a string entity reference, got " + typeName(target)})
			return
		}
		ref, err := ParseRef(s, RefDefaults{Kind: f.DefaultKind, Namespace: self.Namespace})
		if err != nil {
			errs = append(errs, FieldError{Field: path, Code: CodeReference, Message: err.Error()})
			return
		}
		r := Relation{Type: f.Relation, TargetRef: ref.String(), Target: &ref}
		key := [2]string{r.Type, r.TargetRef}
		if seen[key] {
			return
		}
		seen[key] = true
		out = append(out, r)
	}
	for _, f := range ks.Relations {
		path := childPath("spec", f.Field)
		switch v := e.Spec[f.Field].(type) {
		case nil:
		case string:
			if v != "" { // Backstage skips a falsy value
				emit(path, v, f)
			}
		case []any:
			for i, item := range v {
				emit(indexPath(path, i), item, f)
			}
		default:
			emit(path, v, f)
		}
	}
	return out, errs
}

// SortRelations orders relations by type, then target, and drops duplicates: the form in
// which Backstage serves an entity's relations.
func SortRelations(rs []Relation) []Relation {
	slices.SortStableFunc(rs, func(a, b Relation) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.TargetRef, b.TargetRef))
	})
	return slices.CompactFunc(rs, func(a, b Relation) bool {
		return a.Type == b.Type && a.TargetRef == b.TargetRef
	})
}
