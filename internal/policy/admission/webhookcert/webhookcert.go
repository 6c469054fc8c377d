// Package webhookcert bootstraps and rotates the TLS material of the
// admission webhook: a self-signed ECDSA P-256 CA and a serving
// certificate it signs, kept as PEM files in one directory:
//
//	ca.crt   CA bundle (current CA, plus the previous one while it is valid,
//	         so that a caBundle in a webhook configuration keeps working
//	         across a CA rotation)
//	ca.key   CA private key (0600)
//	tls.crt  serving certificate
//	tls.key  serving key (0600)
//
// Ensure creates missing material and renews what expires within
// RenewBefore; Manager serves the current certificate to a tls.Config and
// re-runs Ensure periodically.
package webhookcert

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// File names inside the directory.
const (
	CAFile   = "ca.crt"
	CAKey    = "ca.key"
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
)

// Options configure the material.
type Options struct {
	// Dir holds the files; it is created (0700) if missing.
	Dir string
	// DNSNames the serving certificate must carry, e.g.
	// kubeward-webhook.kubeward.svc. IP addresses are accepted too.
	DNSNames []string
	// CAValidity (default 10 years), CertValidity (default 1 year) and
	// RenewBefore (default 30 days) control lifetimes and rotation.
	CAValidity, CertValidity, RenewBefore time.Duration
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		return o, errors.New("webhookcert: Dir is required")
	}
	if len(o.DNSNames) == 0 {
		return o, errors.New("webhookcert: at least one DNS name is required (the webhook Service's <name>.<namespace>.svc)")
	}
	if o.CAValidity <= 0 {
		o.CAValidity = 10 * 365 * 24 * time.Hour
	}
	if o.CertValidity <= 0 {
		o.CertValidity = 365 * 24 * time.Hour
	}
	if o.RenewBefore <= 0 {
		o.RenewBefore = 30 * 24 * time.Hour
	}
	if o.RenewBefore >= o.CertValidity || o.RenewBefore >= o.CAValidity {
		return o, fmt.Errorf("webhookcert: RenewBefore %s must be shorter than the validities (%s, %s)", o.RenewBefore, o.CertValidity, o.CAValidity)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// Bundle is the material in force.
type Bundle struct {
	// CABundle is the PEM to put in a webhook configuration's caBundle.
	CABundle []byte
	// Certificate is the serving certificate and key.
	Certificate tls.Certificate
	// NotAfter is when the serving certificate expires.
	NotAfter time.Time
	// Rotated is true when Ensure wrote new material.
	Rotated bool
}

// Ensure loads the material from Dir, creating or renewing the CA and the
// serving certificate as needed, and returns what is in force.
func Ensure(opts Options) (*Bundle, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("webhookcert: %w", err)
	}
	now := o.Now()
	rotated := false

	ca, caKey, err := loadPair(filepath.Join(o.Dir, CAFile), filepath.Join(o.Dir, CAKey))
	var previous *x509.Certificate
	if err != nil || now.Add(o.RenewBefore).After(ca.NotAfter) {
		if err == nil {
			previous = ca
		}
		ca, caKey, err = newCA(now, o.CAValidity)
		if err != nil {
			return nil, err
		}
		bundle := pemCert(ca.Raw)
		if previous != nil && now.Before(previous.NotAfter) {
			bundle = append(bundle, pemCert(previous.Raw)...)
		}
		if err := writeKey(filepath.Join(o.Dir, CAKey), caKey); err != nil {
			return nil, err
		}
		if err := writeFile(filepath.Join(o.Dir, CAFile), bundle, 0o644); err != nil {
			return nil, err
		}
		rotated = true
	}

	cert, _, err := loadPair(filepath.Join(o.Dir, CertFile), filepath.Join(o.Dir, KeyFile))
	if err != nil || rotated || now.Add(o.RenewBefore).After(cert.NotAfter) || !coversNames(cert, o.DNSNames) || cert.CheckSignatureFrom(ca) != nil {
		certDER, key, err := newServing(now, o.CertValidity, o.DNSNames, ca, caKey)
		if err != nil {
			return nil, err
		}
		if err := writeKey(filepath.Join(o.Dir, KeyFile), key); err != nil {
			return nil, err
		}
		if err := writeFile(filepath.Join(o.Dir, CertFile), pemCert(certDER), 0o644); err != nil {
			return nil, err
		}
		rotated = true
	}

	pair, err := tls.LoadX509KeyPair(filepath.Join(o.Dir, CertFile), filepath.Join(o.Dir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("webhookcert: loading serving certificate: %w", err)
	}
	caBundle, err := os.ReadFile(filepath.Join(o.Dir, CAFile))
	if err != nil {
		return nil, fmt.Errorf("webhookcert: %w", err)
	}
	return &Bundle{CABundle: caBundle, Certificate: pair, NotAfter: pair.Leaf.NotAfter, Rotated: rotated}, nil
}

func coversNames(c *x509.Certificate, names []string) bool {
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			if !slices.ContainsFunc(c.IPAddresses, func(x net.IP) bool { return x.Equal(ip) }) {
				return false
			}
		} else if !slices.Contains(c.DNSNames, n) {
			return false
		}
	}
	return true
}

// loadPair reads the first certificate of certPath and the EC key of
// keyPath.
func loadPair(certPath, keyPath string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("webhookcert: %s or %s is not PEM", certPath, keyPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("webhookcert: %s: %w", certPath, err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("webhookcert: %s: %w", keyPath, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("webhookcert: %s does not match %s", keyPath, certPath)
	}
	return cert, key, nil
}

func serial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("webhookcert: serial number: %w", err)
	}
	return n, nil
}

func newCA(now time.Time, validity time.Duration) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("webhookcert: CA key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: "kubeward webhook CA " + now.UTC().Format("2006-01-02")},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("webhookcert: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("webhookcert: CA certificate: %w", err)
	}
	return cert, key, nil
}

func newServing(now time.Time, validity time.Duration, names []string, ca *x509.Certificate, caKey *ecdsa.PrivateKey) ([]byte, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("webhookcert: serving key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("webhookcert: serving certificate: %w", err)
	}
	return der, key, nil
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func writeKey(path string, k *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return fmt.Errorf("webhookcert: encoding key: %w", err)
	}
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

// writeFile writes atomically (temp file + rename) so that a reader never
// sees half a file.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("webhookcert: %w", err)
	}
	// After a successful rename there is nothing left to remove; on failure
	// the temp file is discarded, so its Close and Remove errors cannot matter.
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("webhookcert: writing %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("webhookcert: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("webhookcert: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("webhookcert: %w", err)
	}
	return nil
}

// Manager keeps the serving certificate current.
type Manager struct {
	opts   Options
	logger *slog.Logger

	mu     sync.RWMutex
	bundle *Bundle
}

// NewManager runs Ensure once and returns a manager serving its result.
func NewManager(opts Options, logger *slog.Logger) (*Manager, error) {
	b, err := Ensure(opts)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Manager{opts: opts, logger: logger, bundle: b}, nil
}

// GetCertificate is a tls.Config.GetCertificate callback.
func (m *Manager) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return &m.bundle.Certificate, nil
}

// TLSConfig returns a server TLS configuration (TLS 1.2+) serving the
// managed certificate.
func (m *Manager) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: m.GetCertificate}
}

// CABundle returns the PEM CA bundle in force.
func (m *Manager) CABundle() []byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return bytes.Clone(m.bundle.CABundle)
}

// Refresh runs Ensure and swaps in its result.
func (m *Manager) Refresh() error {
	b, err := Ensure(m.opts)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.bundle = b
	m.mu.Unlock()
	if b.Rotated {
		m.logger.Info("webhook certificate rotated", "dir", m.opts.Dir, "not_after", b.NotAfter)
	}
	return nil
}

// Run calls Refresh every interval until ctx ends; failures are logged and
// retried at the next tick (the current certificate stays in use).
func (m *Manager) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := m.Refresh(); err != nil {
				m.logger.Error("webhook certificate refresh failed", "dir", m.opts.Dir, "err", err)
			}
		}
	}
}
