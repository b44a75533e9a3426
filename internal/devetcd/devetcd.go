package devetcd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// ErrBadOptions is returned by Start for options it cannot use.
var ErrBadOptions = errors.New("devetcd: bad options")

// DefaultStartTimeout bounds Start when its context has no deadline.
const DefaultStartTimeout = 60 * time.Second

// attempts is how many times Start picks new free ports when one it picked
// was taken by someone else before the server could bind it.
const attempts = 5

// Options configure Start. The zero value is a throw-away server on free
// loopback ports, in a temporary directory, logging nothing.
type Options struct {
	// Dir is the data directory. It is created when missing and kept by
	// Close, so a later Start with the same Dir finds the data again. Empty:
	// a temporary directory that Close removes.
	Dir string
	// ClientPort is the client port on 127.0.0.1, 1 to 65535. Zero picks a
	// free port. A port that is taken makes Start fail (no other port is
	// tried).
	ClientPort int
	// Log receives etcd's own log (zap JSON lines). Nil discards it.
	Log io.Writer
	// Verbose logs at info level instead of warnings and errors only; it
	// matters only with Log.
	Verbose bool
}

func (o Options) validate() error {
	if o.ClientPort < 0 || o.ClientPort > 65535 {
		return fmt.Errorf("%w: client port %d: want 1 to 65535, or 0 for a free one", ErrBadOptions, o.ClientPort)
	}
	return nil
}

// Server is a running embedded etcd. Close it.
type Server struct {
	e         *embed.Etcd
	endpoint  string
	dir       string
	removeDir bool

	closeOnce sync.Once
	closeErr  error
}

// Start starts a single-member etcd in this process, listening on
// 127.0.0.1 only, and returns once it serves requests, ctx ends (then it
// stops what it started), or DefaultStartTimeout passes when ctx has no
// deadline.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultStartTimeout)
		defer cancel()
	}
	s := &Server{dir: opts.Dir}
	if s.dir == "" {
		dir, err := os.MkdirTemp("", "devetcd-")
		if err != nil {
			return nil, fmt.Errorf("devetcd: data directory: %w", err)
		}
		s.dir, s.removeDir = dir, true
	} else if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("devetcd: data directory: %w", err)
	}
	e, err := s.start(opts)
	if err != nil {
		s.removeData()
		return nil, err
	}
	s.e = e
	select {
	case <-e.Server.ReadyNotify():
		return s, nil
	case err := <-e.Err():
		s.Close()
		return nil, fmt.Errorf("devetcd: %w", err)
	case <-ctx.Done():
		s.Close()
		return nil, fmt.Errorf("devetcd: not ready: %w", ctx.Err())
	}
}

// start binds the ports and starts the server, picking new free ports when
// a picked one was taken meanwhile.
func (s *Server) start(opts Options) (*embed.Etcd, error) {
	var last error
	for range attempts {
		client := opts.ClientPort
		if client == 0 {
			p, err := freePort()
			if err != nil {
				return nil, err
			}
			client = p
		}
		peer, err := freePort()
		if err != nil {
			return nil, err
		}
		cfg := s.config(opts, client, peer)
		e, err := embed.StartEtcd(cfg)
		if err == nil {
			s.endpoint = "127.0.0.1:" + strconv.Itoa(client)
			return e, nil
		}
		last = err
		if !addrInUse(err) {
			break
		}
	}
	return nil, fmt.Errorf("devetcd: start: %w", last)
}

func (s *Server) config(opts Options, client, peer int) *embed.Config {
	cfg := embed.NewConfig()
	cfg.Name = "devetcd"
	cfg.Dir = s.dir
	cu := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(client)}
	pu := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(peer)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	cfg.InitialClusterToken = "devetcd"
	cfg.EnableGRPCGateway = false
	// A development server: no fsync, so tests and demos are not slowed by
	// the disk. Data survives a process exit, not a power cut.
	cfg.UnsafeNoFsync = true
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(logger(opts))
	return cfg
}

// logger is etcd's logger: discarded, or JSON lines to opts.Log.
func logger(opts Options) *zap.Logger {
	if opts.Log == nil {
		return zap.NewNop()
	}
	level := zapcore.WarnLevel
	if opts.Verbose {
		level = zapcore.InfoLevel
	}
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(opts.Log)), level))
}

// freePort asks the kernel for a free port on 127.0.0.1. Someone else may
// take it before the server binds it; start then tries again.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("devetcd: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func addrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
}

// Endpoints returns the client addresses to give an etcd client, host:port.
func (s *Server) Endpoints() []string { return []string{s.endpoint} }

// Dir returns the data directory.
func (s *Server) Dir() string { return s.dir }

// Err returns a channel that receives an error when the server fails while
// serving. Close closes it.
func (s *Server) Err() <-chan error { return s.e.Err() }

// Close stops the server, waits until it has stopped, and removes the data
// directory if Start made it. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.e.Close()
		<-s.e.Server.StopNotify()
		s.closeErr = s.removeData()
	})
	return s.closeErr
}

func (s *Server) removeData() error {
	if !s.removeDir {
		return nil
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("devetcd: remove data directory: %w", err)
	}
	return nil
}
