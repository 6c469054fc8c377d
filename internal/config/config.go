// Package config resolves kubeward's settings. Every setting is a command
// line flag; the same setting can come from a KUBEWARD_* environment
// variable or a YAML file, with one precedence order for all of them:
//
//	flag on the command line > environment variable > config file > default
//
// The environment variable for flag --foo-bar is KUBEWARD_FOO_BAR; the YAML
// key is foo-bar (nested maps are joined with dashes, so `cve: {feed-url: X}`
// sets --cve-feed-url).
package config

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

// EnvPrefix prefixes every environment variable kubeward reads.
const EnvPrefix = "KUBEWARD_"

// EnvName returns the environment variable that sets flag name.
func EnvName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// File holds the settings read from a YAML config file, keyed by flag name.
type File map[string]string

// ReadFile parses a YAML config file. Unknown keys are reported by Apply,
// not here, because only the command knows its flags.
func ReadFile(path string) (File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseFile(data)
}

// ParseFile parses YAML config file content.
func ParseFile(data []byte) (File, error) {
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("config: invalid YAML: %w", err)
	}
	out := File{}
	if err := flatten("", raw, out); err != nil {
		return nil, err
	}
	return out, nil
}

func flatten(prefix string, m map[string]any, out File) error {
	for k, v := range m {
		key := k
		if prefix != "" {
			key = prefix + "-" + k
		}
		switch t := v.(type) {
		case map[string]any:
			if err := flatten(key, t, out); err != nil {
				return err
			}
		case []any:
			parts := make([]string, 0, len(t))
			for _, e := range t {
				switch e.(type) {
				case map[string]any, []any:
					return fmt.Errorf("config: key %q: lists may hold only scalar values", key)
				}
				parts = append(parts, fmt.Sprint(e))
			}
			out[key] = strings.Join(parts, ",")
		case nil:
			out[key] = ""
		default:
			out[key] = fmt.Sprint(t)
		}
	}
	return nil
}

// Apply sets every flag of fs that was not given on the command line from
// the environment (lookup) or, failing that, from file. Keys of file that
// name no flag of fs are returned in unknown, sorted, so the caller can warn.
func Apply(fs *pflag.FlagSet, file File, lookup func(string) (string, bool)) (unknown []string, err error) {
	known := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) {
		known[f.Name] = true
		if err != nil || f.Changed {
			return
		}
		if v, ok := lookup(EnvName(f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("config: environment variable %s: %w", EnvName(f.Name), e)
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("config: config file key %q: %w", f.Name, e)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	for k := range file {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	return unknown, nil
}
