package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/term"
)

// outputFlag is a validated -o/--output flag.
type outputFlag struct {
	value   string
	allowed []string
}

func newOutputFlag(fs *pflag.FlagSet, def string, allowed ...string) *outputFlag {
	o := &outputFlag{value: def, allowed: allowed}
	fs.VarP(o, "output", "o", "output format: "+strings.Join(allowed, ", "))
	return o
}

func (o *outputFlag) String() string { return o.value }
func (o *outputFlag) Type() string   { return "format" }
func (o *outputFlag) Set(s string) error {
	s = strings.ToLower(s)
	if !slices.Contains(o.allowed, s) {
		return fmt.Errorf("want one of %s", strings.Join(o.allowed, ", "))
	}
	o.value = s
	return nil
}

// writeJSONOut prints v as indented JSON.
func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// isTerminal reports whether w is an interactive terminal (progress bars
// are drawn only then).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// truncate shortens s to n runes for table cells.
func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
