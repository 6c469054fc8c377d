package email_test

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
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/kubeward/kubeward/internal/alert/alerttest"
	"github.com/kubeward/kubeward/internal/alert/notify"
	"github.com/kubeward/kubeward/internal/alert/notify/email"
)

// received is one mail accepted by the test server.
type received struct {
	from     string
	to       []string
	data     []byte
	tls      bool
	authUser string
}

// smtpServer is an SMTP server on 127.0.0.1 (go-smtp) that offers
// STARTTLS with a certificate signed by a throwaway CA and AUTH PLAIN
// after TLS only.
type smtpServer struct {
	addr   string
	caFile string
	mu     sync.Mutex
	mails  []received
}

func startSMTP(t *testing.T, withTLS bool) *smtpServer {
	t.Helper()
	s := &smtpServer{}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{srv: s, conn: c}, nil
	}))
	srv.Domain = "mail.test"
	srv.AllowInsecureAuth = false
	if withTLS {
		cert, caPEM := newCert(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.caFile = filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(s.caFile, caPEM, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("test SMTP server cannot listen: %v", err)
	}
	s.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *smtpServer) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.mails...)
}

type session struct {
	srv  *smtpServer
	conn *smtp.Conn
	cur  received
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != "kubeward" || password != "pa55" {
			return smtp.ErrAuthFailed
		}
		s.cur.authUser = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.cur.from = from
	_, s.cur.tls = s.conn.TLSConnectionState()
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = b
	s.srv.mu.Lock()
	s.srv.mails = append(s.srv.mails, s.cur)
	s.srv.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.cur = received{authUser: s.cur.authUser} }
func (s *session) Logout() error { return nil }

// newCert returns a server certificate for 127.0.0.1 and the PEM of the
// CA that signed it.
func newCert(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubeward test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
}

func TestNotifyOverSTARTTLS(t *testing.T) {
	srv := startSMTP(t, true)
	clock := alerttest.NewClock(alerttest.Base.Add(15 * time.Minute))
	n, err := email.New(email.Config{
		To:           "Security <security@example.com>, oncall@example.com",
		From:         "kubeward@example.com",
		Smarthost:    srv.addr,
		AuthUsername: "kubeward",
		AuthPassword: "pa55",
		TLS:          email.TLSConfig{CAFile: srv.caFile},
		SendResolved: new(true),
	}, notify.Options{Clock: clock, ExternalURL: "https://kubeward.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := notify.WithGroup(context.Background(), notify.Group{Key: `{}:{namespace="payments"}`, Labels: map[string]string{"namespace": "payments"}})
	if retry, err := n.Notify(ctx, "mail", `{}:{namespace="payments"}`, alerttest.SampleAlerts()); err != nil || retry {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	mails := srv.received()
	if len(mails) != 1 {
		t.Fatalf("server received %d mails, want 1", len(mails))
	}
	m := mails[0]
	if !m.tls {
		t.Fatal("mail was sent without STARTTLS")
	}
	if m.authUser != "kubeward" {
		t.Fatalf("authenticated as %q, want kubeward", m.authUser)
	}
	if m.from != "kubeward@example.com" || strings.Join(m.to, ",") != "security@example.com,oncall@example.com" {
		t.Fatalf("envelope from %q to %v", m.from, m.to)
	}
	alerttest.Golden(t, filepath.Join("testdata", "firing.eml"), m.data)

	// The message parses as multipart/alternative with a text and an HTML
	// part that both name every alert.
	msg, err := mail.ReadMessage(bytes.NewReader(m.data))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != "[FIRING:2] kubeward alerts (namespace=payments)" {
		t.Fatalf("subject = %q, %v", subject, err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q: %v", mt, err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(p) // quoted-printable is decoded by NextPart
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, p.Header.Get("Content-Type"))
		for _, name := range []string{"TerminalShellInContainer", "PrivilegedContainer", "CVE-2024-3094"} {
			if !bytes.Contains(body, []byte(name)) {
				t.Errorf("%s part lacks %s", p.Header.Get("Content-Type"), name)
			}
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") && !bytes.Contains(body, []byte("privileged &lt;root&gt;")) {
			t.Errorf("HTML part does not escape annotations:\n%s", body)
		}
	}
	if strings.Join(types, ",") != "text/plain; charset=UTF-8,text/html; charset=UTF-8" {
		t.Fatalf("parts = %v", types)
	}
}

func TestRefusesServerWithoutSTARTTLS(t *testing.T) {
	srv := startSMTP(t, false)
	n, err := email.New(email.Config{To: "a@example.com", From: "k@example.com", Smarthost: srv.addr}, notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	retry, err := n.Notify(context.Background(), "mail", "g", alerttest.SampleAlerts()[:1])
	if err == nil || retry || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("Notify = %v, %v; want a permanent STARTTLS error", retry, err)
	}
	if got := len(srv.received()); got != 0 {
		t.Fatalf("%d mails delivered in clear text", got)
	}
}

func TestUntrustedCertificateRefused(t *testing.T) {
	srv := startSMTP(t, true)
	n, err := email.New(email.Config{To: "a@example.com", From: "k@example.com", Smarthost: srv.addr}, notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(context.Background(), "mail", "g", alerttest.SampleAlerts()[:1]); err == nil {
		t.Fatal("Notify trusted a certificate signed by an unknown CA")
	}
	if got := len(srv.received()); got != 0 {
		t.Fatalf("%d mails delivered", got)
	}
}

func TestWrongPasswordIsPermanent(t *testing.T) {
	srv := startSMTP(t, true)
	n, err := email.New(email.Config{To: "a@example.com", From: "k@example.com", Smarthost: srv.addr,
		AuthUsername: "kubeward", AuthPassword: "wrong", TLS: email.TLSConfig{CAFile: srv.caFile}}, notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	retry, err := n.Notify(context.Background(), "mail", "g", alerttest.SampleAlerts()[:1])
	if err == nil || retry {
		t.Fatalf("Notify = %v, %v; want a permanent AUTH error", retry, err)
	}
}
