package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kubeward/kubeward/internal/alert"
	alertconfig "github.com/kubeward/kubeward/internal/alert/config"
	"github.com/kubeward/kubeward/internal/alert/notify"
	"github.com/kubeward/kubeward/internal/alert/service"
)

func init() { register(newAlertCmd) }

func newAlertCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alert",
		Short: "Check the alert routing configuration and test receivers",
	}
	cmd.AddCommand(newAlertTestCmd(app), newAlertConfigCmd(app))
	return cmd
}

func newAlertTestCmd(app *App) *cobra.Command {
	var path, receiver string
	cmd := &cobra.Command{
		Use:   "test --alert-config FILE --receiver NAME",
		Short: "Send a test notification to every integration of a receiver",
		Long: "Loads the alert routing configuration FILE and sends one test alert\n" +
			"(KubewardTestNotification, severity info) to every integration of the\n" +
			"receiver, without retries. Exit code 0 when all accepted it, 2 otherwise.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" || receiver == "" {
				return errors.New("alert test: --alert-config and --receiver are required")
			}
			cfg, err := alertconfig.LoadFile(path)
			if err != nil {
				return err
			}
			ints, err := cfg.Integrations(notify.Options{Logger: app.Logger, ExternalURL: cfg.Global.ExternalURL})
			if err != nil {
				return err
			}
			results, err := service.SendTest(cmd.Context(), cfg, ints, receiver, alert.SystemClock{})
			if len(results) == 0 {
				return fmt.Errorf("alert test: %w", err)
			}
			failed := 0
			for _, r := range results {
				status := "ok"
				if r.Err != nil {
					status = "FAILED: " + r.Error
					failed++
				}
				fmt.Fprintf(app.Out, "%s\t%s\n", r.Integration, status)
			}
			if failed > 0 {
				return fmt.Errorf("alert test: %d of %d integrations of receiver %q failed", failed, len(results), receiver)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "alert-config", "", "alert routing configuration file (YAML)")
	cmd.Flags().StringVar(&receiver, "receiver", "", "name of the receiver to test")
	return cmd
}

func newAlertConfigCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Work with the alert routing configuration",
	}
	var secrets bool
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate an alert routing configuration, printing each error with its line",
		Long: "Validates the routing tree, inhibition rules and receivers of FILE.\n" +
			"Errors are printed as FILE:LINE: message. Exit code 0 when valid, 2 otherwise.",
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			path := args[0]
			cfg, err := alertconfig.LoadFile(path)
			var errs alertconfig.Errors
			if errors.As(err, &errs) {
				for _, e := range errs {
					if e.Line > 0 {
						fmt.Fprintf(app.Out, "%s:%d: %s\n", path, e.Line, e.Msg)
					} else {
						fmt.Fprintf(app.Out, "%s: %s\n", path, e.Msg)
					}
				}
				return fmt.Errorf("alert config %s: %d error(s)", path, len(errs))
			}
			if err != nil {
				return err
			}
			if secrets {
				if _, err := cfg.Integrations(notify.Options{Logger: app.Logger}); err != nil {
					return err
				}
			}
			routes := 0
			cfg.Route.Walk(func(*alertconfig.Route) { routes++ })
			fmt.Fprintf(app.Out, "%s: valid (%d routes, %d receivers, %d inhibit rules)\n", path, routes, len(cfg.Receivers), len(cfg.InhibitRules))
			return nil
		},
	}
	check.Flags().BoolVar(&secrets, "resolve-secrets", false, "also read the secret and CA files the receivers name")
	cmd.AddCommand(check)
	return cmd
}
