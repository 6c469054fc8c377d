package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubeward/kubeward/internal/api"
	"github.com/kubeward/kubeward/internal/epss"
	"github.com/kubeward/kubeward/internal/kev"
	"github.com/kubeward/kubeward/internal/store"
)

func init() { register(newCVECmd) }

func newCVECmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cve",
		Short: "CVE intelligence: follow feeds, ingest records, search, show, stats",
	}
	cmd.AddCommand(newCVESearchCmd(app), newCVEShowCmd(app), newCVEStatsCmd(app),
		newCVEIngestCmd(app), newCVESyncCmd(app), newCVEKEVCmd(app), newCVEEPSSCmd(app))
	return cmd
}

func newCVESearchCmd(app *App) *cobra.Command {
	var severity, cwe, state, from, to string
	var kevOnly, notKEV bool
	var limit, offset int
	cmd := &cobra.Command{
		Use:   "search [QUERY]",
		Short: "Full-text search over CVE IDs, titles and descriptions, with filters",
		Example: `  kubeward cve search xz
  kubeward cve search "remote code execution" --severity critical,high --kev
  kubeward cve search --cwe CWE-79 --published-from 2024-10-01 -o json`,
		Args: cobra.MaximumNArgs(1),
	}
	out := newOutputFlag(cmd.Flags(), "table", "table", "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		v := url.Values{}
		if len(args) == 1 {
			v.Set("q", args[0])
		}
		set := func(k, s string) {
			if s != "" {
				v.Set(k, s)
			}
		}
		set("severity", severity)
		set("cwe", cwe)
		set("state", state)
		set("published_from", from)
		set("published_to", to)
		if kevOnly && notKEV {
			return errors.New("--kev and --not-kev exclude each other")
		}
		if kevOnly {
			v.Set("kev", "true")
		}
		if notKEV {
			v.Set("kev", "false")
		}
		v.Set("limit", strconv.Itoa(limit))
		v.Set("offset", strconv.Itoa(offset))
		q, err := api.ParseCVEQuery(v)
		if err != nil {
			return err
		}
		st, err := app.OpenStore(cmd.Context())
		if err != nil {
			return err
		}
		defer st.Close()
		page, err := st.SearchCVEs(cmd.Context(), q)
		if err != nil {
			return err
		}
		if out.value == "json" {
			if page.Items == nil {
				page.Items = []store.CVESummary{}
			}
			return writeJSONOut(app.Out, api.CVEList{Total: page.Total, Limit: q.Limit, Offset: q.Offset, Items: page.Items})
		}
		tw := tabwriter.NewWriter(app.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSEVERITY\tSCORE\tKEV\tPUBLISHED\tTITLE")
		for _, it := range page.Items {
			k := ""
			if it.KEV {
				k = "yes"
			}
			score := ""
			if it.Score > 0 {
				score = strconv.FormatFloat(it.Score, 'f', 1, 64)
			}
			title := it.Title
			if title == "" {
				title = it.Description
			}
			pub := ""
			if !it.DatePublished.IsZero() {
				pub = it.DatePublished.Format("2006-01-02")
			}
			sev := it.Severity
			if it.State == "REJECTED" {
				sev = "REJECTED"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", it.ID, sev, score, k, pub, truncate(title, 70))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(app.Err, "%d of %d matching records\n", len(page.Items), page.Total)
		return nil
	}
	f := cmd.Flags()
	f.StringVar(&severity, "severity", "", "comma-separated highest CVSS severities to keep (critical,high,medium,low,none)")
	f.StringVar(&cwe, "cwe", "", "keep records with this CWE (e.g. CWE-79)")
	f.StringVar(&state, "state", "", "keep records in this state (published or rejected)")
	f.StringVar(&from, "published-from", "", "keep records published on or after this date (YYYY-MM-DD)")
	f.StringVar(&to, "published-to", "", "keep records published before this date (YYYY-MM-DD)")
	f.BoolVar(&kevOnly, "kev", false, "keep only known exploited vulnerabilities (CISA KEV)")
	f.BoolVar(&notKEV, "not-kev", false, "keep only records not in CISA KEV")
	f.IntVar(&limit, "limit", 20, "page size (1-1000)")
	f.IntVar(&offset, "offset", 0, "records to skip")
	return cmd
}

func newCVEShowCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show CVE-ID",
		Short: "Show one CVE record with its KEV and EPSS enrichment",
		Args:  cobra.ExactArgs(1),
	}
	out := newOutputFlag(cmd.Flags(), "table", "table", "json", "raw")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		st, err := app.OpenStore(cmd.Context())
		if err != nil {
			return err
		}
		defer st.Close()
		id := strings.ToUpper(args[0])
		d, err := st.GetCVE(cmd.Context(), id)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%s is not in the store (ingest records with `kubeward cve sync` or `kubeward cve ingest`)", id)
		}
		if err != nil {
			return err
		}
		switch out.value {
		case "json":
			return writeJSONOut(app.Out, d)
		case "raw":
			_, err := app.Out.Write(append(d.Record.Raw, '\n'))
			return err
		}
		return printCVE(app, d)
	}
	return cmd
}

func printCVE(app *App, d *store.CVEDetail) error {
	r := d.Record
	w := tabwriter.NewWriter(app.Out, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%s:\t%s\n", k, v)
		}
	}
	row("ID", r.ID)
	row("State", r.State)
	row("Title", r.Title)
	row("Assigner", r.AssignerShortName)
	if !r.DatePublished.IsZero() {
		row("Published", r.DatePublished.Format("2006-01-02 15:04 MST"))
	}
	row("Updated", r.DateUpdatedRaw)
	for _, m := range r.Metrics {
		if m.Format == "CVSS" {
			row("CVSS "+m.Version+" ("+m.Source+")", fmt.Sprintf("%.1f %s  %s", m.BaseScore, m.Severity, m.Vector))
		}
	}
	row("CWE", strings.Join(r.CWEs(), ", "))
	if r.SSVC != nil {
		row("SSVC (CISA)", fmt.Sprintf("exploitation=%s automatable=%s technical-impact=%s", r.SSVC.Exploitation, r.SSVC.Automatable, r.SSVC.TechnicalImpact))
	}
	if d.KEV != nil {
		due := ""
		if !d.KEV.DueDate.IsZero() {
			due = ", due " + d.KEV.DueDate.Format("2006-01-02")
		}
		row("KEV", fmt.Sprintf("added %s%s: %s", d.KEV.DateAdded.Format("2006-01-02"), due, d.KEV.RequiredAction))
	} else if r.KEV != nil {
		row("KEV", "listed (CISA-ADP), added "+r.KEV.DateAdded.Format("2006-01-02"))
	}
	if d.EPSS != nil {
		row("EPSS", fmt.Sprintf("%.5f (percentile %.5f, %s)", d.EPSS.Score, d.EPSS.Percentile, d.EPSS.Date.Format("2006-01-02")))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if desc := r.EnglishDescription(); desc != "" {
		fmt.Fprintf(app.Out, "\n%s\n", desc)
	}
	if len(r.References) > 0 {
		fmt.Fprintln(app.Out, "\nReferences:")
		for _, ref := range r.References {
			fmt.Fprintf(app.Out, "  %s\n", ref.URL)
		}
	}
	return nil
}

func newCVEStatsCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Count stored CVE records (total, rejected, KEV, EPSS, by severity)",
		Args:  cobra.NoArgs,
	}
	out := newOutputFlag(cmd.Flags(), "table", "table", "json")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		st, err := app.OpenStore(cmd.Context())
		if err != nil {
			return err
		}
		defer st.Close()
		s, err := st.CVEStats(cmd.Context())
		if err != nil {
			return err
		}
		if out.value == "json" {
			return writeJSONOut(app.Out, s)
		}
		w := tabwriter.NewWriter(app.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintf(w, "records:\t%d\nrejected:\t%d\nkev:\t%d\nepss:\t%d\n", s.Records, s.Rejected, s.KEV, s.EPSS)
		for _, sev := range []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "NONE", ""} {
			if n, ok := s.BySeverity[sev]; ok {
				name := strings.ToLower(sev)
				if sev == "" {
					name = "unscored"
				}
				fmt.Fprintf(w, "  %s:\t%d\n", name, n)
			}
		}
		return w.Flush()
	}
	return cmd
}

func newCVEKEVCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "kev", Short: "CISA Known Exploited Vulnerabilities catalog"}
	cmd.AddCommand(&cobra.Command{
		Use:   "import FILE",
		Short: "Import the CISA KEV catalog (known_exploited_vulnerabilities.json)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return importFile(cmd.Context(), app, args[0], importKEV)
		},
	})
	return cmd
}

func newCVEEPSSCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "epss", Short: "FIRST EPSS scores"}
	cmd.AddCommand(&cobra.Command{
		Use:   "import FILE",
		Short: "Import a FIRST EPSS score file (epss_scores-YYYY-MM-DD.csv[.gz])",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return importFile(cmd.Context(), app, args[0], importEPSS)
		},
	})
	return cmd
}

// importFile opens path and the store and hands both to fn.
func importFile(ctx context.Context, app *App, path string, fn func(context.Context, *App, *os.File, store.Store) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := app.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := fn(ctx, app, f, st); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func importKEV(ctx context.Context, app *App, f *os.File, st store.Store) error {
	cat, err := kev.Parse(f)
	if err != nil {
		return err
	}
	if err := st.UpsertKEV(ctx, cat.Version, cat.Entries); err != nil {
		return err
	}
	for _, inv := range cat.Invalid {
		app.Logger.Warn("KEV catalog entry invalid", "index", inv.Index, "cve", inv.CVEID, "field", inv.Field, "reason", inv.Reason, "dropped", inv.Dropped)
	}
	fmt.Fprintf(app.Out, "imported KEV catalog %s: %d entries (%d invalid)\n", cat.Version, len(cat.Entries), len(cat.Invalid))
	return nil
}

// importEPSS streams the scores into the store in batches.
func importEPSS(ctx context.Context, app *App, f *os.File, st store.Store) error {
	const batch = 5000
	buf := make([]epss.Score, 0, batch)
	total := 0
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		if err := st.UpsertEPSS(ctx, buf); err != nil {
			return err
		}
		total += len(buf)
		buf = buf[:0]
		return nil
	}
	rd := epss.Reader{ScoreDate: epssDateFromName(f.Name())}
	if _, err := rd.Read(f, func(s epss.Score) error {
		buf = append(buf, s)
		if len(buf) == batch {
			return flush()
		}
		return nil
	}); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	fmt.Fprintf(app.Out, "imported %d EPSS scores\n", total)
	return nil
}

var epssFileDate = regexp.MustCompile(`(\d{4}-\d{2}-\d{2})`)

// epssDateFromName takes the score date from a FIRST file name such as
// epss_scores-2025-08-25.csv.gz, for files without a #score_date header.
func epssDateFromName(name string) time.Time {
	m := epssFileDate.FindString(filepath.Base(name))
	if m == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.DateOnly, m)
	if err != nil {
		return time.Time{}
	}
	return t
}
