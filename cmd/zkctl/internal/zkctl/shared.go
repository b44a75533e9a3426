package zkctl

import (
	"context"
	"fmt"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
)

// sharedKey is the context key under which zkctl shell hands its session
// to the commands it runs.
type sharedKey struct{}

// shared is what the shell hands to its commands: its session, and the
// connection flags it was made with.
type shared struct {
	conn []string
	open func(context.Context) (backend.Session, error)
}

// connFlags are the global flags that choose a connection and session.
var connFlags = []string{"endpoints", "session-timeout", "user", "password-file", "acl", "cacert", "cert", "key"}

// WithSharedSession returns ctx carrying session, a function that returns
// a live session of the cluster c's global flags name: the commands run
// with that context and the same connection flags use it instead of
// opening their own (Session). zkctl shell hands its session to its lines
// so.
func WithSharedSession(ctx context.Context, c *cli.Context, open func(context.Context) (backend.Session, error)) context.Context {
	return context.WithValue(ctx, sharedKey{}, &shared{conn: connFingerprint(c), open: open})
}

// connFingerprint is the values of c's connection flags.
func connFingerprint(c *cli.Context) []string {
	var fp []string
	for _, name := range connFlags {
		fp = append(fp, fmt.Sprint(c.Value(name)))
	}
	return fp
}

// sharedSession returns the session of the zkctl shell running this command,
// when the command runs in one and its connection flags are the shell's, so
// that the shell's lines share one session: an ephemeral node made by one
// line lives until the shell ends. ok is false otherwise (then the command
// opens its own session); done releases the returned context, not the
// session. Session calls it first.
func sharedSession(c *cli.Context) (ctx context.Context, s backend.Session, done func(), ok bool) {
	sh, _ := c.Context.Value(sharedKey{}).(*shared)
	if sh == nil || !slices.Equal(connFingerprint(c), sh.conn) {
		return nil, nil, nil, false
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("request-timeout"))
	s, err := sh.open(ctx)
	if err != nil {
		// The command connects itself, and reports the failure its way.
		cancel()
		return nil, nil, nil, false
	}
	return ctx, s, cancel, true
}
