package auto

import "github.com/kubeward/kubeward/internal/alert"

// Matches exposes Rule.matches to the external tests.
func Matches(r Rule, a alert.Alert) bool { return r.matches(a) }
