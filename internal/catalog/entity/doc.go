// Package entity owns the Backstage entity model of the catalog: the Entity type and its
// lossless JSON form, parsing of YAML and JSON documents into entities, validation with
// exactly Backstage's rules, entity references, the relations that spec fields imply, and
// the flattened search rows that catalog filters match against.
//
// It follows Backstage's own code, rule for rule (not line for line):
//
//   - names, namespaces, kinds, apiVersions, label and annotation keys and values, tags and
//     links: packages/catalog-model/src/validation/ (KubernetesValidatorFunctions,
//     CommonValidatorFunctions, makeValidator) and FieldFormatEntityPolicy;
//   - the envelope: packages/catalog-model/src/schema/{Entity,EntityMeta}.schema.json,
//     shared/common.schema.json, SchemaValidEntityPolicy, NoForeignRootFieldsEntityPolicy;
//   - the kinds: packages/catalog-model/src/schema/kinds/*.schema.json and
//     plugins/scaffolder-common/src/Template.v1beta3.schema.json; a kind no processor
//     knows is rejected as the catalog's processing orchestrator rejects it;
//   - references: packages/catalog-model/src/entity/ref.ts;
//   - relations: plugins/catalog-backend/src/modules/core/BuiltinKindsEntityProcessor.ts,
//     the relation fields of the kinds' model layers, and ScaffolderEntitiesProcessor;
//   - search rows: plugins/catalog-backend/src/database/operations/stitcher/
//     buildEntitySearch.ts;
//   - YAML documents: plugin-catalog-node's parseEntityYaml.
//
// It is pure: no storage, no HTTP, no reading of locations or $text/$json/$yaml
// placeholders, no stitching. The catalog's ingestion, API and store indexing build on it
// and own those. It must not import other paved packages.
package entity
