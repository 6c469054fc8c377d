package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/kubeward/kubeward/internal/epss"
	"github.com/kubeward/kubeward/internal/kev"
	"github.com/kubeward/kubeward/internal/store"
)

const kevSelect = `SELECT cve_id, vendor_project, product, vulnerability_name, date_added, short_description,
	required_action, due_date, known_ransomware, notes, cwes FROM kev_catalog`

func scanKEV(row *sql.Row) (*kev.Entry, error) {
	var e kev.Entry
	var added, due sql.NullString
	var cwes string
	if err := row.Scan(&e.CVEID, &e.VendorProject, &e.Product, &e.VulnerabilityName, &added, &e.ShortDescription,
		&e.RequiredAction, &due, &e.KnownRansomwareCampaignUse, &e.Notes, &cwes); err != nil {
		return nil, err
	}
	var err error
	if e.DateAdded, err = parseTime(added); err != nil {
		return nil, err
	}
	if e.DueDate, err = parseTime(due); err != nil {
		return nil, err
	}
	if err := decodeList(cwes, &e.CWEs); err != nil {
		return nil, fmt.Errorf("CWEs: %w", err)
	}
	return &e, nil
}

const epssSelect = `SELECT cve_id, score, percentile, score_date, model_version FROM epss`

func scanEPSS(row *sql.Row) (*epss.Score, error) {
	var e epss.Score
	var date sql.NullString
	if err := row.Scan(&e.CVEID, &e.Score, &e.Percentile, &date, &e.ModelVersion); err != nil {
		return nil, err
	}
	var err error
	if e.Date, err = parseTime(date); err != nil {
		return nil, err
	}
	return &e, nil
}

// UpsertKEV replaces the KEV catalog with entries in one transaction.
func (s *Store) UpsertKEV(ctx context.Context, catalogVersion string, entries []kev.Entry) (err error) {
	defer func(start time.Time) { store.ObserveOperation(Backend, "upsert_kev", err, start) }(time.Now())
	entries, err = store.UniqueKEV(entries)
	if err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite store: replace KEV catalog: begin: %w", err)
	}
	defer rollback(ctx, tx)
	if _, err := tx.ExecContext(ctx, "DELETE FROM kev_catalog"); err != nil {
		return fmt.Errorf("sqlite store: replace KEV catalog: %w", err)
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO kev_catalog (cve_id, catalog_version, vendor_project, product,
		vulnerability_name, date_added, short_description, required_action, due_date, known_ransomware, notes, cwes)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("sqlite store: replace KEV catalog: %w", err)
	}
	defer ins.Close()
	for _, e := range entries {
		cwes, err := jsonList(e.CWEs)
		if err != nil {
			return fmt.Errorf("sqlite store: replace KEV catalog: encode CWEs of %s: %w", e.CVEID, err)
		}
		if _, err := ins.ExecContext(ctx, e.CVEID, catalogVersion, e.VendorProject, e.Product, e.VulnerabilityName,
			fmtTime(e.DateAdded), e.ShortDescription, e.RequiredAction, fmtTime(e.DueDate),
			e.KnownRansomwareCampaignUse, e.Notes, cwes); err != nil {
			return fmt.Errorf("sqlite store: replace KEV catalog: insert %s: %w", e.CVEID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite store: replace KEV catalog: commit: %w", err)
	}
	return nil
}

// UpsertEPSS stores scores in one transaction; a stored score is replaced
// only by one with a later date.
func (s *Store) UpsertEPSS(ctx context.Context, scores []epss.Score) (err error) {
	defer func(start time.Time) { store.ObserveOperation(Backend, "upsert_epss", err, start) }(time.Now())
	scores, err = store.LatestEPSS(scores)
	if err != nil || len(scores) == 0 {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite store: upsert EPSS: begin: %w", err)
	}
	defer rollback(ctx, tx)
	ins, err := tx.PrepareContext(ctx, `INSERT INTO epss (cve_id, score, percentile, score_date, model_version)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (cve_id) DO UPDATE SET score = excluded.score, percentile = excluded.percentile,
			score_date = excluded.score_date, model_version = excluded.model_version
		WHERE epss.score_date < excluded.score_date`)
	if err != nil {
		return fmt.Errorf("sqlite store: upsert EPSS: %w", err)
	}
	defer ins.Close()
	for _, sc := range scores {
		if _, err := ins.ExecContext(ctx, sc.CVEID, sc.Score, sc.Percentile, fmtTime(sc.Date), sc.ModelVersion); err != nil {
			return fmt.Errorf("sqlite store: upsert EPSS: %s: %w", sc.CVEID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite store: upsert EPSS: commit: %w", err)
	}
	return nil
}
