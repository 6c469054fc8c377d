// Package email sends alert groups as e-mail over SMTP (net/smtp), as a
// multipart/alternative message with a plain-text and an HTML part.
//
// STARTTLS is used whenever the server offers it and, by default
// (require_tls: true), required: a server that does not offer it is
// refused rather than sent alerts and credentials in clear text.
// Authentication is SMTP AUTH PLAIN, only over TLS.
package email

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/notify"
)

// defaultTimeout bounds one SMTP conversation when ctx has no deadline.
const defaultTimeout = 30 * time.Second

// Config configures one e-mail destination (an element of email_configs).
type Config struct {
	// To lists the recipients, comma separated.
	To string `yaml:"to"`
	// From is the sender address.
	From string `yaml:"from"`
	// Smarthost is the SMTP server as host:port (587 for submission).
	Smarthost string `yaml:"smarthost"`
	// Hello is the name sent in EHLO (default "localhost").
	Hello string `yaml:"hello"`
	// AuthUsername and AuthPassword (or AuthPasswordFile) enable AUTH
	// PLAIN; AuthIdentity is the optional authorization identity.
	AuthUsername     string `yaml:"auth_username"`
	AuthPassword     string `yaml:"auth_password"`
	AuthPasswordFile string `yaml:"auth_password_file"`
	AuthIdentity     string `yaml:"auth_identity"`
	// RequireTLS refuses servers that do not offer STARTTLS (default true).
	RequireTLS *bool `yaml:"require_tls"`
	// TLS configures certificate verification.
	TLS TLSConfig `yaml:"tls_config"`
	// SendResolved sends resolved alerts too (default false).
	SendResolved *bool `yaml:"send_resolved"`
}

// TLSConfig configures the STARTTLS handshake.
type TLSConfig struct {
	// CAFile holds PEM certificates to trust instead of the system roots.
	CAFile string `yaml:"ca_file"`
	// ServerName overrides the name checked in the server certificate
	// (default: the smarthost's host).
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify disables certificate verification. Never use it
	// outside a test setup.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Validate checks the configuration without reading files.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.To) == "" {
		return notify.FieldErrorf("to", "at least one recipient is required")
	}
	if _, err := mail.ParseAddressList(c.To); err != nil {
		return notify.FieldErrorf("to", "invalid address list: %v", err)
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return notify.FieldErrorf("from", "invalid sender address %q: %v", c.From, err)
	}
	if _, _, err := net.SplitHostPort(c.Smarthost); err != nil {
		return notify.FieldErrorf("smarthost", "want host:port, e.g. smtp.example.com:587: %v", err)
	}
	if c.AuthPassword != "" && c.AuthPasswordFile != "" {
		return notify.FieldErrorf("auth_password", "set either auth_password or auth_password_file, not both")
	}
	if (c.AuthPassword != "" || c.AuthPasswordFile != "") && c.AuthUsername == "" {
		return notify.FieldErrorf("auth_username", "auth_username is required with a password")
	}
	if c.AuthUsername != "" && !notify.BoolOr(c.RequireTLS, true) {
		return notify.FieldErrorf("require_tls", "authentication needs TLS: remove require_tls: false or the credentials")
	}
	return nil
}

// SendsResolved reports whether resolved alerts are sent.
func (c *Config) SendsResolved() bool { return notify.BoolOr(c.SendResolved, false) }

// Notifier sends mail through one SMTP server.
type Notifier struct {
	cfg      Config
	to       []string
	from     string
	password string
	tls      *tls.Config
	opts     notify.Options
}

// New builds a Notifier, reading auth_password_file and tls_config.ca_file.
func New(c Config, opts notify.Options) (*Notifier, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("email: %w", err)
	}
	pw, err := notify.Resolve("auth_password", c.AuthPassword, c.AuthPasswordFile)
	if err != nil {
		return nil, fmt.Errorf("email: %w", err)
	}
	to, _ := mail.ParseAddressList(c.To) // validated
	from, _ := mail.ParseAddress(c.From)
	host, _, _ := net.SplitHostPort(c.Smarthost)
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.TLS.InsecureSkipVerify} //nolint:gosec // opt-in for tests, documented
	if c.TLS.ServerName != "" {
		tc.ServerName = c.TLS.ServerName
	}
	if c.TLS.CAFile != "" {
		pem, err := os.ReadFile(c.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("email: %w", notify.FieldErrorf("tls_config", "read ca_file: %v", err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("email: %w", notify.FieldErrorf("tls_config", "ca_file %s holds no PEM certificate", c.TLS.CAFile))
		}
		tc.RootCAs = pool
	}
	n := &Notifier{cfg: c, from: from.Address, password: pw, tls: tc, opts: opts.WithDefaults()}
	for _, a := range to {
		n.to = append(n.to, a.Address)
	}
	return n, nil
}

// Notify implements notify.Notifier.
func (n *Notifier) Notify(ctx context.Context, receiver, groupKey string, alerts []*alert.Alert) (bool, error) {
	now := n.opts.Clock.Now()
	d := notify.NewData(ctx, receiver, groupKey, alerts, now, n.opts.ExternalURL)
	msg, err := BuildMessage(n.cfg, d)
	if err != nil {
		return false, fmt.Errorf("email: %w", err)
	}
	retry, err := n.send(ctx, msg)
	if err != nil {
		return retry, fmt.Errorf("email via %s: %w", n.cfg.Smarthost, err)
	}
	return false, nil
}

func (n *Notifier) send(ctx context.Context, msg []byte) (bool, error) {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", n.cfg.Smarthost)
	if err != nil {
		return true, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultTimeout)
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	host, _, _ := net.SplitHostPort(n.cfg.Smarthost)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return true, err
	}
	defer c.Close()
	hello := n.cfg.Hello
	if hello == "" {
		hello = "localhost"
	}
	if err := c.Hello(hello); err != nil {
		return classify(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(n.tls.Clone()); err != nil {
			return false, fmt.Errorf("STARTTLS: %w", err)
		}
	} else if notify.BoolOr(n.cfg.RequireTLS, true) {
		return false, errors.New("server does not offer STARTTLS and require_tls is set: enable TLS on the server")
	}
	if n.cfg.AuthUsername != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return false, errors.New("server does not offer AUTH but auth_username is set")
		}
		if err := c.Auth(smtp.PlainAuth(n.cfg.AuthIdentity, n.cfg.AuthUsername, n.password, host)); err != nil {
			return classify(fmt.Errorf("AUTH: %w", err))
		}
	}
	if err := c.Mail(n.from); err != nil {
		return classify(fmt.Errorf("MAIL FROM: %w", err))
	}
	for _, to := range n.to {
		if err := c.Rcpt(to); err != nil {
			return classify(fmt.Errorf("RCPT TO %s: %w", to, err))
		}
	}
	w, err := c.Data()
	if err != nil {
		return classify(fmt.Errorf("DATA: %w", err))
	}
	if _, err := w.Write(msg); err != nil {
		return true, fmt.Errorf("write message: %w", err)
	}
	if err := w.Close(); err != nil {
		return classify(fmt.Errorf("end of message: %w", err))
	}
	return classify(c.Quit())
}

// classify retries transient SMTP replies (4xx) and network errors, not
// permanent ones (5xx).
func classify(err error) (bool, error) {
	if err == nil {
		return false, nil
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code/100 == 4, err
	}
	return true, err
}

var htmlTmpl = template.Must(template.New("email").Parse(`<!DOCTYPE html>
<html><body style="font-family:sans-serif">
<h2>{{.Title}}</h2>
{{if .GroupLabels}}<p>{{range .GroupLabels}}<b>{{.Name}}</b>: {{.Value}}<br>{{end}}</p>{{end}}
<table cellpadding="4" border="1" style="border-collapse:collapse">
<tr><th>Status</th><th>Alert</th><th>Severity</th><th>Summary</th><th>Labels</th><th>Started</th></tr>
{{range .Alerts}}<tr><td>{{.Status}}</td><td>{{if .URL}}<a href="{{.URL}}">{{.Name}}</a>{{else}}{{.Name}}{{end}}</td><td>{{.Severity}}</td><td>{{.Summary}}</td><td>{{.Labels}}</td><td>{{.StartsAt}}</td></tr>
{{end}}</table>
{{if .ExternalURL}}<p><a href="{{.ExternalURL}}/alerts">Open alerts in kubeward</a></p>{{end}}
<p style="color:#888">Sent by kubeward to receiver {{.Receiver}}.</p>
</body></html>
`))

type viewLabel struct{ Name, Value string }

type viewAlert struct {
	Status, Name, Severity, Summary, Labels, StartsAt, URL string
}

type view struct {
	Title, Receiver, ExternalURL string
	GroupLabels                  []viewLabel
	Alerts                       []viewAlert
}

func newView(d notify.Data) view {
	v := view{Title: d.Title(), Receiver: d.Receiver, ExternalURL: d.ExternalURL}
	for _, k := range slices.Sorted(maps.Keys(d.GroupLabels)) {
		v.GroupLabels = append(v.GroupLabels, viewLabel{k, d.GroupLabels[k]})
	}
	for _, a := range append(slices.Clone(d.Firing), d.Resolved...) {
		v.Alerts = append(v.Alerts, viewAlert{
			Status:   notify.AlertStatus(a, d.Now),
			Name:     a.Name(),
			Severity: string(a.Severity),
			Summary:  a.Annotations["summary"],
			Labels:   a.Labels.String(),
			StartsAt: a.StartsAt.UTC().Format(time.RFC3339),
			URL:      a.GeneratorURL,
		})
	}
	return v
}

func textBody(v view) string {
	var b strings.Builder
	b.WriteString(v.Title + "\n\n")
	for _, l := range v.GroupLabels {
		fmt.Fprintf(&b, "%s: %s\n", l.Name, l.Value)
	}
	for _, a := range v.Alerts {
		fmt.Fprintf(&b, "\n[%s] %s (%s) since %s\n", strings.ToUpper(a.Status), a.Name, a.Severity, a.StartsAt)
		if a.Summary != "" {
			b.WriteString("  " + a.Summary + "\n")
		}
		b.WriteString("  " + a.Labels + "\n")
		if a.URL != "" {
			b.WriteString("  " + a.URL + "\n")
		}
	}
	if v.ExternalURL != "" {
		b.WriteString("\nOpen alerts in kubeward: " + v.ExternalURL + "/alerts\n")
	}
	b.WriteString("\nSent by kubeward to receiver " + v.Receiver + ".\n")
	return b.String()
}

// BuildMessage renders the RFC 5322 message for d. The MIME boundary and
// Message-ID are derived from the group key and time, so the same
// notification renders to the same bytes.
func BuildMessage(c Config, d notify.Data) ([]byte, error) {
	v := newView(d)
	sum := sha256.Sum256([]byte(d.GroupKey + "\x00" + d.Now.UTC().Format(time.RFC3339Nano)))
	id := hex.EncodeToString(sum[:12])
	var buf bytes.Buffer
	hdr := func(k, val string) { fmt.Fprintf(&buf, "%s: %s\r\n", k, val) }
	hdr("From", c.From)
	hdr("To", c.To)
	hdr("Subject", mime.QEncoding.Encode("utf-8", v.Title))
	hdr("Date", d.Now.UTC().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+id+"@kubeward>")
	hdr("MIME-Version", "1.0")
	mw := multipart.NewWriter(&buf)
	if err := mw.SetBoundary("kubeward-" + id); err != nil {
		return nil, fmt.Errorf("set MIME boundary: %w", err)
	}
	hdr("Content-Type", "multipart/alternative; boundary="+mw.Boundary())
	buf.WriteString("\r\n")
	var html bytes.Buffer
	if err := htmlTmpl.Execute(&html, v); err != nil {
		return nil, fmt.Errorf("render HTML body: %w", err)
	}
	for _, part := range []struct{ ctype, body string }{
		{"text/plain; charset=UTF-8", textBody(v)},
		{"text/html; charset=UTF-8", html.String()},
	} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, fmt.Errorf("create MIME part: %w", err)
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(strings.ReplaceAll(part.body, "\n", "\r\n"))); err != nil {
			return nil, fmt.Errorf("encode MIME part: %w", err)
		}
		if err := qp.Close(); err != nil {
			return nil, fmt.Errorf("encode MIME part: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("close MIME message: %w", err)
	}
	return buf.Bytes(), nil
}
