package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"github.com/kubeward/kubeward/internal/detect"
	"github.com/kubeward/kubeward/internal/detect/httpingest"
	"github.com/kubeward/kubeward/internal/detect/rules"
	"github.com/kubeward/kubeward/internal/detect/tail"
	"github.com/kubeward/kubeward/internal/detect/tetragon"
)

func init() { register(newAuditCmd) }

func newAuditCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Detect intrusions in Kubernetes audit events, Tetragon events and Falco alerts with Falco rules",
	}
	cmd.AddCommand(newAuditReplayCmd(app), newAuditTailCmd(app), newAuditWebhookCmd(app))
	return cmd
}

// ruleFlags are the flags every audit subcommand uses to build its engine.
type ruleFlags struct {
	files       []string
	builtin     bool
	clusterName string
	source      string
	minPriority string
	extraFields detect.ExtraOutputFields
}

func (r *ruleFlags) bind(f *pflag.FlagSet) {
	f.StringArrayVar(&r.files, "rules", nil, "Falco rules file (repeatable; loaded in order, later files append/override)")
	f.BoolVar(&r.builtin, "builtin-rules", true, "include kubeward's Tetragon rules")
	f.StringVar(&r.clusterName, "cluster-name", "", "value of the ka.cluster.name field")
	f.StringVar(&r.source, "source", "auto", "event source of input files: auto, k8s_audit, tetragon or falco_alert")
	f.StringVar(&r.minPriority, "min-priority", "debug", "load only rules at least this severe (Falco's priority setting)")
	r.extraFields = detect.DefaultExtraOutputFields()
	f.Var(&r.extraFields, "detect-extra-field", "add FIELD to the output_fields of every detection of SOURCE, as SOURCE:FIELD (repeatable, like Falco's append_output; defaults: k8s_audit:ka.sourceips, tetragon:tetragon.net.source_ip, tetragon:tetragon.net.destination_ip)")
}

// eventSource validates --source.
func (r *ruleFlags) eventSource() (string, error) {
	switch r.source {
	case "auto":
		return detect.AutoSource, nil
	case "k8s_audit", "tetragon", "falco_alert":
		return r.source, nil
	}
	return "", fmt.Errorf("--source %q: want auto, k8s_audit, tetragon or falco_alert", r.source)
}

func (r *ruleFlags) engine(app *App) (*detect.Engine, error) {
	var files []rules.File
	if r.builtin {
		files = append(files, tetragon.DefaultRules())
	}
	for _, p := range r.files {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading rules: %w", err)
		}
		files = append(files, rules.File{Name: p, Data: b})
	}
	if len(files) == 0 {
		return nil, errors.New("no rules: pass --rules FILE or keep --builtin-rules")
	}
	minPriority, err := rules.ParsePriority(r.minPriority)
	if err != nil {
		return nil, fmt.Errorf("--min-priority: %w", err)
	}
	host, _ := os.Hostname()
	return detect.New(detect.Config{
		Rules:       files,
		Sources:     detect.DefaultSources(detect.SourceOptions{ClusterName: r.clusterName}),
		MinPriority: &minPriority,
		Hostname:    host,
		Logger:      app.Logger,

		ExtraOutputFields: r.extraFields,
	})
}

func newAuditReplayCmd(app *App) *cobra.Command {
	var (
		rf     ruleFlags
		output string
		failOn string
	)
	cmd := &cobra.Command{
		Use:   "replay FILE...",
		Short: "Evaluate files of events against rules and print the detections",
		Long: `Evaluate files of events (JSON lines, a JSON array, concatenated JSON documents or
audit EventLists) against Falco rule files and print the detections.

Each event's source is recognised by its shape (Kubernetes audit event, Tetragon
export event, Falco alert) unless --source names one.

Exit codes: 0 no detection at or above --fail-on (or --fail-on not set),
1 detections at or above --fail-on, 2 usage or runtime error.`,
		Example: `  kubeward audit replay audit.log --rules k8s_audit_rules.yaml --fail-on warning
  kubeward audit replay tetragon.jsonl -o table`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var threshold *rules.Priority
			if failOn != "" {
				p, err := rules.ParsePriority(failOn)
				if err != nil {
					return fmt.Errorf("--fail-on: %w", err)
				}
				threshold = &p
			}
			if output != "json" && output != "table" {
				return fmt.Errorf("--output %q: want json or table", output)
			}
			source, err := rf.eventSource()
			if err != nil {
				return err
			}
			engine, err := rf.engine(app)
			if err != nil {
				return err
			}
			var all []detect.Detection
			for _, path := range args {
				f, err := os.Open(path)
				if err != nil {
					return fmt.Errorf("reading events: %w", err)
				}
				dets, st, err := detect.Replay(cmd.Context(), engine, f, source)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				for _, r := range st.Rejected {
					app.Logger.Warn("event skipped", "file", path, "error", r)
				}
				app.Logger.Info("replayed", "file", path, "documents", st.Documents, "events", st.Events, "rejected", len(st.Rejected), "detections", len(dets))
				all = append(all, dets...)
			}
			if output == "table" {
				err = detect.WriteTable(app.Out, all)
			} else {
				err = detect.WriteJSON(app.Out, all)
			}
			if err != nil {
				return fmt.Errorf("writing detections: %w", err)
			}
			if threshold != nil {
				for _, d := range all {
					if d.Priority.AtLeast(*threshold) {
						return ErrFindings
					}
				}
			}
			return nil
		},
	}
	rf.bind(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "json", "output format: json (Falco json_output lines) or table")
	cmd.Flags().StringVar(&failOn, "fail-on", "", "exit 1 when a detection is at least this priority (emergency … debug); default never")
	return cmd
}

// signalContext is cancelled on SIGINT or SIGTERM.
func signalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

func newAuditTailCmd(app *App) *cobra.Command {
	var (
		rf        ruleFlags
		fromStart bool
		poll      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "tail FILE...",
		Short: "Follow audit logs and Tetragon export files, publish and print detections",
		Long: `Follow JSON-lines files (apiserver --audit-log-path logs, Tetragon export files),
surviving rotation and truncation, evaluate every new event and publish the
detections on the bus topic "detections" (and print them as Falco JSON lines).
Runs until interrupted.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			source, err := rf.eventSource()
			if err != nil {
				return err
			}
			engine, err := rf.engine(app)
			if err != nil {
				return err
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			b, err := app.OpenBus(ctx)
			if err != nil {
				return err
			}
			defer b.Close()
			p := &detect.Pipeline{Engine: engine, Publisher: b, Output: app.Out}
			g, ctx := errgroup.WithContext(ctx)
			for _, path := range args {
				t := tail.New(p, tail.Options{Path: path, Source: source, Poll: poll, FromStart: fromStart, Logger: app.Logger})
				g.Go(func() error {
					defer t.Close()
					return t.Run(ctx)
				})
			}
			return g.Wait()
		},
	}
	rf.bind(cmd.Flags())
	cmd.Flags().BoolVar(&fromStart, "from-start", false, "read existing lines too, not only lines appended after start")
	cmd.Flags().DurationVar(&poll, "poll", 250*time.Millisecond, "polling interval")
	return cmd
}

func newAuditWebhookCmd(app *App) *cobra.Command {
	var (
		rf       ruleFlags
		listen   string
		certFile string
		keyFile  string
	)
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Serve the Kubernetes audit webhook backend and a Falco http_output receiver",
		Long: `Serve POST /k8s-audit (the apiserver's audit webhook backend: EventList bodies,
12 MiB per request, 256 KiB per event) and POST /falco (Falco's http_output),
evaluate the events and publish the detections on the bus topic "detections".
Use --tls-cert and --tls-key whenever the listener is reachable off the host.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			engine, err := rf.engine(app)
			if err != nil {
				return err
			}
			if (certFile == "") != (keyFile == "") {
				return errors.New("--tls-cert and --tls-key go together")
			}
			if host, _, err := net.SplitHostPort(listen); err != nil {
				return fmt.Errorf("--listen %q: %w", listen, err)
			} else if ip := net.ParseIP(host); certFile == "" && (ip == nil || !ip.IsLoopback()) {
				app.Logger.Warn("serving audit events over plain HTTP on a non-loopback address; pass --tls-cert and --tls-key", "listen", listen)
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			b, err := app.OpenBus(ctx)
			if err != nil {
				return err
			}
			defer b.Close()
			p := &detect.Pipeline{Engine: engine, Publisher: b}
			mux := http.NewServeMux()
			mux.Handle("/k8s-audit", httpingest.NewAuditWebhook(p, app.Logger))
			mux.Handle("/falco", httpingest.NewFalcoReceiver(p, app.Logger))
			srv := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
			errc := make(chan error, 1)
			go func() {
				app.Logger.Info("audit webhook listening", "addr", listen, "tls", certFile != "")
				if certFile != "" {
					errc <- srv.ListenAndServeTLS(certFile, keyFile)
				} else {
					errc <- srv.ListenAndServe()
				}
			}()
			select {
			case err := <-errc:
				return fmt.Errorf("audit webhook: %w", err)
			case <-ctx.Done():
				shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				return srv.Shutdown(shutdown)
			}
		},
	}
	rf.bind(cmd.Flags())
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8765", "address to listen on")
	cmd.Flags().StringVar(&certFile, "tls-cert", "", "TLS certificate file")
	cmd.Flags().StringVar(&keyFile, "tls-key", "", "TLS private key file")
	return cmd
}
