// Command kubeward is the kubeward Kubernetes security platform: one binary
// for every role (see `kubeward --help`).
package main

import "github.com/kubeward/kubeward/internal/cli"

func main() { cli.Main() }
