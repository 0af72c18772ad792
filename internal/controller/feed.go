package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
)

// listPageSize bounds one page of the initial list, so a kind with 100,000 objects is read
// in steps instead of one huge answer.
const listPageSize = 500

// feed turns one watch into requests: list the kind, then watch from the list's revision;
// when the watch ends (compaction said Gone, the store restarted) list again and watch
// again. Every listed object is enqueued, so nothing missed in between is lost: the
// controller is level-triggered and only needs to know which keys to look at.
func (c *Controller) feed(ctx context.Context, w Watch, enqueue func(Request), opened func()) {
	handle := func(ev store.Event) {
		if w.Map == nil {
			enqueue(RequestFor(ev.Object))
			return
		}
		for _, r := range w.Map(ctx, ev) {
			enqueue(r)
		}
	}
	what := "every kind"
	if w.Kind != nil {
		what = w.Kind.Kind
	}
	backoff := newBackoff(100*time.Millisecond, 30*time.Second)
	for ctx.Err() == nil {
		err := c.listAndWatch(ctx, w.Kind, handle, func() { backoff.reset(); opened() })
		if ctx.Err() != nil {
			return
		}
		if api.IsGone(err) {
			// The revision was compacted away: list again at once.
			c.log.Info("watch expired; listing again", "kind", what)
			backoff.reset()
			continue
		}
		if err == nil {
			err = errors.New("watch stream closed")
		}
		d := backoff.next()
		c.log.Warn("watch failed; listing again", "kind", what, "err", err, "retry", d)
		if !sleep(ctx, d) {
			return
		}
	}
}

// listAndWatch lists kind (if not nil), then watches from the list's revision until the
// stream ends; watching is called once the watch is open. It returns the error that ended
// the stream, or nil if it just closed. A watch of every kind has no list and starts from
// the current revision: after Gone its gap is covered only by the controller's Sweep.
func (c *Controller) listAndWatch(ctx context.Context, kind *kinds.Kind, handle func(store.Event), watching func()) error {
	added := func(o *api.Object) { handle(store.Event{Type: api.EventAdded, Object: o}) }
	rv := ""
	if kind != nil {
		var err error
		if rv, err = listAll(ctx, c.st, kind, added); err != nil {
			return err
		}
	} else {
		cur, err := c.st.Revision(ctx)
		if err != nil {
			return fmt.Errorf("read the store revision: %w", err)
		}
		rv = fmt.Sprint(cur)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := c.st.Watch(wctx, store.WatchOptions{Kind: kind, ResourceVersion: rv})
	if err != nil {
		return err
	}
	if rv == "0" && kind != nil {
		// Belt and braces for an empty store: the store watches from revision 0 then, and
		// listing again once the watch exists costs nothing on an empty kind.
		if _, err := listAll(ctx, c.st, kind, added); err != nil {
			return err
		}
	}
	watching()
	for ev := range ch {
		if ev.Type == api.EventError {
			return ev.Err
		}
		handle(ev)
	}
	return nil
}

// listAll lists every object of kind page by page and returns the revision of the first
// page: a watch from there sees every write after any page was read (objects written
// between pages are seen twice, which a level-triggered controller does not mind).
func listAll(ctx context.Context, st *store.Store, kind *kinds.Kind, fn func(*api.Object)) (string, error) {
	opts := store.ListOptions{Limit: listPageSize}
	rv := ""
	for {
		l, err := st.List(ctx, kind, opts)
		if err != nil {
			return "", fmt.Errorf("list %s: %w", kind.Plural, err)
		}
		if rv == "" {
			rv = l.Metadata.ResourceVersion
		}
		for i := range l.Items {
			fn(&l.Items[i])
		}
		if l.Metadata.Continue == "" {
			return rv, nil
		}
		opts.Continue = l.Metadata.Continue
	}
}

// backoff is a plain exponential backoff for the feed's reconnects.
type backoff struct {
	base, max, cur time.Duration
}

func newBackoff(base, max time.Duration) *backoff { return &backoff{base: base, max: max} }

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.base
	} else {
		b.cur = min(b.cur*2, b.max)
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits d or until ctx ends; it reports whether the full time passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
