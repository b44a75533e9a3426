package backend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ProtectedPrefix starts the name of a node made by CreateProtected:
// "_c_<guid>-<name>", the layout Curator's protected mode uses, so Curator
// recognises our nodes and we recognise its.
const ProtectedPrefix = "_c_"

// NewGUID returns a random version-4 UUID in its canonical text form.
func NewGUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ProtectedName returns the Curator-style protected name for name: "_c_<guid>-<name>".
func ProtectedName(guid, name string) string {
	return ProtectedPrefix + guid + "-" + name
}

// CreateProtected creates a node whose name carries a fresh GUID
// ("_c_<guid>-<base of path>", plus the sequence suffix for sequential modes)
// so that a create whose reply was lost is found again instead of made twice.
// It returns the created path.
func CreateProtected(ctx context.Context, s Session, path string, data []byte, mode Mode, opts ...CreateOption) (string, error) {
	if err := ValidatePath(path); err != nil || path == "/" {
		return "", Errorf("create", path, ErrBadPath, err)
	}
	guid := NewGUID()
	p := Join(Parent(path), ProtectedName(guid, Base(path)))
	return CreateWithGUID(ctx, s, p, guid, data, mode, opts...)
}

// CreateWithGUID creates the node at path, whose last component must contain
// guid, and makes the create safe to repeat: when the reply is lost
// (ErrConnectionLoss), it looks for a child of the parent holding guid and
// returns it if found; if not, it creates again. Any layout of the name works,
// which lets recipes use the node names of Curator ("_c_<guid>-lock-") and of
// kazoo ("<guid>__lock__") alike.
func CreateWithGUID(ctx context.Context, s Session, path, guid string, data []byte, mode Mode, opts ...CreateOption) (string, error) {
	if guid == "" || !strings.Contains(Base(path), guid) {
		return "", Errorf("create", path, ErrBadPath, fmt.Errorf("name does not contain the GUID %q", guid))
	}
	parent := Parent(path)
	backoff := 10 * time.Millisecond
	for {
		created, err := s.Create(ctx, path, data, mode, opts...)
		if err == nil || !errors.Is(err, ErrConnectionLoss) {
			return created, err
		}
		// The create may have landed. Find it by its GUID once the session
		// can talk again; a lost session or ended context stops the search.
		for {
			if cerr := ctx.Err(); cerr != nil {
				return "", Errorf("create", path, cerr, err)
			}
			if serr := s.Err(); serr != nil {
				return "", Errorf("create", path, serr, err)
			}
			found, ferr := findGUID(ctx, s, parent, guid)
			if ferr == nil {
				if found != "" {
					return found, nil
				}
				break // not there: create again
			}
			if errors.Is(ferr, ErrNoNode) {
				break // parent gone: creating again reports it properly
			}
			if !errors.Is(ferr, ErrConnectionLoss) {
				return "", ferr
			}
			if _, werr := WaitState(ctx, s, Connected, Reconnected); werr != nil {
				return "", Errorf("create", path, werr, err)
			}
			// The state may still say connected while the connection fails:
			// back off before the next look, bounded by ctx.
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-s.Done():
				t.Stop()
			case <-t.C:
			}
			backoff = min(2*backoff, time.Second)
		}
	}
}

func findGUID(ctx context.Context, s Session, parent, guid string) (string, error) {
	children, _, err := s.Children(ctx, parent)
	if err != nil {
		return "", err
	}
	for _, c := range children {
		if strings.Contains(c, guid) {
			return Join(parent, c), nil
		}
	}
	return "", nil
}
