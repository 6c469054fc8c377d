package notify

import (
	"fmt"
	"net/url"
	"os"
	"strings"
)

// FieldError reports an invalid field of a receiver configuration; the
// config loader turns Field into the line number of that field.
type FieldError struct {
	// Field is the YAML key, e.g. "api_url".
	Field string
	Err   error
}

// Error implements error.
func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

// FieldErrorf builds a *FieldError with a formatted message.
func FieldErrorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// ValidateURL checks that raw is an absolute http or https URL.
func ValidateURL(field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return FieldErrorf(field, "invalid URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return FieldErrorf(field, "URL scheme %q is not supported: use http or https", u.Scheme)
	}
	if u.Host == "" {
		return FieldErrorf(field, "URL %q has no host", raw)
	}
	return nil
}

// ExactlyOne checks that exactly one of a value and a file holding the
// value is configured, as for `api_url` and `api_url_file`.
func ExactlyOne(field, value, file string) error {
	switch {
	case value != "" && file != "":
		return FieldErrorf(field, "set either %s or %s_file, not both", field, field)
	case value == "" && file == "":
		return FieldErrorf(field, "%s or %s_file is required", field, field)
	}
	return nil
}

// Resolve returns value, or the trimmed content of file when value is
// empty (secrets such as webhook URLs and passwords are best kept in files
// mounted from Kubernetes Secrets).
func Resolve(field, value, file string) (string, error) {
	if value != "" || file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", FieldErrorf(field+"_file", "read secret: %v", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// BoolOr returns *p, or def when p is nil.
func BoolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}
