package githost

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/controller"
)

// Controller returns the controller that keeps each Repository's bare directory in line
// with its object: created (with hooks disabled) and its HEAD on the default branch while
// the object exists, removed before the object goes (a finalizer holds it until then).
// Add it to the controller manager.
func (h *Host) Controller() (*controller.Controller, error) {
	return controller.New(h.st, controller.ReconcilerFunc(h.reconcile), controller.Options{
		Name: "git-repositories", For: h.kind, Workers: 2, Logger: h.log})
}

// Reasons of the Ready condition.
const (
	ReasonAvailable     = "Available"
	ReasonGitNotFound   = "GitNotFound"
	ReasonInvalidBranch = "InvalidBranch"
	ReasonDirectoryUsed = "DirectoryInUse"
	ReasonInitFailed    = "InitFailed"
)

func (h *Host) reconcile(ctx context.Context, req controller.Request) (res controller.Result, err error) {
	obj, err := h.st.Get(ctx, h.kind, req.Namespace, req.Name)
	if api.IsNotFound(err) {
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	ns, name := obj.Metadata.Namespace, obj.Metadata.Name
	if !validName(ns) || !validName(name) {
		// The store's rules make this impossible; never build a path from such names.
		return controller.Result{}, controller.Terminal(fmt.Errorf("repository %s/%s: namespace and name must be DNS labels", ns, name))
	}
	if obj.Metadata.DeletionTimestamp != nil {
		return controller.Result{}, h.finalize(ctx, obj)
	}
	if !obj.HasFinalizer(Finalizer) {
		next := obj.DeepCopy()
		next.AddFinalizer(Finalizer)
		if obj, err = h.st.Update(ctx, next); err != nil {
			return controller.Result{}, err
		}
	}
	if controller.IsReady(obj) && h.git != "" {
		// Ready for this generation: a status write (a push) queued it; nothing to do
		// unless the directory went away.
		if _, err := os.Stat(h.repoDir(ns, name)); err == nil {
			return controller.Result{}, nil
		}
	}

	patcher := controller.NewStatusPatcher(h.st, obj)
	defer func() {
		if _, perr := patcher.Patch(ctx, obj); perr != nil && !api.IsNotFound(perr) {
			err = errors.Join(err, perr)
		}
	}()
	spec := specOf(obj)
	if err := setStatusFields(obj, map[string]any{"url": "/git/" + ns + "/" + name + ".git", "defaultBranch": spec.DefaultBranch}); err != nil {
		return controller.Result{}, err
	}
	reason, err := h.ensureRepository(ctx, ns, name, spec.DefaultBranch)
	switch {
	case err == nil:
		return controller.Result{}, controller.MarkReady(obj, ReasonAvailable,
			fmt.Sprintf("bare repository; clone it from /git/%s/%s.git", ns, name))
	case reason == ReasonInitFailed:
		if merr := controller.MarkFailed(obj, reason, err.Error()); merr != nil {
			return controller.Result{}, merr
		}
		return controller.Result{}, err
	default:
		// Retrying cannot help: the spec or the server has to change.
		if merr := controller.MarkStalled(obj, reason, err.Error()); merr != nil {
			return controller.Result{}, merr
		}
		return controller.Result{}, controller.Terminal(err)
	}
}

// ensureRepository creates the bare repository if it does not exist and brings its
// configuration and HEAD in line. It returns the reason to report when it fails.
func (h *Host) ensureRepository(ctx context.Context, ns, name, branch string) (string, error) {
	if h.git == "" {
		return ReasonGitNotFound, errNoGit
	}
	dir := h.repoDir(ns, name)
	if _, err := h.run(ctx, dir, "check-ref-format", "refs/heads/"+branch); err != nil {
		return ReasonInvalidBranch, fmt.Errorf("spec.defaultBranch %q is not a valid branch name", branch)
	}
	switch _, err := os.Stat(dir); {
	case errors.Is(err, fs.ErrNotExist):
		if err := h.initRepository(ctx, ns, dir, branch); err != nil {
			return ReasonInitFailed, err
		}
		h.log.Info("created repository", "repository", ns+"/"+name, "defaultBranch", branch)
	case err != nil:
		return ReasonInitFailed, fmt.Errorf("repository directory: %w", err)
	default:
		out, err := h.run(ctx, dir, "rev-parse", "--is-bare-repository")
		if err != nil || strings.TrimSpace(string(out)) != "true" {
			return ReasonDirectoryUsed, fmt.Errorf("the directory for %s/%s exists and is not a bare Git repository; move it away", ns, name)
		}
	}
	if err := h.configure(ctx, dir); err != nil {
		return ReasonInitFailed, err
	}
	out, err := h.run(ctx, dir, "symbolic-ref", "HEAD")
	if err != nil || strings.TrimSpace(string(out)) != "refs/heads/"+branch {
		if _, err := h.run(ctx, dir, "symbolic-ref", "HEAD", "refs/heads/"+branch); err != nil {
			return ReasonInitFailed, err
		}
	}
	return "", nil
}

// initRepository makes the bare repository in a temporary directory beside it and
// renames it into place, so a repository directory is never half made. No template is
// copied (no sample hooks, no description file).
func (h *Host) initRepository(ctx context.Context, ns, dir, branch string) error {
	if err := os.MkdirAll(filepath.Join(h.root, ns), 0o700); err != nil {
		return fmt.Errorf("create namespace directory: %w", err)
	}
	tmp, err := os.MkdirTemp(h.root, ".init-")
	if err != nil {
		return fmt.Errorf("create repository: %w", err)
	}
	defer os.RemoveAll(tmp) // gone after the rename; left over only on failure
	if _, err := h.run(ctx, tmp, "init", "--bare", "--quiet", "--template=", "--initial-branch="+branch); err != nil {
		return err
	}
	if err := h.configure(ctx, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("create repository: %w", err)
	}
	return nil
}

// configure writes the repository settings paved relies on: hooks point at the empty
// directory (the environment forces this too), and received objects are checked.
func (h *Host) configure(ctx context.Context, dir string) error {
	for _, kv := range [][2]string{
		{"core.hooksPath", h.empty},
		{"receive.fsckObjects", "true"},
	} {
		if _, err := h.run(ctx, dir, "config", kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// finalize removes the repository's directory (and its namespace directory once empty),
// then the finalizer, which lets the store delete the object.
func (h *Host) finalize(ctx context.Context, obj *api.Object) error {
	if !obj.HasFinalizer(Finalizer) {
		return nil
	}
	ns, name := obj.Metadata.Namespace, obj.Metadata.Name
	lock := h.pushLock(ns, name)
	lock.Lock()
	err := os.RemoveAll(h.repoDir(ns, name))
	lock.Unlock()
	if err != nil {
		return fmt.Errorf("remove the repository %s/%s: %w", ns, name, err)
	}
	_ = os.Remove(filepath.Join(h.root, ns)) // only if empty
	h.log.Info("deleted repository", "repository", ns+"/"+name)
	next := obj.DeepCopy()
	next.RemoveFinalizer(Finalizer)
	if _, err := h.st.Update(ctx, next); err != nil && !api.IsNotFound(err) {
		return err
	}
	return nil
}
