// Command gencorpus writes the deterministic benchmark corpus of package
// corpus into a directory, one manifest per file, and next to it (so that
// the directory holds manifests only) <dir>.smells.tsv: one line per file
// with its kind and the smells it carries.
//
//	go run ./bench/policy/gencorpus -n 1200 -out /tmp/corpus
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/kubeward/kubeward/bench/policy/corpus"
)

func main() {
	n := flag.Int("n", 1200, "number of manifests")
	seed := flag.Uint64("seed", 1, "generator seed")
	out := flag.String("out", "", "output directory (created; must be empty or missing)")
	flag.Parse()
	if err := run(*n, *seed, *out); err != nil {
		slog.Error("gencorpus failed", "err", err)
		os.Exit(1)
	}
}

func run(n int, seed uint64, out string) error {
	if out == "" || n <= 0 {
		return fmt.Errorf("-out is required and -n must be positive")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", out, err)
	}
	if entries, err := os.ReadDir(out); err != nil || len(entries) > 0 {
		return fmt.Errorf("%s must be empty (err: %v)", out, err)
	}
	var index strings.Builder
	for i, d := range corpus.Generate(n, seed) {
		b, err := d.YAML()
		if err != nil {
			return err
		}
		name := fmt.Sprintf("%04d-%s.yaml", i, strings.ToLower(d.Kind))
		if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
			return fmt.Errorf("write manifest: %w", err)
		}
		fmt.Fprintf(&index, "%s\t%s\t%s\n", name, d.Kind, strings.Join(d.Smells, ","))
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(filepath.Clean(out)), filepath.Base(out)+".smells.tsv"), []byte(index.String()), 0o644); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	return nil
}
