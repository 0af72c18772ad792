package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
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

// LocationSpec is where entities come from: type "url" or "file" and a target. Presence
// "optional" makes a missing target no error.
type LocationSpec struct {
	Type     string `json:"type"`
	Target   string `json:"target"`
	Presence string `json:"presence,omitempty"`
}

// Catalog is the service catalog: kinds in the store, ingestion from locations, relation
// stitching and the Backstage catalog API.
type Catalog struct {
	store *store.Store
	model *entity.Model
	kinds []*kinds.Kind
	opts  Options
	log   *slog.Logger

	locKind *kinds.Kind
	// resourceKinds has one kind per stored resource (versions of a kind share one).
	resourceKinds []*kinds.Kind
	byLowerKind   map[string]*kinds.Kind
	reader        *reader
	stitch        *stitcher
	events        *controller.Recorder

	locksMu sync.Mutex
	locks   map[string]*sync.Mutex

	ctlOnce sync.Once
	ctls    []*controller.Controller
	ctlErr  error
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
	c := &Catalog{store: st, model: model, kinds: ks, opts: opts, log: opts.Logger,
		byLowerKind: map[string]*kinds.Kind{}, locks: map[string]*sync.Mutex{}}
	c.locKind, _ = st.Kinds().ByGVK(Group+"/v1", "CatalogLocation")
	seen := map[string]bool{}
	for _, k := range ks {
		if !seen[k.Resource()] {
			seen[k.Resource()] = true
			c.resourceKinds = append(c.resourceKinds, k)
		}
		if _, ok := c.byLowerKind[strings.ToLower(k.Kind)]; !ok {
			c.byLowerKind[strings.ToLower(k.Kind)] = k
		}
	}
	c.opts.Locations = append([]LocationSpec(nil), opts.Locations...)
	for i, l := range c.opts.Locations {
		if l.Type == "file" && l.Target != "" {
			abs, err := filepath.Abs(l.Target)
			if err != nil {
				return nil, fmt.Errorf("catalog: location %s: %w", l.Target, err)
			}
			c.opts.Locations[i].Target = abs
		}
	}
	c.reader = newReader(c.opts)
	c.events = controller.NewRecorder(st, "catalog", controller.RecorderOptions{Logger: c.log})
	c.stitch = newStitcher(c)
	return c, nil
}

// kindFor returns the store kind of an entity's apiVersion and kind.
func (c *Catalog) kindFor(apiVersion, kind string) (*kinds.Kind, bool) {
	return c.store.Kinds().ByGVK(apiVersion, kind)
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

// Controllers returns the catalog's controllers: one processes registered locations (at
// registration, when they change, and every RefreshInterval), one stitches relations in
// both directions. Add them to the controller manager; the same ones are returned on
// every call.
func (c *Catalog) Controllers() ([]*controller.Controller, error) {
	c.ctlOnce.Do(func() {
		loc, err := c.locationController()
		if err != nil {
			c.ctlErr = err
			return
		}
		st, err := c.stitch.controller()
		if err != nil {
			c.ctlErr = err
			return
		}
		c.ctls = []*controller.Controller{loc, st}
	})
	return c.ctls, c.ctlErr
}

// Start registers the configured locations (Options.Locations) and unregisters the ones
// an earlier configuration registered that this one no longer lists; call it once the
// store is open. Registering is idempotent: a location is its type and target. The
// location controller reads them.
func (c *Catalog) Start(ctx context.Context) error {
	want := map[string]bool{}
	for _, l := range c.opts.Locations {
		t, err := c.normalize(LocationSpec{Type: l.Type, Target: l.Target}, false)
		if err != nil {
			return fmt.Errorf("catalog: configured location %s:%s: %w", l.Type, l.Target, err)
		}
		want[t.key()] = true
		if _, _, err := c.register(ctx, t, l.Presence, true); err != nil {
			return fmt.Errorf("catalog: register configured location %s: %w", t.key(), err)
		}
	}
	locs, err := c.store.List(ctx, c.locKind, store.ListOptions{LabelSelector: labelSource + "=" + sourceConfig})
	if err != nil {
		return fmt.Errorf("catalog: list configured locations: %w", err)
	}
	for i := range locs.Items {
		l := &locs.Items[i]
		if !want[locationOf(l).key()] {
			c.log.Info("catalog: unregistering a location the configuration no longer lists", "location", locationOf(l).key())
			if err := c.DeleteLocation(ctx, l.Metadata.Name); err != nil && !api.IsNotFound(err) {
				return err
			}
		}
	}
	return nil
}
