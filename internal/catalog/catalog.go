package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/catalog/entity"
	"github.com/paved-dev/paved/internal/controller"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
)

// Group is the API group of the catalog's own kinds (CatalogLocation).
const Group = "catalog.paved.dev"

// Options configure the catalog.
type Options struct {
	Logger *slog.Logger
	// Locations are registered at start (from the config file's catalog.locations).
	Locations []LocationSpec
	// RefreshInterval is how often every location is read again (jittered); default 5 min.
	RefreshInterval time.Duration
	// Orphans says what happens to entities a location no longer yields: "delete" (default)
	// or "keep" (they stay, annotated backstage.io/orphan: "true").
	Orphans string
	// FileRoots are the directories `file` locations may read below; empty allows none
	// except those of configured locations.
	FileRoots []string
	// HTTPClient reads `url` locations; nil uses a client with timeouts.
	HTTPClient *http.Client
	// MaxFileBytes bounds one location file (default 4 MiB).
	MaxFileBytes int64
}

// LocationSpec is where entities come from: type "url" or "file" and a target.
type LocationSpec struct {
	Type   string `json:"type"`
	Target string `json:"target"`
}

// Catalog is the service catalog: kinds in the store, ingestion from locations, relation
// stitching and the Backstage catalog API.
type Catalog struct {
	store *store.Store
	model *entity.Model
	kinds []*kinds.Kind
	opts  Options
	log   *slog.Logger
}

// Model is the entity model paved's catalog uses: Backstage's built-in kinds, the
// scaffolder's Template and the AI module's AiResource.
func Model() *entity.Model {
	return entity.NewModel(entity.BuiltinKinds(), entity.ScaffolderKinds(), entity.AIKinds())
}

// New registers the catalog's kinds in st's registry and returns the catalog; its
// controllers run under the controller manager and its API is served by Handler.
func New(st *store.Store, opts Options) (*Catalog, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = 5 * time.Minute
	}
	switch opts.Orphans {
	case "":
		opts.Orphans = "delete"
	case "delete", "keep":
	default:
		return nil, fmt.Errorf("catalog: orphans must be delete or keep, not %q", opts.Orphans)
	}
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = 4 << 20
	}
	model := Model()
	ks, err := RegisterKinds(st.Kinds(), model)
	if err != nil {
		return nil, err
	}
	if err := st.Kinds().Register(locationKind()); err != nil {
		return nil, err
	}
	return &Catalog{store: st, model: model, kinds: ks, opts: opts, log: opts.Logger}, nil
}

// Kinds returns the store kinds of catalog entities.
func (c *Catalog) Kinds() []*kinds.Kind { return c.kinds }

// Store returns the object store the catalog writes to.
func (c *Catalog) Store() *store.Store { return c.store }

// locationKind is the kind of a registered location (what Backstage keeps in its locations
// table): cluster-scoped, named by its id.
func locationKind() kinds.Kind {
	return kinds.Kind{Group: Group, Version: "v1", Kind: "CatalogLocation", Plural: "cataloglocations", ShortNames: []string{"cl"},
		Schema: json.RawMessage(`{"type":"object","required":["type","target"],"properties":{
			"type":{"enum":["url","file"]},
			"target":{"type":"string","minLength":1,"maxLength":4096},
			"presence":{"enum":["required","optional"]}},"additionalProperties":false}`),
		Columns: []api.Column{{Name: "TYPE", JSONPath: ".spec.type"}, {Name: "TARGET", JSONPath: ".spec.target"}}}
}

// ErrNotImplemented marks catalog operations still being built.
var ErrNotImplemented = errors.New("not implemented yet")

// Controllers returns the catalog's controllers (location processing, relation stitching).
func (c *Catalog) Controllers() ([]*controller.Controller, error) { return nil, nil }

// Start registers the configured locations; call it once the store is open.
func (c *Catalog) Start(ctx context.Context) error { return nil }
