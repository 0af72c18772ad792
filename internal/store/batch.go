package store

import (
	"context"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/paved-dev/paved/api"
)

// CreateMany creates objects in as few transactions as possible, for bulk ingestion. Each
// object succeeds or fails on its own: errs[i] is nil when out[i] was created.
func (s *Store) CreateMany(ctx context.Context, objs []*api.Object) (out []*api.Object, errs []error) {
	out = make([]*api.Object, len(objs))
	errs = make([]error, len(objs))
	const chunk = 500
	now := s.now().UTC().Truncate(time.Second)
	for start := 0; start < len(objs); start += chunk {
		end := min(start+chunk, len(objs))
		var ops []Op
		var idx []int
		for i := start; i < end; i++ {
			in := objs[i]
			if in.Metadata.Name == "" && in.Metadata.GenerateName != "" {
				// Generated names may collide and need retries: take the single path.
				out[i], errs[i] = s.Create(ctx, in)
				continue
			}
			k, err := s.KindOf(in)
			if err != nil {
				errs[i] = err
				continue
			}
			obj := in.DeepCopy()
			obj.Status = nil
			s.normalize(k, obj)
			if err := s.validate(k, obj, true); err != nil {
				errs[i] = err
				continue
			}
			if obj.Metadata.ResourceVersion != "" {
				errs[i] = api.NewBadRequest("resourceVersion must not be set when creating %s %q", k.Kind, obj.Metadata.Name)
				continue
			}
			obj.Metadata.UID = uuid.NewString()
			t := now
			obj.Metadata.CreationTimestamp = &t
			obj.Metadata.DeletionTimestamp = nil
			obj.Metadata.Generation = 1
			rec, err := s.encode(k, obj)
			if err != nil {
				errs[i] = err
				continue
			}
			out[i] = obj
			ops = append(ops, Op{Type: OpCreate, Record: rec})
			idx = append(idx, i)
		}
		if len(ops) == 0 {
			continue
		}
		res, err := s.be.Write(ctx, ops)
		for j, i := range idx {
			switch {
			case err != nil:
				out[i], errs[i] = nil, err
			case res[j].Err == ErrKeyExists:
				k, _ := s.KindOf(out[i])
				out[i], errs[i] = nil, api.NewAlreadyExists(k.Kind, out[i].Metadata.Name)
			case res[j].Err != nil:
				out[i], errs[i] = nil, res[j].Err
			default:
				out[i].Metadata.ResourceVersion = strconv.FormatInt(res[j].Revision, 10)
			}
		}
	}
	return out, errs
}
