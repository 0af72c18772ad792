package catalog

import (
	"context"

	"github.com/paved-dev/paved/internal/catalog/entity"
)

// Location is a registered location as the Backstage catalog API shows it.
type Location struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Target string `json:"target"`
}

// AddLocation registers a location and processes it now, returning the location, the
// entities it yields, and whether it already existed. With dryRun nothing is written.
func (c *Catalog) AddLocation(ctx context.Context, spec LocationSpec, dryRun bool) (Location, []*entity.Entity, bool, error) {
	return Location{}, nil, false, ErrNotImplemented
}

// GetLocation returns a registered location by id.
func (c *Catalog) GetLocation(ctx context.Context, id string) (Location, error) {
	return Location{}, ErrNotImplemented
}

// ListLocations returns every registered location.
func (c *Catalog) ListLocations(ctx context.Context) ([]Location, error) {
	return nil, ErrNotImplemented
}

// DeleteLocation unregisters a location; the entities it yielded are removed.
func (c *Catalog) DeleteLocation(ctx context.Context, id string) error { return ErrNotImplemented }

// LocationByEntity returns the registered location an entity came from.
func (c *Catalog) LocationByEntity(ctx context.Context, ref entity.CompoundRef) (Location, error) {
	return Location{}, ErrNotImplemented
}

// Refresh reads again, now, the location that yielded the entity (a ref such as
// "component:default/artist-lookup"), so a changed file is visible at once.
func (c *Catalog) Refresh(ctx context.Context, entityRef string) error { return ErrNotImplemented }
