package peers

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

//go:embed java/Peer.java
var curatorSource []byte

// javaDir is where Debian installs jars.
const javaDir = "/usr/share/java"

// curatorJars are the jars Peer.java compiles and runs against. Their
// manifests list no more than these need at run time; slf4j-simple logs
// Curator's and ZooKeeper's warnings to stderr, which tests log on failure.
var curatorJars = []string{
	"curator-recipes.jar", "curator-framework.jar", "curator-client.jar",
	"zookeeper.jar", "zookeeper-jute.jar", "guava.jar", "slf4j-api.jar", "slf4j-simple.jar",
	// x-discovery (the sd-* commands) and the Jackson it serializes with.
	"curator-x-discovery.jar", "jackson-databind.jar", "jackson-core.jar", "jackson-annotations.jar",
}

var (
	curatorOnce    sync.Once
	curatorClasses string        // directory holding Peer.class
	curatorCP      string        // the jars' class path
	curatorErr     error         // why the Curator peer cannot run here
	curatorMissing bool          // curatorErr is a missing tool or jar, not a build failure
	curatorBuild   time.Duration // how long javac took, when this process ran it
	curatorLogged  atomic.Bool   // a test has logged curatorBuild
)

// Curator starts an Apache Curator 5.4.0 peer connected to connect, a
// ZooKeeper connect string (host:port,...), and returns it once its session
// is up; the test's cleanup closes it. It skips the test when java, javac or
// Curator's jars are missing (fails it under CI=true).
func Curator(t testing.TB, connect string, opts ...Option) *Peer {
	t.Helper()
	c := newConfig(opts)
	curatorOnce.Do(buildCurator)
	if curatorMissing {
		unavailable(t, "no Curator peer: %v", curatorErr)
	}
	if curatorErr != nil {
		t.Fatalf("peers: %v", curatorErr)
	}
	if curatorBuild > 0 && curatorLogged.CompareAndSwap(false, true) {
		t.Logf("peers: compiled java/Peer.java in %v", curatorBuild.Round(time.Millisecond))
	}
	jvm := []string{"-XX:TieredStopAtLevel=1", "-Xmx256m"} // quick to start: tests
	if c.bench {
		jvm = []string{"-Xmx1g"} // C1 then C2, as a Curator application runs
	}
	argv := append([]string{"java", "-XX:+UseSerialGC", "-Xss512k"}, jvm...)
	argv = append(argv,
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
		"-Dorg.slf4j.simpleLogger.showDateTime=true",
		"-cp", curatorClasses+string(os.PathListSeparator)+curatorCP,
		"Peer", connect, millis(c.session))
	if c.namespace != "" {
		argv = append(argv, c.namespace)
	}
	return start(t, "curator", argv)
}

// CheckCurator returns why the Curator peer cannot run here (no java or
// javac, a missing jar, a failed build), or nil: for a benchmark that
// leaves the peer out instead of skipping everything else.
func CheckCurator() error {
	curatorOnce.Do(buildCurator)
	if curatorErr != nil {
		return fmt.Errorf("peers: no Curator peer: %w", curatorErr)
	}
	return nil
}

// buildCurator finds the tools and jars and compiles Peer.java into the
// user's cache, keyed by the source and the class path, unless a previous
// run did.
func buildCurator() {
	for _, tool := range []string{"java", "javac"} {
		if _, err := exec.LookPath(tool); err != nil {
			curatorErr, curatorMissing = fmt.Errorf("no %s on PATH", tool), true
			return
		}
	}
	var cp []string
	for _, j := range curatorJars {
		p := filepath.Join(javaDir, j)
		if _, err := os.Stat(p); err != nil {
			curatorErr, curatorMissing = fmt.Errorf("no %s (apt-get install libcurator-recipes-java ...)", p), true
			return
		}
		cp = append(cp, p)
	}
	curatorCP = strings.Join(cp, string(os.PathListSeparator))

	h := sha256.New()
	h.Write(curatorSource)
	h.Write([]byte{0})
	h.Write([]byte(curatorCP))
	dir, err := cacheDir("curator-" + hex.EncodeToString(h.Sum(nil))[:16])
	if err != nil {
		curatorErr = err
		return
	}
	curatorClasses = dir
	if _, err := os.Stat(filepath.Join(dir, "Peer.class")); err == nil {
		return
	}
	t0 := time.Now()
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".build-")
	if err != nil {
		curatorErr = fmt.Errorf("compile the Curator peer: %w", err)
		return
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "Peer.java")
	if err := os.WriteFile(src, curatorSource, 0o644); err != nil {
		curatorErr = fmt.Errorf("compile the Curator peer: %w", err)
		return
	}
	classes := filepath.Join(tmp, "classes")
	out, err := exec.Command("javac", "-nowarn", "-encoding", "UTF-8", "-d", classes, "-cp", curatorCP, src).CombinedOutput()
	if err != nil {
		curatorErr = fmt.Errorf("javac java/Peer.java: %v\n%s", err, out)
		return
	}
	// Another test process may have finished the same build first: either
	// directory is as good.
	if err := os.Rename(classes, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "Peer.class")); statErr != nil {
			curatorErr = fmt.Errorf("compile the Curator peer: %w", err)
			return
		}
	}
	curatorBuild = time.Since(t0)
}

// cacheDir returns os.UserCacheDir()/zkrecipes/peers/name (falling back to
// the temporary directory) and creates its parent.
func cacheDir(name string) (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	parent := filepath.Join(base, "zkrecipes", "peers")
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("peers: cache directory: %w", err)
	}
	return filepath.Join(parent, name), nil
}
