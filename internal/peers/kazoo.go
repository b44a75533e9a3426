package peers

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

//go:embed python/peer.py
var kazooSource []byte

// python is Debian's interpreter, which sees python3-kazoo; the python3
// first on PATH may be another install that does not.
const python = "/usr/bin/python3"

var (
	kazooOnce    sync.Once
	kazooScript  string // peer.py in the cache
	kazooVersion string
	kazooErr     error // why the kazoo peer cannot run here
	kazooMissing bool  // kazooErr is a missing interpreter or module
)

// Kazoo starts a kazoo peer (Debian's python3-kazoo, 2.8.0 on Debian 12)
// connected to connect, a ZooKeeper connect string (host:port,...), and
// returns it once its session is up; the test's cleanup closes it. It skips
// the test when /usr/bin/python3 or its kazoo module is missing (fails it
// under CI=true).
func Kazoo(t testing.TB, connect string, opts ...Option) *Peer {
	t.Helper()
	c := newConfig(opts)
	kazooOnce.Do(prepareKazoo)
	if kazooMissing {
		unavailable(t, "no kazoo peer: %v", kazooErr)
	}
	if kazooErr != nil {
		t.Fatalf("peers: %v", kazooErr)
	}
	argv := []string{python, "-u", kazooScript, connect, millis(c.session)}
	if c.namespace != "" {
		argv = append(argv, c.namespace)
	}
	return start(t, "kazoo "+kazooVersion, argv)
}

// CheckKazoo returns why the kazoo peer cannot run here (no
// /usr/bin/python3 or no kazoo module), or nil.
func CheckKazoo() error {
	kazooOnce.Do(prepareKazoo)
	if kazooErr != nil {
		return fmt.Errorf("peers: no kazoo peer: %w", kazooErr)
	}
	return nil
}

// prepareKazoo checks the interpreter and module and writes peer.py into
// the user's cache, keyed by its content.
func prepareKazoo() {
	if _, err := os.Stat(python); err != nil {
		kazooErr, kazooMissing = fmt.Errorf("no %s", python), true
		return
	}
	out, err := exec.Command(python, "-c", "import kazoo.version; print(kazoo.version.__version__)").CombinedOutput()
	if err != nil {
		kazooErr, kazooMissing = fmt.Errorf("%s cannot import kazoo (apt-get install python3-kazoo): %s", python, strings.TrimSpace(string(out))), true
		return
	}
	kazooVersion = strings.TrimSpace(string(out))
	sum := sha256.Sum256(kazooSource)
	dir, err := cacheDir("kazoo-" + hex.EncodeToString(sum[:])[:16])
	if err != nil {
		kazooErr = err
		return
	}
	kazooScript = filepath.Join(dir, "peer.py")
	if b, err := os.ReadFile(kazooScript); err == nil && string(b) == string(kazooSource) {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		kazooErr = fmt.Errorf("peers: %w", err)
		return
	}
	tmp, err := os.CreateTemp(dir, ".peer-*.py")
	if err != nil {
		kazooErr = fmt.Errorf("peers: %w", err)
		return
	}
	_, werr := tmp.Write(kazooSource)
	cerr := tmp.Close()
	if werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		kazooErr = fmt.Errorf("peers: write peer.py: %w", errors.Join(werr, cerr))
		return
	}
	if err := os.Rename(tmp.Name(), kazooScript); err != nil {
		os.Remove(tmp.Name())
		kazooErr = fmt.Errorf("peers: write peer.py: %w", err)
	}
}
