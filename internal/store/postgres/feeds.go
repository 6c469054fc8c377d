package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kubeward/kubeward/internal/epss"
	"github.com/kubeward/kubeward/internal/kev"
	"github.com/kubeward/kubeward/internal/store"
)

const kevSelect = `SELECT cve_id, vendor_project, product, vulnerability_name, date_added, short_description,
	required_action, due_date, known_ransomware, notes, cwes FROM kev_catalog`

func scanKEV(row pgx.Row) (*kev.Entry, error) {
	var e kev.Entry
	var added, due pgtype.Timestamptz
	if err := row.Scan(&e.CVEID, &e.VendorProject, &e.Product, &e.VulnerabilityName, &added, &e.ShortDescription,
		&e.RequiredAction, &due, &e.KnownRansomwareCampaignUse, &e.Notes, &e.CWEs); err != nil {
		return nil, err
	}
	e.DateAdded, e.DueDate, e.CWEs = fromTS(added), fromTS(due), nilIfEmpty(e.CWEs)
	return &e, nil
}

const epssSelect = `SELECT cve_id, score, percentile, score_date, model_version FROM epss`

func scanEPSS(row pgx.Row) (*epss.Score, error) {
	var e epss.Score
	var date pgtype.Timestamptz
	if err := row.Scan(&e.CVEID, &e.Score, &e.Percentile, &date, &e.ModelVersion); err != nil {
		return nil, err
	}
	e.Date = fromTS(date)
	return &e, nil
}

// UpsertKEV replaces the KEV catalog with entries in one transaction.
func (s *Store) UpsertKEV(ctx context.Context, catalogVersion string, entries []kev.Entry) (err error) {
	defer func(start time.Time) { store.ObserveOperation(Backend, "upsert_kev", err, start) }(time.Now())
	entries, err = store.UniqueKEV(entries)
	if err != nil {
		return err
	}
	rows := make([][]any, len(entries))
	for i, e := range entries {
		rows[i] = []any{text(e.CVEID), text(catalogVersion), text(e.VendorProject), text(e.Product), text(e.VulnerabilityName),
			ts(e.DateAdded), text(e.ShortDescription), text(e.RequiredAction), ts(e.DueDate),
			text(e.KnownRansomwareCampaignUse), text(e.Notes), texts(e.CWEs)}
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres store: replace KEV catalog: begin: %w", err)
	}
	defer rollback(ctx, tx)
	if _, err := tx.Exec(ctx, "DELETE FROM kev_catalog"); err != nil {
		return fmt.Errorf("postgres store: replace KEV catalog: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"kev_catalog"},
		[]string{"cve_id", "catalog_version", "vendor_project", "product", "vulnerability_name", "date_added",
			"short_description", "required_action", "due_date", "known_ransomware", "notes", "cwes"},
		pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("postgres store: replace KEV catalog: copy entries: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres store: replace KEV catalog: commit: %w", err)
	}
	return nil
}

// epssChunk bounds the scores sent per statement (a full EPSS file has
// about 300,000).
const epssChunk = 10000

const upsertEPSSSQL = `
INSERT INTO epss AS e (cve_id, score, percentile, score_date, model_version)
SELECT * FROM unnest($1::text[], $2::float8[], $3::float8[], $4::timestamptz[], $5::text[])
ON CONFLICT (cve_id) DO UPDATE SET score = excluded.score, percentile = excluded.percentile,
	score_date = excluded.score_date, model_version = excluded.model_version
WHERE e.score_date < excluded.score_date`

// UpsertEPSS stores scores in one transaction; a stored score is replaced
// only by one with a later date.
func (s *Store) UpsertEPSS(ctx context.Context, scores []epss.Score) (err error) {
	defer func(start time.Time) { store.ObserveOperation(Backend, "upsert_epss", err, start) }(time.Now())
	scores, err = store.LatestEPSS(scores)
	if err != nil || len(scores) == 0 {
		return err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres store: upsert EPSS: begin: %w", err)
	}
	defer rollback(ctx, tx)
	for start := 0; start < len(scores); start += epssChunk {
		chunk := scores[start:min(start+epssChunk, len(scores))]
		ids, vals, pcts, dates, models := make([]string, len(chunk)), make([]float64, len(chunk)), make([]float64, len(chunk)),
			make([]pgtype.Timestamptz, len(chunk)), make([]string, len(chunk))
		for i, sc := range chunk {
			ids[i], vals[i], pcts[i], dates[i], models[i] = text(sc.CVEID), sc.Score, sc.Percentile, ts(sc.Date), text(sc.ModelVersion)
		}
		if _, err := tx.Exec(ctx, upsertEPSSSQL, ids, vals, pcts, dates, models); err != nil {
			return fmt.Errorf("postgres store: upsert EPSS: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres store: upsert EPSS: commit: %w", err)
	}
	return nil
}
