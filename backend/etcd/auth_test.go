package etcd_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

const authWait = 30 * time.Second

func authCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), authWait)
	t.Cleanup(cancel)
	return c
}

// TestAuth turns auth on in an etcd of the test's own: the right password
// works, a wrong one is ErrNoAuth, a user without a role is refused writes
// with ErrNoAuth, and no error says the password.
func TestAuth(t *testing.T) {
	ep := testenv.PrivateEtcd(t, "http")
	raw, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	c := authCtx(t)
	for _, step := range []func() error{
		func() error { _, err := raw.UserAdd(c, "root", "root-pw-1234"); return err },
		func() error { _, err := raw.UserGrantRole(c, "root", "root"); return err },
		func() error { _, err := raw.UserAdd(c, "nobody", "nobody-pw-5678"); return err },
		func() error { _, err := raw.AuthEnable(c); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("setting up auth: %v", err)
		}
	}

	open := func(user, pw string) (*etcd.Client, backend.Session, error) {
		cl, err := etcd.New(etcd.Config{Endpoints: []string{ep}, Namespace: "/auth", Username: user, Password: pw, SessionTimeout: 4 * time.Second})
		if err != nil {
			return nil, nil, err
		}
		t.Cleanup(func() { cl.Close() })
		s, err := cl.Session(authCtx(t))
		return cl, s, err
	}

	_, s, err := open("root", "root-pw-1234")
	if err != nil {
		t.Fatalf("root session: %v", err)
	}
	if _, err := s.Create(authCtx(t), "/n", []byte("x"), backend.Ephemeral); err != nil {
		t.Fatalf("create as root: %v", err)
	}

	_, _, err = open("root", "wrong-secret-9999")
	if !errors.Is(err, backend.ErrNoAuth) {
		t.Fatalf("wrong password: %v, want ErrNoAuth", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-9999") {
		t.Fatalf("error shows the password: %v", err)
	}

	_, ns, err := open("nobody", "nobody-pw-5678")
	if err == nil {
		_, err = ns.Create(authCtx(t), "/m", nil, backend.Persistent)
	}
	if !errors.Is(err, backend.ErrNoAuth) {
		t.Fatalf("user without a role: %v, want ErrNoAuth", err)
	}
	if strings.Contains(err.Error(), "nobody-pw-5678") {
		t.Fatalf("error shows the password: %v", err)
	}
}

// TestTLS serves etcd over TLS with a certificate of the test's own: a
// client trusting it works, one that does not is refused.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	pool := writeCert(t, dir)
	ep := testenv.PrivateEtcd(t, "https",
		"--cert-file", filepath.Join(dir, "server.crt"),
		"--key-file", filepath.Join(dir, "server.key"))

	cl, err := etcd.New(etcd.Config{Endpoints: []string{ep}, Namespace: "/tls", TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, SessionTimeout: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	s, err := cl.Session(authCtx(t))
	if err != nil {
		t.Fatalf("TLS session: %v", err)
	}
	if _, err := s.Create(authCtx(t), "/n", []byte("over tls"), backend.Persistent); err != nil {
		t.Fatalf("create over TLS: %v", err)
	}
	if data, _, err := s.Get(authCtx(t), "/n"); err != nil || string(data) != "over tls" {
		t.Fatalf("get over TLS: %q, %v", data, err)
	}

	untrusting, err := etcd.New(etcd.Config{Endpoints: []string{ep}, Namespace: "/tls", TLS: &tls.Config{MinVersion: tls.VersionTLS12}, SessionTimeout: 4 * time.Second, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer untrusting.Close()
	short, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := untrusting.Session(short); err == nil {
		t.Fatal("a client that does not trust the server's certificate got a session")
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "zkrecipes test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "server.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "server.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}
