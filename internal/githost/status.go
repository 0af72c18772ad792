package githost

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/paved-dev/paved/api"
)

// decodeStatus reads a status as a JSON object, keeping numbers as written.
func decodeStatus(obj *api.Object) (map[string]any, error) {
	status := map[string]any{}
	if t := bytes.TrimSpace(obj.Status); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.UseNumber()
		if err := dec.Decode(&status); err != nil {
			return nil, fmt.Errorf("%s %s/%s: status is not a JSON object: %w", obj.Kind, obj.Metadata.Namespace, obj.Metadata.Name, err)
		}
	}
	return status, nil
}

// setStatusFields sets top-level status fields of obj, keeping the others.
func setStatusFields(obj *api.Object, fields map[string]any) error {
	status, err := decodeStatus(obj)
	if err != nil {
		return err
	}
	for k, v := range fields {
		status[k] = v
	}
	b, err := json.Marshal(status)
	if err != nil {
		return err
	}
	obj.Status = b
	return nil
}

// pushCount returns status.pushes (0 when absent).
func pushCount(status map[string]any) int64 {
	if n, ok := status["pushes"].(json.Number); ok {
		if v, err := n.Int64(); err == nil {
			return v
		}
	}
	return 0
}

// recordPush writes a push that changed refs into the Repository's status: lastPush and
// one more in pushes. It writes at the resourceVersion it read, so two replicas recording
// pushes at once never lose one; on a conflict it reads the object again. uid is the
// Repository the push went to: a Repository deleted and created again meanwhile is left
// alone.
func (h *Host) recordPush(ctx context.Context, ns, name, uid string, p Push) error {
	for attempt := 0; ; attempt++ {
		obj, err := h.st.Get(ctx, h.kind, ns, name)
		if err != nil {
			return err
		}
		if obj.Metadata.UID != uid {
			return api.NewNotFound("Repository", ns+"/"+name)
		}
		status, err := decodeStatus(obj)
		if err != nil {
			return err
		}
		status["pushes"] = pushCount(status) + 1
		status["lastPush"] = p
		b, err := json.Marshal(status)
		if err != nil {
			return err
		}
		obj.Status = b
		_, err = h.st.UpdateStatus(ctx, obj)
		if err == nil || !api.IsConflict(err) || attempt >= 20 {
			return err
		}
	}
}

// newPush describes a push by user that changed refs.
func newPush(user string, refs []RefUpdate) Push {
	return Push{Time: time.Now().UTC().Format(time.RFC3339Nano), User: user, Refs: refs}
}
