package cli

import (
	"errors"
	"fmt"
	"io"
	"os/user"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kubeward/kubeward/internal/alert"
	alertconfig "github.com/kubeward/kubeward/internal/alert/config"
	"github.com/kubeward/kubeward/internal/alert/notify"
	"github.com/kubeward/kubeward/internal/alert/service"
	"github.com/kubeward/kubeward/internal/alert/silence"
	"github.com/kubeward/kubeward/internal/api"
	"github.com/kubeward/kubeward/internal/apiclient"
	"github.com/kubeward/kubeward/internal/config"
)

func init() { register(newAlertCmd) }

func newAlertCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alert",
		Short: "List, acknowledge and silence alerts; check the routing configuration and test receivers",
		Long: "list, ack and silence talk to a running kubeward's API (--server, --token);\n" +
			"config check and test work on a local routing configuration file.",
	}
	var srv serverFlags
	srv.bind(cmd.PersistentFlags())
	cmd.AddCommand(newAlertTestCmd(app), newAlertConfigCmd(app),
		newAlertListCmd(app, &srv), newAlertAckCmd(app, &srv), newAlertSilenceCmd(app, &srv))
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

// serverFlags say which kubeward API a client command calls and with what
// credential. Like every flag, they are also read from the environment
// (KUBEWARD_SERVER, KUBEWARD_TOKEN, KUBEWARD_TIMEOUT) and the config file.
type serverFlags struct {
	server  string
	token   string
	timeout time.Duration
}

func (f *serverFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.server, "server", "http://127.0.0.1:8080", "URL of the kubeward API (env "+config.EnvName("server")+")")
	fs.StringVar(&f.token, "token", "", "bearer credential: an API token (kwt_…) or a JWT access token; prefer env "+config.EnvName("token")+", since flags show in the process list")
	fs.DurationVar(&f.timeout, "timeout", apiclient.DefaultTimeout, "limit for each API request")
}

// client returns an API client configured by the flags.
func (f *serverFlags) client() (*apiclient.Client, error) {
	c, err := apiclient.New(f.server, apiclient.Options{Token: f.token, Timeout: f.timeout, UserAgent: "kubeward-cli"})
	if err != nil {
		return nil, fmt.Errorf("--server: %w", err)
	}
	return c, nil
}

// explain wraps an API error with what the user can do about it.
func (f *serverFlags) explain(op string, err error) error {
	switch {
	case errors.Is(err, apiclient.ErrUnauthorized) && f.token == "":
		return fmt.Errorf("%s: %w; no credential was given: pass an API token with --token or %s", op, err, config.EnvName("token"))
	case errors.Is(err, apiclient.ErrUnauthorized):
		return fmt.Errorf("%s: %w; the server at %s refused the credential: pass a valid API token (kwt_…) or access token with --token or %s", op, err, f.server, config.EnvName("token"))
	case errors.Is(err, apiclient.ErrForbidden):
		return fmt.Errorf("%s: %w; the token's role does not allow this: use a token with a higher role", op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// localUser names the person at the terminal, sent as the actor when the
// server runs without authentication (it records the caller otherwise).
func localUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "kubeward-cli"
}

func newAlertListCmd(app *App, srv *serverFlags) *cobra.Command {
	var states, severities, sources, filters []string
	var limit, offset int
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the alerts of a running kubeward, most recently started first",
		Long: "Lists stored alerts through the API (GET /api/v1/alerts). Filters combine:\n" +
			"--state and --severity and --source keep any of their values, every --filter\n" +
			"label matcher (alertname=\"X\", namespace=~\"prod-.*\") must match.",
		Example: `  kubeward alert list --state firing --severity critical,high
  kubeward alert list --filter 'namespace=~"prod-.*"' -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := alertFilter(states, severities, sources, filters)
			if err != nil {
				return fmt.Errorf("alert list: %w", err)
			}
			f.Limit, f.Offset = limit, offset
			c, err := srv.client()
			if err != nil {
				return err
			}
			page, err := c.ListAlerts(cmd.Context(), f)
			if err != nil {
				return srv.explain("alert list", err)
			}
			if out.value == "json" {
				return writeJSONOut(app.Out, page)
			}
			return writeAlertTable(app.Out, page)
		},
	}
	fs := cmd.Flags()
	fs.StringSliceVar(&states, "state", nil, "keep alerts in these states: firing, resolved")
	fs.StringSliceVar(&severities, "severity", nil, "keep alerts of these severities: critical, high, medium, low, info")
	fs.StringSliceVar(&sources, "source", nil, "keep alerts of these sources: finding, violation, detection, anomaly, response")
	fs.StringArrayVar(&filters, "filter", nil, `label matcher the alerts must match, e.g. alertname="X" (repeatable)`)
	fs.IntVar(&limit, "limit", 100, "page size (1-1000)")
	fs.IntVar(&offset, "offset", 0, "alerts to skip")
	out = newOutputFlag(fs, "table", "table", "json")
	return cmd
}

// alertFilter validates the list flags before any request is sent.
func alertFilter(states, severities, sources, filters []string) (service.Filter, error) {
	var f service.Filter
	for _, s := range states {
		s = strings.ToLower(strings.TrimSpace(s))
		if s != service.StateFiring && s != service.StateResolved {
			return f, fmt.Errorf("--state %q: want firing or resolved", s)
		}
		f.States = append(f.States, s)
	}
	for _, s := range severities {
		sev := alert.Severity(strings.ToLower(strings.TrimSpace(s)))
		if !sev.Valid() {
			return f, fmt.Errorf("--severity %q: want critical, high, medium, low or info", s)
		}
		f.Severities = append(f.Severities, sev)
	}
	for _, s := range sources {
		src := alert.Source(strings.ToLower(strings.TrimSpace(s)))
		if !src.Valid() {
			return f, fmt.Errorf("--source %q: want finding, violation, detection, anomaly or response", s)
		}
		f.Sources = append(f.Sources, src)
	}
	ms, err := parseMatchers("--filter", filters)
	f.Matchers = ms
	return f, err
}

// parseMatchers parses label matchers given to flag.
func parseMatchers(flag string, values []string) ([]alert.Matcher, error) {
	ms := make([]alert.Matcher, 0, len(values))
	for _, v := range values {
		m, err := alert.ParseMatcher(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

func writeAlertTable(w io.Writer, page api.List[service.View]) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FINGERPRINT\tSTATE\tSEVERITY\tSOURCE\tALERTNAME\tSTARTED\tMUTED\tACK\tLABELS")
	for _, v := range page.Items {
		muted := "-"
		switch {
		case len(v.SilencedBy) > 0:
			muted = "silenced"
		case v.Inhibited:
			muted = "inhibited"
		}
		ack := "-"
		if v.Ack != nil {
			ack = v.Ack.By
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Fingerprint, v.State, v.Severity, v.Source,
			v.Labels[alert.LabelAlertName], v.StartsAt.UTC().Format(time.RFC3339), muted, ack, truncate(otherLabels(v.Labels), 60))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(page.Items) < page.Total {
		fmt.Fprintf(w, "(%d of %d alerts from offset %d; use --limit and --offset for more)\n", len(page.Items), page.Total, page.Offset)
	}
	return nil
}

// otherLabels formats the labels a table shows in columns of their own
// leaves out, sorted by name.
func otherLabels(ls alert.LabelSet) string {
	names := make([]string, 0, len(ls))
	for k := range ls {
		switch k {
		case alert.LabelAlertName, alert.LabelSeverity, alert.LabelSource:
			continue
		}
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = alert.Matcher{Name: k, Type: alert.MatchEqual, Value: ls[k]}.String()
	}
	return strings.Join(parts, ",")
}

func newAlertAckCmd(app *App, srv *serverFlags) *cobra.Command {
	var comment string
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "ack FINGERPRINT",
		Short: "Acknowledge an alert's current firing episode",
		Long: "Acknowledges the alert with FINGERPRINT (16 hex digits, as alert list shows)\n" +
			"through the API (POST /api/v1/alerts/{fingerprint}/ack); needs an operator token.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fp := strings.ToLower(strings.TrimSpace(args[0]))
			if _, err := alert.ParseFingerprint(fp); err != nil || len(fp) != 16 {
				return fmt.Errorf("alert ack: %q is not an alert fingerprint: want the 16 hex digits alert list shows", args[0])
			}
			c, err := srv.client()
			if err != nil {
				return err
			}
			a, err := c.Ack(cmd.Context(), fp, api.AckRequest{By: localUser(), Comment: comment})
			if err != nil {
				return srv.explain("alert ack "+fp, err)
			}
			if out.value == "json" {
				return writeJSONOut(app.Out, a)
			}
			by := "?"
			if a.Ack != nil {
				by = a.Ack.By
			}
			fmt.Fprintf(app.Out, "acknowledged %s (%s) as %s\n", fp, a.Labels[alert.LabelAlertName], by)
			return nil
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "why, or what is being done about it")
	out = newOutputFlag(cmd.Flags(), "text", "text", "json")
	return cmd
}

func newAlertSilenceCmd(app *App, srv *serverFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "silence",
		Short: "Create, list and expire silences on a running kubeward",
	}
	cmd.AddCommand(newSilenceAddCmd(app, srv), newSilenceListCmd(app, srv), newSilenceExpireCmd(app, srv))
	return cmd
}

func newSilenceAddCmd(app *App, srv *serverFlags) *cobra.Command {
	var matchers []string
	var duration time.Duration
	var comment string
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "add --matcher 'alertname=\"X\"'... --comment TEXT [--duration 2h]",
		Short: "Silence the alerts that match every matcher, from now for --duration",
		Example: `  kubeward alert silence add --matcher 'alertname="PrivilegedPod"' --matcher 'namespace="ci"' \
      --duration 4h --comment "CI runners, ticket SEC-12"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(matchers) == 0 {
				return errors.New("silence add: give at least one --matcher, e.g. --matcher 'alertname=\"X\"'")
			}
			if strings.TrimSpace(comment) == "" {
				return errors.New("silence add: --comment is required: say why the alerts are silenced")
			}
			if duration <= 0 {
				return fmt.Errorf("silence add: --duration %s: want a positive duration such as 2h", duration)
			}
			ms, err := parseMatchers("--matcher", matchers)
			if err != nil {
				return fmt.Errorf("silence add: %w", err)
			}
			c, err := srv.client()
			if err != nil {
				return err
			}
			now := time.Now().UTC()
			sil, err := c.CreateSilence(cmd.Context(), alert.Silence{
				Matchers: ms, StartsAt: now, EndsAt: now.Add(duration), CreatedBy: localUser(), Comment: comment,
			})
			if err != nil {
				return srv.explain("silence add", err)
			}
			if out.value == "json" {
				return writeJSONOut(app.Out, sil)
			}
			fmt.Fprintf(app.Out, "%s\n", sil.ID)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&matchers, "matcher", nil, `label matcher, e.g. alertname="X" or namespace=~"prod-.*" (repeatable; all must match)`)
	fs.DurationVar(&duration, "duration", 2*time.Hour, "how long the silence lasts from now")
	fs.StringVar(&comment, "comment", "", "why the alerts are silenced (required)")
	out = newOutputFlag(fs, "id", "id", "json")
	return cmd
}

func newSilenceListCmd(app *App, srv *serverFlags) *cobra.Command {
	var states []string
	var limit, offset int
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List silences by start time",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := apiclient.SilenceQuery{Limit: limit, Offset: offset}
			for _, s := range states {
				st := silence.State(strings.ToLower(strings.TrimSpace(s)))
				if st != silence.StatePending && st != silence.StateActive && st != silence.StateExpired {
					return fmt.Errorf("silence list: --state %q: want pending, active or expired", s)
				}
				q.States = append(q.States, st)
			}
			c, err := srv.client()
			if err != nil {
				return err
			}
			page, err := c.ListSilences(cmd.Context(), q)
			if err != nil {
				return srv.explain("silence list", err)
			}
			if out.value == "json" {
				return writeJSONOut(app.Out, page)
			}
			return writeSilenceTable(app.Out, page, time.Now())
		},
	}
	fs := cmd.Flags()
	fs.StringSliceVar(&states, "state", nil, "keep silences in these states: pending, active, expired")
	fs.IntVar(&limit, "limit", 100, "page size (1-1000)")
	fs.IntVar(&offset, "offset", 0, "silences to skip")
	out = newOutputFlag(fs, "table", "table", "json")
	return cmd
}

func writeSilenceTable(w io.Writer, page api.List[alert.Silence], now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSTARTS\tENDS\tCREATED BY\tMATCHERS\tCOMMENT")
	for i := range page.Items {
		s := &page.Items[i]
		ms := make([]string, len(s.Matchers))
		for j, m := range s.Matchers {
			ms[j] = m.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, silence.StateAt(s, now),
			s.StartsAt.UTC().Format(time.RFC3339), s.EndsAt.UTC().Format(time.RFC3339), s.CreatedBy,
			strings.Join(ms, ","), truncate(s.Comment, 50))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(page.Items) < page.Total {
		fmt.Fprintf(w, "(%d of %d silences from offset %d; use --limit and --offset for more)\n", len(page.Items), page.Total, page.Offset)
	}
	return nil
}

func newSilenceExpireCmd(app *App, srv *serverFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "expire ID",
		Short: "End a silence now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := srv.client()
			if err != nil {
				return err
			}
			sil, err := c.ExpireSilence(cmd.Context(), strings.TrimSpace(args[0]))
			if err != nil {
				return srv.explain("silence expire "+args[0], err)
			}
			fmt.Fprintf(app.Out, "expired %s at %s\n", sil.ID, sil.EndsAt.UTC().Format(time.RFC3339))
			return nil
		},
	}
}
