// Package sqlstore is the store Backend over SQL, shared by SQLite and PostgreSQL: a table of
// current objects (with label and owner indexes) and an append-only events table whose
// sequence is the revision. Dialects supply the few statements that differ. Writes go
// through one goroutine that commits concurrent requests together (group commit).
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paved-dev/paved/internal/store"
)

// Dialect holds what differs between SQL engines.
type Dialect struct {
	Name string
	// Numbered placeholders ($1, $2) instead of ?.
	Numbered bool
	// Schema statements, run in order at open; they must be idempotent.
	Schema []string
	// WriteLock runs first in every write transaction (PostgreSQL takes an advisory lock so
	// that revisions commit in order); empty for none.
	WriteLock string
	// Notify runs last in every write transaction with the newest revision as its argument;
	// empty for none.
	Notify string
	// NowMillis is an SQL expression for the database clock in Unix milliseconds.
	NowMillis string
	// ForcedJoin is the join keyword that keeps the written join order ("CROSS JOIN" in
	// SQLite; PostgreSQL's planner orders joins itself, so plain "JOIN").
	ForcedJoin string
	// ReadIsolation is the isolation level for list snapshots.
	ReadIsolation sql.IsolationLevel
	// BeforeCommit, if set, runs just before each write transaction commits. Tests use it to
	// widen the window in which concurrent commits could reorder.
	BeforeCommit func()
}

// DB is a store.Backend over database/sql.
type DB struct {
	d      Dialect
	writer *sql.DB
	reader *sql.DB

	stmts map[string]*sql.Stmt // read-only after Open

	reqs    chan *writeReq
	changed chan struct{}
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

type writeReq struct {
	ctx  context.Context
	ops  []store.Op
	res  []store.OpResult
	err  error
	done chan struct{}
	// fn, if set, runs instead of ops (compaction) inside the writer's transaction.
	fn func(tx *sql.Tx) error
}

// Open wraps writer and reader connections (they may be the same pool) and creates the schema.
func Open(ctx context.Context, d Dialect, writer, reader *sql.DB) (*DB, error) {
	for _, stmt := range d.Schema {
		if _, err := writer.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("%s: create schema: %w (statement: %.80s)", d.Name, err, stmt)
		}
	}
	db := &DB{d: d, writer: writer, reader: reader, stmts: map[string]*sql.Stmt{}, reqs: make(chan *writeReq, 1024),
		changed: make(chan struct{}, 1), stop: make(chan struct{})}
	if err := db.prepare(ctx); err != nil {
		return nil, err
	}
	db.wg.Add(1)
	go db.writeLoop()
	return db, nil
}

// Name implements store.Backend.
func (db *DB) Name() string { return db.d.Name }

// Changed implements store.Backend.
func (db *DB) Changed() <-chan struct{} { return db.changed }

// Signal tells watchers that something was committed (used by a dialect's listener for
// commits made by other replicas).
func (db *DB) Signal() {
	select {
	case db.changed <- struct{}{}:
	default:
	}
}

// Close stops the writer; the caller closes the sql.DBs.
func (db *DB) Close() error {
	db.once.Do(func() { close(db.stop) })
	db.wg.Wait()
	return nil
}

// writeStatements are prepared once at Open: parsing SQL is a tenth of a small write's
// cost, and preparing later is impossible while the single SQLite writer connection is held
// by the transaction that needs the statement.
var writeStatements = []string{
	`SELECT id, rev FROM objects WHERE resource = ? AND namespace = ? AND name = ?`,
	`INSERT INTO events (type, resource, namespace, name, value) VALUES (?, ?, ?, ?, ?) RETURNING rev`,
	`INSERT INTO objects (resource, namespace, name, rev, uid, value) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
	`UPDATE objects SET rev = ?, uid = ?, value = ? WHERE id = ?`,
	`DELETE FROM objects WHERE id = ?`,
	`DELETE FROM labels WHERE obj_id = ?`,
	`DELETE FROM owners WHERE obj_id = ?`,
	`INSERT INTO labels (obj_id, resource, key, value) VALUES (?, ?, ?, ?)`,
	`INSERT INTO owners (obj_id, owner_uid) VALUES (?, ?)`,
}

func (db *DB) prepare(ctx context.Context) error {
	for _, q := range writeStatements {
		st, err := db.writer.PrepareContext(ctx, db.q(q))
		if err != nil {
			return fmt.Errorf("%s: prepare %.60s: %w", db.d.Name, q, err)
		}
		db.stmts[q] = st
	}
	return nil
}

// stmt returns the prepared statement for query bound to tx.
func (db *DB) stmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	st, ok := db.stmts[query]
	if !ok {
		return nil, fmt.Errorf("statement not prepared: %.60s", query)
	}
	return tx.StmtContext(ctx, st), nil
}

func (db *DB) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	st, err := db.stmt(ctx, tx, query)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	return err
}

func (db *DB) txQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	st, err := db.stmt(ctx, tx, query)
	if err != nil {
		panic(err) // a programming error: every write statement is prepared at Open
	}
	return st.QueryRowContext(ctx, args...)
}

func (db *DB) q(s string) string {
	if !db.d.Numbered {
		return s
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Get implements store.Backend.
func (db *DB) Get(ctx context.Context, resource, namespace, name string) (*store.Record, error) {
	r := &store.Record{Resource: resource, Namespace: namespace, Name: name}
	err := db.reader.QueryRowContext(ctx, db.q(`SELECT rev, uid, value FROM objects WHERE resource = ? AND namespace = ? AND name = ?`),
		resource, namespace, name).Scan(&r.Revision, &r.UID, &r.Value)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrKeyNotFound
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Count implements store.Backend.
func (db *DB) Count(ctx context.Context, resource, namespace string) (int64, error) {
	var n int64
	var err error
	if namespace == "" {
		err = db.reader.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM objects WHERE resource = ?`), resource).Scan(&n)
	} else {
		err = db.reader.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM objects WHERE resource = ? AND namespace = ?`), resource, namespace).Scan(&n)
	}
	return n, err
}

// sel is a query's FROM and WHERE parts with their arguments, in placeholder order.
type sel struct {
	from      string
	fromArgs  []any
	where     []string
	whereArgs []any
}

func (x *sel) sql() (string, []any) {
	q := " FROM " + x.from
	if len(x.where) > 0 {
		q += " WHERE " + strings.Join(x.where, " AND ")
	}
	return q, append(append([]any{}, x.fromArgs...), x.whereArgs...)
}

func (x *sel) add(cond string, args ...any) {
	x.where = append(x.where, cond)
	x.whereArgs = append(x.whereArgs, args...)
}

// selectFor translates q into SQL conditions on objects o (without paging).
func (db *DB) selectFor(q store.Query) (*sel, error) {
	x := &sel{from: "objects o"}
	if q.Resource != "" {
		x.add("o.resource = ?", q.Resource)
	}
	if q.Namespace != "" {
		x.add("o.namespace = ?", q.Namespace)
	}
	if q.Name != "" {
		x.add("o.name = ?", q.Name)
	}
	if q.OwnerUID != "" {
		x.add("o.id IN (SELECT obj_id FROM owners WHERE owner_uid = ?)", q.OwnerUID)
	}
	// With a positive label requirement, drive the query from the label index (a forced
	// join order) instead of walking every object of the resource in name order and probing
	// its labels: 1,000 matches of 100,000 then cost 1,000 lookups.
	drive := -1
	for i, r := range q.Labels {
		if r.Op == store.LabelEquals || r.Op == store.LabelIn || r.Op == store.LabelExists {
			drive = i
			break
		}
	}
	resource := q.Resource
	for i, r := range q.Labels {
		cond, condArgs := labelCond(resource, r)
		if i == drive {
			x.from = "labels l " + db.d.ForcedJoin + " objects o ON o.id = l.obj_id"
			x.fromArgs = nil
			x.where = append([]string{strings.ReplaceAll(cond, "{t}", "l.")}, x.where...)
			x.whereArgs = append(condArgs, x.whereArgs...)
			continue
		}
		sub := "SELECT obj_id FROM labels WHERE " + strings.ReplaceAll(cond, "{t}", "")
		switch r.Op {
		case store.LabelEquals, store.LabelIn, store.LabelExists:
			x.add("o.id IN ("+sub+")", condArgs...)
		case store.LabelNotEquals, store.LabelNotIn, store.LabelNotExists:
			x.add("o.id NOT IN ("+sub+")", condArgs...)
		default:
			return nil, fmt.Errorf("unknown label operator %d", r.Op)
		}
	}
	return x, nil
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

// List implements store.Backend.
func (db *DB) List(ctx context.Context, q store.Query) ([]*store.Record, int64, bool, error) {
	x, err := db.selectFor(q)
	if err != nil {
		return nil, 0, false, err
	}
	if q.AfterName != "" {
		x.add("(o.namespace > ? OR (o.namespace = ? AND o.name > ?))", q.AfterNamespace, q.AfterNamespace, q.AfterName)
	}
	from, args := x.sql()
	query := "SELECT o.resource, o.namespace, o.name, o.rev, o.uid, o.value" + from + " ORDER BY o.namespace, o.name"
	if q.Limit > 0 {
		query += " LIMIT " + strconv.Itoa(q.Limit+1)
	}
	tx, err := db.reader.BeginTx(ctx, &sql.TxOptions{Isolation: db.d.ReadIsolation, ReadOnly: true})
	if err != nil {
		return nil, 0, false, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	var rev int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(rev), 0) FROM events`).Scan(&rev); err != nil {
		return nil, 0, false, err
	}
	rows, err := tx.QueryContext(ctx, db.q(query), args...)
	if err != nil {
		return nil, 0, false, err
	}
	defer rows.Close()
	var out []*store.Record
	for rows.Next() {
		r := &store.Record{}
		if err := rows.Scan(&r.Resource, &r.Namespace, &r.Name, &r.Revision, &r.UID, &r.Value); err != nil {
			return nil, 0, false, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, false, err
	}
	more := false
	if q.Limit > 0 && len(out) > q.Limit {
		out, more = out[:q.Limit], true
	}
	return out, rev, more, nil
}

// labelCond is the condition on a labels row for one requirement; {t} stands for the
// table qualifier.
func labelCond(resource string, r store.LabelRequirement) (string, []any) {
	var conds []string
	var args []any
	if resource != "" {
		conds = append(conds, "{t}resource = ?")
		args = append(args, resource)
	}
	conds = append(conds, "{t}key = ?")
	args = append(args, r.Key)
	if len(r.Values) > 0 && r.Op != store.LabelExists && r.Op != store.LabelNotExists {
		conds = append(conds, "{t}value IN ("+strings.TrimSuffix(strings.Repeat("?,", len(r.Values)), ",")+")")
		for _, v := range r.Values {
			args = append(args, v)
		}
	}
	return strings.Join(conds, " AND "), args
}

// Revision implements store.Backend.
func (db *DB) Revision(ctx context.Context) (int64, int64, error) {
	var cur, compacted int64
	err := db.reader.QueryRowContext(ctx, `SELECT COALESCE((SELECT MAX(rev) FROM events), 0), COALESCE((SELECT value FROM meta WHERE key = 'compacted'), 0)`).Scan(&cur, &compacted)
	return cur, compacted, err
}

// Events implements store.Backend.
func (db *DB) Events(ctx context.Context, after int64, limit int) ([]*store.LogEntry, error) {
	var compacted int64
	err := db.reader.QueryRowContext(ctx, `SELECT COALESCE((SELECT value FROM meta WHERE key = 'compacted'), 0)`).Scan(&compacted)
	if err != nil {
		return nil, err
	}
	if after < compacted {
		return nil, store.ErrCompacted
	}
	rows, err := db.reader.QueryContext(ctx, db.q(`SELECT rev, type, resource, namespace, name, value FROM events WHERE rev > ? ORDER BY rev LIMIT ?`), after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.LogEntry
	for rows.Next() {
		e := &store.LogEntry{}
		var typ int
		if err := rows.Scan(&e.Revision, &typ, &e.Resource, &e.Namespace, &e.Name, &e.Value); err != nil {
			return nil, err
		}
		e.Type = store.OpType(typ)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Compact implements store.Backend.
func (db *DB) Compact(ctx context.Context, rev int64) error {
	return db.submit(ctx, &writeReq{ctx: ctx, fn: func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM events WHERE rev <= ? AND rev < (SELECT MAX(rev) FROM events)`), rev); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO meta (key, value) VALUES ('compacted', ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE meta.value < excluded.value`), rev)
		return err
	}})
}

// TryLease implements store.Backend.
func (db *DB) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	now := db.d.NowMillis
	var got string
	err := db.writer.QueryRowContext(ctx, db.q(`INSERT INTO leases (name, holder, expires) VALUES (?, ?, `+now+` + ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
		WHERE leases.holder = excluded.holder OR leases.expires < `+now+`
		RETURNING holder`), name, holder, ttl.Milliseconds()).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", name, err)
	}
	return got == holder, nil
}

// ReleaseLease implements store.Backend.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := db.writer.ExecContext(ctx, db.q(`DELETE FROM leases WHERE name = ? AND holder = ?`), name, holder)
	return err
}

// Write implements store.Backend.
func (db *DB) Write(ctx context.Context, ops []store.Op) ([]store.OpResult, error) {
	r := &writeReq{ctx: ctx, ops: ops}
	if err := db.submit(ctx, r); err != nil {
		return nil, err
	}
	return r.res, nil
}

func (db *DB) submit(ctx context.Context, r *writeReq) error {
	r.done = make(chan struct{})
	select {
	case db.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-db.stop:
		return errors.New("store is closed")
	}
	// Once queued, wait for the outcome even if ctx ends: the write may commit, and the
	// caller must not be told it failed when it did not.
	<-r.done
	return r.err
}

// maxBatchOps bounds one group commit, so one transaction never holds the write lock long.
const maxBatchOps = 512

func (db *DB) writeLoop() {
	defer db.wg.Done()
	for {
		var first *writeReq
		select {
		case first = <-db.reqs:
		case <-db.stop:
			// Fail whatever is still queued.
			for {
				select {
				case r := <-db.reqs:
					r.err = errors.New("store is closed")
					close(r.done)
				default:
					return
				}
			}
		}
		batch := []*writeReq{first}
		n := len(first.ops)
		if first.fn == nil {
		drain:
			for n < maxBatchOps {
				select {
				case r := <-db.reqs:
					if r.fn != nil {
						db.commit([]*writeReq{r})
						continue
					}
					batch = append(batch, r)
					n += len(r.ops)
				default:
					break drain
				}
			}
		}
		db.commit(batch)
	}
}

func (db *DB) commit(batch []*writeReq) {
	err := db.runTx(batch)
	for _, r := range batch {
		if err != nil {
			r.err = err
			r.res = nil
		}
		close(r.done)
	}
	if err == nil {
		db.Signal()
	}
}

func (db *DB) runTx(batch []*writeReq) error {
	ctx := context.Background() // the batch belongs to several callers; none may cancel it alone
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		lastErr = db.tryTx(ctx, batch)
		if lastErr == nil || !retryable(lastErr) {
			return lastErr
		}
		time.Sleep(time.Duration(attempt+1) * 20 * time.Millisecond)
	}
	return lastErr
}

func retryable(err error) bool {
	s := err.Error()
	return strings.Contains(s, "SQLITE_BUSY") || strings.Contains(s, "database is locked") ||
		strings.Contains(s, "40001") || strings.Contains(s, "40P01")
}

func (db *DB) tryTx(ctx context.Context, batch []*writeReq) error {
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if db.d.WriteLock != "" {
		if _, err := tx.ExecContext(ctx, db.d.WriteLock); err != nil {
			return fmt.Errorf("write lock: %w", err)
		}
	}
	var last int64
	for _, r := range batch {
		if r.fn != nil {
			if err := r.fn(tx); err != nil {
				return err
			}
			continue
		}
		r.res = make([]store.OpResult, len(r.ops))
		for i, op := range r.ops {
			rev, opErr, err := db.apply(ctx, tx, op)
			if err != nil {
				return err
			}
			r.res[i] = store.OpResult{Revision: rev, Err: opErr}
			if rev > last {
				last = rev
			}
		}
	}
	if db.d.Notify != "" && last > 0 {
		if _, err := tx.ExecContext(ctx, db.q(db.d.Notify), strconv.FormatInt(last, 10)); err != nil {
			return fmt.Errorf("notify: %w", err)
		}
	}
	if db.d.BeforeCommit != nil {
		db.d.BeforeCommit()
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// apply performs one op. opErr is a failed precondition; err aborts the transaction.
func (db *DB) apply(ctx context.Context, tx *sql.Tx, op store.Op) (rev int64, opErr, err error) {
	rec := op.Record
	var id, curRev int64
	err = db.txQueryRow(ctx, tx, `SELECT id, rev FROM objects WHERE resource = ? AND namespace = ? AND name = ?`,
		rec.Resource, rec.Namespace, rec.Name).Scan(&id, &curRev)
	exists := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, nil, fmt.Errorf("read %s %s/%s: %w", rec.Resource, rec.Namespace, rec.Name, err)
	}
	switch op.Type {
	case store.OpCreate:
		if exists {
			return 0, store.ErrKeyExists, nil
		}
	case store.OpUpdate, store.OpDelete:
		if !exists {
			return 0, store.ErrKeyNotFound, nil
		}
		if op.ExpectRevision != 0 && op.ExpectRevision != curRev {
			return 0, store.ErrRevisionMismatch, nil
		}
	default:
		return 0, nil, fmt.Errorf("unknown op type %d", op.Type)
	}
	err = db.txQueryRow(ctx, tx, `INSERT INTO events (type, resource, namespace, name, value) VALUES (?, ?, ?, ?, ?) RETURNING rev`,
		int(op.Type), rec.Resource, rec.Namespace, rec.Name, rec.Value).Scan(&rev)
	if err != nil {
		return 0, nil, fmt.Errorf("append event: %w", err)
	}
	switch op.Type {
	case store.OpCreate:
		err = db.txQueryRow(ctx, tx, `INSERT INTO objects (resource, namespace, name, rev, uid, value) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
			rec.Resource, rec.Namespace, rec.Name, rev, rec.UID, rec.Value).Scan(&id)
	case store.OpUpdate:
		err = db.txExec(ctx, tx, `UPDATE objects SET rev = ?, uid = ?, value = ? WHERE id = ?`, rev, rec.UID, rec.Value, id)
	case store.OpDelete:
		err = db.txExec(ctx, tx, `DELETE FROM objects WHERE id = ?`, id)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("write object: %w", err)
	}
	if op.Type != store.OpCreate {
		if err := db.txExec(ctx, tx, `DELETE FROM labels WHERE obj_id = ?`, id); err != nil {
			return 0, nil, err
		}
		if err := db.txExec(ctx, tx, `DELETE FROM owners WHERE obj_id = ?`, id); err != nil {
			return 0, nil, err
		}
	}
	if op.Type != store.OpDelete {
		for k, v := range rec.Labels {
			if err := db.txExec(ctx, tx, `INSERT INTO labels (obj_id, resource, key, value) VALUES (?, ?, ?, ?)`, id, rec.Resource, k, v); err != nil {
				return 0, nil, fmt.Errorf("index label %s: %w", k, err)
			}
		}
		seen := map[string]bool{}
		for _, o := range rec.Owners {
			if seen[o] {
				continue
			}
			seen[o] = true
			if err := db.txExec(ctx, tx, `INSERT INTO owners (obj_id, owner_uid) VALUES (?, ?)`, id, o); err != nil {
				return 0, nil, fmt.Errorf("index owner %s: %w", o, err)
			}
		}
	}
	return rev, nil, nil
}
