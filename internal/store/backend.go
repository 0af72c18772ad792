package store

import (
	"context"
	"errors"
	"time"
)

// Backend is the storage engine under Store: a revisioned key-value table of current
// objects plus an append-only event log whose sequence is the store-wide revision.
// Store adds every object semantic (generation, finalizers, validation) on top, so the
// SQLite and PostgreSQL backends only move bytes and keep the revision order.
type Backend interface {
	// Name is "sqlite" or "postgres", for logs and test names.
	Name() string
	Get(ctx context.Context, resource, namespace, name string) (*Record, error)
	// List returns the records matching q in (namespace, name) order and the revision the
	// read was taken at. more reports whether rows exist after the last one returned.
	List(ctx context.Context, q Query) (recs []*Record, rev int64, more bool, err error)
	// Count returns how many records of a resource exist (in a namespace, if given).
	Count(ctx context.Context, resource, namespace string) (int64, error)
	// Write applies ops in one transaction. Each op succeeds or fails on its own
	// precondition (results[i].Err is ErrKeyExists, ErrKeyNotFound or ErrRevisionMismatch);
	// err is set only when the transaction as a whole failed and nothing was written.
	Write(ctx context.Context, ops []Op) (results []OpResult, err error)
	// Events returns up to limit log entries with revision > after, in revision order.
	// It returns ErrCompacted if after is older than the oldest entry kept.
	Events(ctx context.Context, after int64, limit int) ([]*LogEntry, error)
	// Revision returns the newest revision and the compacted revision (events at or below
	// it are gone).
	Revision(ctx context.Context) (current, compacted int64, err error)
	// Compact removes log entries with revision <= rev (never the newest one).
	Compact(ctx context.Context, rev int64) error
	// Changed is signalled (without blocking, coalesced) after a write is committed, by this
	// process or, where the backend can tell, by another replica.
	Changed() <-chan struct{}
	// TryLease takes or renews the named lease for holder for ttl, with the database's
	// clock. It reports whether holder has the lease now.
	TryLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// ReleaseLease gives the lease up if holder has it.
	ReleaseLease(ctx context.Context, name, holder string) error
	Close() error
}

// Record is one stored object. Value is the object's JSON without resourceVersion, which
// Store fills in from Revision when it reads.
type Record struct {
	Resource  string
	Namespace string
	Name      string
	Revision  int64
	UID       string
	Labels    map[string]string
	// Owners are the UIDs in the object's ownerReferences, indexed for garbage collection.
	Owners []string
	Value  []byte
}

// OpType says what an Op does.
type OpType int

// The kinds of write.
const (
	OpCreate OpType = iota + 1
	OpUpdate
	OpDelete
)

// Op is one write. For OpUpdate and OpDelete, ExpectRevision must equal the record's current
// revision. For OpDelete, Record needs Resource, Namespace, Name and the Value to log.
type Op struct {
	Type           OpType
	Record         *Record
	ExpectRevision int64
}

// OpResult is the outcome of one Op.
type OpResult struct {
	Revision int64
	Err      error
}

// LogEntry is one committed write, as watchers see it.
type LogEntry struct {
	Revision  int64
	Type      OpType
	Resource  string
	Namespace string
	Name      string
	Value     []byte
}

// Query selects records for List.
type Query struct {
	// Resource is "group/plural"; empty lists every resource (used by garbage collection).
	Resource string
	// Resources, Filter, FullText, OrderBy and Offset are answered by the in-memory query
	// index, not by backends.
	Resources []string
	Filter    [][]FieldRequirement
	Where     *Expr
	FullText  *FullText
	OrderBy   []Order
	Offset    int
	Namespace string
	Name      string // exact name, from a field selector
	Labels    []LabelRequirement
	// OwnerUID selects records that name this UID in their ownerReferences.
	OwnerUID string
	// After continues a listing after this (namespace, name).
	AfterNamespace string
	AfterName      string
	Limit          int
}

// FieldRequirement matches objects that have an index row for Key whose value is one of
// Values (lower-cased), or any row for Key when Values is empty.
type FieldRequirement struct {
	Key    string
	Values []string
}

// Expr is a boolean predicate over index rows, for what Filter cannot say (negation,
// nesting). Exactly one form is set: All (every child matches; none: everything), Any (at
// least one child matches; none: nothing), Not, or a field test as FieldRequirement's.
type Expr struct {
	All    []*Expr
	Any    []*Expr
	Not    *Expr
	Key    string
	Values []string // empty: the object has any row for Key
}

// FullText is a case-insensitive substring search over index rows.
type FullText struct {
	Term string
	Keys []string
}

// Order is one sort key over index rows.
type Order struct {
	Key  string
	Desc bool
}

// FacetCount is how many matching objects have one value of a key.
type FacetCount struct {
	Value string
	Count int64
}

// LabelOp is a label selector operator.
type LabelOp int

// Label selector operators, as Kubernetes defines them.
const (
	LabelEquals LabelOp = iota + 1
	LabelNotEquals
	LabelIn
	LabelNotIn
	LabelExists
	LabelNotExists
)

// LabelRequirement is one clause of a label selector.
type LabelRequirement struct {
	Key    string
	Op     LabelOp
	Values []string
}

// Errors a Backend returns for a failed precondition.
var (
	ErrKeyExists        = errors.New("key exists")
	ErrKeyNotFound      = errors.New("key not found")
	ErrRevisionMismatch = errors.New("revision mismatch")
	ErrCompacted        = errors.New("revision compacted")
)
