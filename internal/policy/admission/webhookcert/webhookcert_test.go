package webhookcert_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/policy/admission/webhookcert"
)

func caCerts(t *testing.T, bundle []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, bundle = pem.Decode(bundle)
		if b == nil {
			return out
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

func verify(t *testing.T, b *webhookcert.Bundle, name string, at time.Time) error {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b.CABundle) {
		t.Fatal("CA bundle has no certificate")
	}
	_, err := b.Certificate.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, CurrentTime: at})
	return err
}

func TestEnsureLifecycle(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	opts := webhookcert.Options{Dir: dir, DNSNames: []string{"kubeward.kubeward.svc", "127.0.0.1"},
		CAValidity: 365 * 24 * time.Hour, CertValidity: 90 * 24 * time.Hour, RenewBefore: 10 * 24 * time.Hour, Now: clock}

	first, err := webhookcert.Ensure(opts)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Rotated {
		t.Error("first Ensure did not report new material")
	}
	if err := verify(t, first, "kubeward.kubeward.svc", now); err != nil {
		t.Fatalf("serving certificate does not verify: %v", err)
	}
	for _, f := range []string{webhookcert.CAKey, webhookcert.KeyFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %o, want 600", f, st.Mode().Perm())
		}
	}

	tests := []struct {
		name        string
		advance     time.Duration
		names       []string
		wantRotated bool
		wantCAs     int
	}{
		{"unchanged", 24 * time.Hour, opts.DNSNames, false, 1},
		{"serving cert near expiry", 85 * 24 * time.Hour, opts.DNSNames, true, 1},
		{"new DNS name", 0, []string{"kubeward.kubeward.svc", "127.0.0.1", "kubeward.other.svc"}, true, 1},
		{"CA near expiry keeps the old CA in the bundle", 270 * 24 * time.Hour, opts.DNSNames, true, 2},
	}
	prev := first
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = now.Add(tt.advance)
			o := opts
			o.DNSNames = tt.names
			b, err := webhookcert.Ensure(o)
			if err != nil {
				t.Fatal(err)
			}
			if b.Rotated != tt.wantRotated {
				t.Errorf("Rotated = %v, want %v", b.Rotated, tt.wantRotated)
			}
			if tt.wantRotated && b.NotAfter.Equal(prev.NotAfter) && tt.advance != 0 {
				t.Errorf("NotAfter unchanged after rotation")
			}
			if got := len(caCerts(t, b.CABundle)); got != tt.wantCAs {
				t.Errorf("CA bundle holds %d certificates, want %d", got, tt.wantCAs)
			}
			for _, n := range tt.names {
				if err := verify(t, b, n, now); err != nil && n != "127.0.0.1" {
					t.Errorf("verify %s: %v", n, err)
				}
			}
			prev = b
		})
	}
}

func TestEnsureRepairsCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	opts := webhookcert.Options{Dir: dir, DNSNames: []string{"svc.ns.svc"}}
	if _, err := webhookcert.Ensure(opts); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, webhookcert.CertFile), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := webhookcert.Ensure(opts)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Rotated {
		t.Error("corrupt serving certificate was not replaced")
	}
	if err := verify(t, b, "svc.ns.svc", time.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestOptionsErrors(t *testing.T) {
	tests := []webhookcert.Options{
		{DNSNames: []string{"a"}},
		{Dir: t.TempDir()},
		{Dir: t.TempDir(), DNSNames: []string{"a"}, CertValidity: time.Hour, RenewBefore: 2 * time.Hour},
	}
	for i, o := range tests {
		if _, err := webhookcert.Ensure(o); err == nil {
			t.Errorf("case %d: Ensure succeeded, want an error", i)
		}
	}
}
