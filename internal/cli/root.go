// Package cli builds kubeward's command tree. Every subcommand group lives
// in a file of its own and registers itself with register, so the groups
// stay independent of one another.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/spf13/cobra"
)

// Exit codes shared by every command.
const (
	// ExitOK means the command succeeded and found nothing at or above the
	// failure threshold.
	ExitOK = 0
	// ExitFindings means findings at or above the threshold were reported.
	ExitFindings = 1
	// ExitError means a usage or runtime error.
	ExitError = 2
)

// ErrFindings is returned by a command whose findings reached the failure
// threshold; Execute turns it into ExitFindings without printing an error.
var ErrFindings = errors.New("findings at or above the failure threshold")

type commandFactory func(app *App) *cobra.Command

var factories []commandFactory

// register adds a subcommand constructor to the root command.
func register(f commandFactory) { factories = append(factories, f) }

// NewRoot builds the root command writing to out and errOut.
func NewRoot(out, errOut io.Writer) *cobra.Command {
	root, _ := newRoot(out, errOut)
	return root
}

func newRoot(out, errOut io.Writer) (*cobra.Command, *App) {
	app := &App{Out: out, Err: errOut}
	root := &cobra.Command{
		Use:           "kubeward",
		Short:         "Kubernetes security platform: CVE intelligence, scanning, policy, detection, response",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return app.load(cmd)
		},
	}
	root.SetOut(out)
	root.SetErr(errOut)
	app.bindFlags(root)
	cmds := make([]*cobra.Command, 0, len(factories))
	for _, f := range factories {
		cmds = append(cmds, f(app))
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name() < cmds[j].Name() })
	root.AddCommand(cmds...)
	return root, app
}

// Execute runs the command line args and returns the process exit code.
func Execute(ctx context.Context, args []string, out, errOut io.Writer) int {
	root, app := newRoot(out, errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	app.finish()
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrFindings):
		return ExitFindings
	default:
		fmt.Fprintf(errOut, "kubeward: %v\n", err)
		return ExitError
	}
}

// Main is the entry point of cmd/kubeward.
func Main() {
	os.Exit(Execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
