package kinds

import (
	"encoding/json"

	"github.com/paved-dev/paved/api"
)

// CoreGroup is the API group of paved's own built-in kinds.
const CoreGroup = "paved.dev"

// Builtin returns the kinds every paved server knows from the start. Feature packages
// register their own kinds when they start.
func Builtin() []Kind {
	return []Kind{
		{
			Group: CoreGroup, Version: "v1", Kind: "Namespace", Plural: "namespaces", ShortNames: []string{"ns"}, LabelNames: true,
			Schema: json.RawMessage(`{"type":"object","properties":{"description":{"type":"string","maxLength":1024}},"additionalProperties":false}`),
		},
		{
			Group: CoreGroup, Version: "v1", Kind: "Event", Plural: "events", ShortNames: []string{"ev"}, Namespaced: true,
			Schema: json.RawMessage(eventSchema),
			Columns: []api.Column{
				{Name: "TYPE", JSONPath: ".spec.type"},
				{Name: "REASON", JSONPath: ".spec.reason"},
				{Name: "OBJECT", JSONPath: ".spec.involvedObject.name"},
				{Name: "COUNT", JSONPath: ".spec.count"},
				{Name: "MESSAGE", JSONPath: ".spec.message"},
			},
		},
		{
			Group: CoreGroup, Version: "v1", Kind: "Environment", Plural: "environments", ShortNames: []string{"env"},
			Schema: json.RawMessage(environmentSchema),
			Columns: []api.Column{
				{Name: "CLUSTER", JSONPath: ".spec.cluster"},
				{Name: "NAMESPACE", JSONPath: ".spec.namespace"},
				{Name: "TIER", JSONPath: ".spec.tier"},
			},
		},
	}
}

const eventSchema = `{
  "type": "object",
  "required": ["involvedObject", "reason", "type"],
  "properties": {
    "type": {"enum": ["Normal", "Warning"]},
    "reason": {"type": "string", "minLength": 1, "maxLength": 128},
    "message": {"type": "string", "maxLength": 4096},
    "count": {"type": "integer", "minimum": 1},
    "source": {"type": "string"},
    "firstTimestamp": {"type": "string", "format": "date-time"},
    "lastTimestamp": {"type": "string", "format": "date-time"},
    "involvedObject": {
      "type": "object",
      "required": ["kind", "name"],
      "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "namespace": {"type": "string"},
        "name": {"type": "string"},
        "uid": {"type": "string"}
      }
    }
  }
}`

const environmentSchema = `{
  "type": "object",
  "properties": {
    "description": {"type": "string", "maxLength": 1024},
    "tier": {"enum": ["development", "staging", "production"]},
    "cluster": {"type": "string", "maxLength": 253},
    "namespace": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
    "promotesTo": {"type": "string"},
    "ttl": {"type": "string", "pattern": "^([0-9]+(s|m|h))+$"}
  },
  "additionalProperties": false
}`
