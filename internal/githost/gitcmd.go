package githost

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// errNoGit is returned when git is not installed.
var errNoGit = errors.New("git is not installed on the server (install it and restart paved)")

// baseEnv is the whole environment of every git process paved starts: no variable of
// paved's own (tokens, database URLs) reaches git. Configuration comes only from the
// repository: no system or global file, HOME an empty directory, and core.hooksPath
// forced to the empty directory from the environment, which wins over any repository
// file, so no hook ever runs.
func (h *Host) baseEnv() []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	return []string{
		"PATH=" + path,
		"HOME=" + h.empty,
		"LC_ALL=C",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_CONFIG_COUNT=1",
		"GIT_CONFIG_KEY_0=core.hooksPath",
		"GIT_CONFIG_VALUE_0=" + h.empty,
	}
}

// command prepares git with args on the repository gitDir (GIT_DIR is set, so git never
// searches the directories above for another repository).
func (h *Host) command(ctx context.Context, gitDir string, args ...string) (*exec.Cmd, error) {
	if h.git == "" {
		return nil, errNoGit
	}
	cmd := exec.CommandContext(ctx, h.git, args...)
	cmd.Env = append(h.baseEnv(), "GIT_DIR="+gitDir)
	cmd.Dir = h.root
	cmd.WaitDelay = 5 * time.Second
	return cmd, nil
}

// run runs git and returns its standard output; the error carries its standard error.
func (h *Host) run(ctx context.Context, gitDir string, args ...string) ([]byte, error) {
	cmd, err := h.command(ctx, gitDir, args...)
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &stderr, max: 4096}
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return out, fmt.Errorf("git %s: %s", args[0], msg)
	}
	return out, nil
}

// refs returns every ref of the repository and the object it points at.
func (h *Host) refs(ctx context.Context, gitDir string) (map[string]string, error) {
	out, err := h.run(ctx, gitDir, "for-each-ref", "--format=%(objectname) %(refname)")
	if err != nil {
		return nil, err
	}
	refs := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		if sha, name, ok := strings.Cut(sc.Text(), " "); ok {
			refs[name] = sha
		}
	}
	return refs, sc.Err()
}

// diffRefs lists the refs that differ between before and after, sorted by name.
func diffRefs(before, after map[string]string) []RefUpdate {
	var out []RefUpdate
	zero := func(like string) string {
		if len(like) == 64 {
			return strings.Repeat("0", 64)
		}
		return strings.Repeat("0", 40)
	}
	for name, n := range after {
		if o, ok := before[name]; !ok {
			out = append(out, RefUpdate{Name: name, OldSHA: zero(n), NewSHA: n})
		} else if o != n {
			out = append(out, RefUpdate{Name: name, OldSHA: o, NewSHA: n})
		}
	}
	for name, o := range before {
		if _, ok := after[name]; !ok {
			out = append(out, RefUpdate{Name: name, OldSHA: o, NewSHA: zero(o)})
		}
	}
	slices.SortFunc(out, func(a, b RefUpdate) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// limitedBuffer keeps the first max bytes written to it and drops the rest.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
