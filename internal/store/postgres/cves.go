package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kubeward/kubeward/internal/cve"
	"github.com/kubeward/kubeward/internal/store"
)

// maxSearchBody bounds the description text indexed per record (bytes);
// PostgreSQL refuses tsvectors over 1 MB.
const maxSearchBody = 256 << 10

// upsertCVEsSQL inserts new records and replaces stored ones that the
// incoming version replaces under store.Version.Replaces (the caller has
// checked; the WHERE clause guards the same rule). RETURNING lists only rows written;
// xmax = 0 tells an insert from an update.
const upsertCVEsSQL = `
INSERT INTO cves AS c (id, state, data_version, assigner, date_reserved, date_published, date_updated,
	date_rejected, date_updated_raw, title, description, severity, score, kev, raw, search, stored_at, published)
SELECT u.id, u.state, u.data_version, u.assigner, u.date_reserved, u.date_published, u.date_updated,
	u.date_rejected, u.date_updated_raw, u.title, u.description, u.severity, u.score, u.kev, u.raw,
	setweight(to_tsvector('simple', u.s_id), 'A') ||
	setweight(to_tsvector('english', u.s_title), 'B') ||
	setweight(to_tsvector('english', u.s_body), 'C'),
	now(), u.published
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[],
	$7::timestamptz[], $8::timestamptz[], $9::text[], $10::text[], $11::text[], $12::text[],
	$13::float8[], $14::bool[], $15::bytea[], $16::text[], $17::text[], $18::text[], $19::timestamptz[])
	AS u(id, state, data_version, assigner, date_reserved, date_published, date_updated, date_rejected,
	date_updated_raw, title, description, severity, score, kev, raw, s_id, s_title, s_body, published)
ON CONFLICT (id) DO UPDATE SET
	state = excluded.state, data_version = excluded.data_version, assigner = excluded.assigner,
	date_reserved = excluded.date_reserved, date_published = excluded.date_published,
	date_updated = excluded.date_updated, date_rejected = excluded.date_rejected,
	date_updated_raw = excluded.date_updated_raw, title = excluded.title,
	description = excluded.description, severity = excluded.severity, score = excluded.score,
	kev = excluded.kev, raw = excluded.raw, search = excluded.search, stored_at = excluded.stored_at,
	published = excluded.published
WHERE excluded.date_updated IS NOT NULL AND (c.date_updated IS NULL
	OR (excluded.published IS NOT NULL AND c.published IS NOT NULL AND (excluded.published > c.published
		OR (excluded.published = c.published AND excluded.date_updated > c.date_updated)))
	OR ((excluded.published IS NULL OR c.published IS NULL) AND excluded.date_updated > c.date_updated))
RETURNING c.id, (c.xmax = 0) AS inserted`

// childTables are the tables holding a record's lists, deleted and rewritten
// when the record is replaced.
var childTables = []string{"cve_descriptions", "cve_problems", "cve_metrics", "cve_references", "cve_affected", "cve_ssvc", "cve_kev_adp"}

// UpsertCVEs writes recs in one transaction; see store.CVEStore.
//
// Concurrent writers lock rows in ID order, but a record that one writer
// saw as new may be stored by another before the first inserts it, so a
// deadlock is possible; PostgreSQL then aborts one transaction, which is
// retried (up to maxAttempts times).
func (s *Store) UpsertCVEs(ctx context.Context, recs []*cve.Record) (store.UpsertResult, error) {
	started := time.Now()
	var res store.UpsertResult
	var err error
	for attempt := 1; ; attempt++ {
		res, err = s.upsertCVEs(ctx, recs)
		if !retryable(err) || attempt == maxAttempts || ctx.Err() != nil {
			break
		}
		slog.DebugContext(ctx, "store upsert retried", "backend", Backend, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt*attempt) * 5 * time.Millisecond):
		}
	}
	store.ObserveUpsert(Backend, len(recs), res, err, started)
	return res, err
}

// maxAttempts bounds how often UpsertCVEs tries a batch that deadlocked.
const maxAttempts = 5

// retryable reports whether err aborted a transaction that can simply be
// run again: a deadlock or a serialization failure.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}

func (s *Store) upsertCVEs(ctx context.Context, recs []*cve.Record) (store.UpsertResult, error) {
	latest, dups, err := store.LatestVersions(recs)
	if err != nil || len(latest) == 0 {
		return store.UpsertResult{}, err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return store.UpsertResult{}, fmt.Errorf("postgres store: upsert CVEs: begin: %w", err)
	}
	defer rollback(ctx, tx)

	// Lock the stored versions (in ID order, as every writer does, so
	// concurrent writers cannot deadlock) and keep only newer records: a
	// replay costs one index lookup per record, not an upsert.
	candidates, err := newerThanStored(ctx, tx, latest)
	if err != nil {
		return store.UpsertResult{}, err
	}
	if len(candidates) == 0 {
		if err := tx.Commit(ctx); err != nil {
			return store.UpsertResult{}, fmt.Errorf("postgres store: upsert CVEs: commit: %w", err)
		}
		return store.UpsertResult{Skipped: len(recs)}, nil
	}
	m := len(candidates)
	var (
		ids, states, dataVersions, assigners         = make([]string, m), make([]string, m), make([]string, m), make([]string, m)
		reserved, published, updated, rejected       = make([]pgtype.Timestamptz, m), make([]pgtype.Timestamptz, m), make([]pgtype.Timestamptz, m), make([]pgtype.Timestamptz, m)
		updatedRaw, titles, descriptions, severities = make([]string, m), make([]string, m), make([]string, m), make([]string, m)
		scores, kevs, raws                           = make([]float64, m), make([]bool, m), make([][]byte, m)
		feedPublished                                = make([]pgtype.Timestamptz, m)
		searchIDs, searchTitles, searchBodies        = make([]string, m), make([]string, m), make([]string, m)
		byID                                         = make(map[string]*cve.Record, m)
	)
	for i, r := range candidates {
		ix := store.Index(r)
		ids[i], states[i], dataVersions[i], assigners[i] = text(r.ID), text(r.State), text(r.DataVersion), text(r.AssignerShortName)
		reserved[i], published[i], updated[i], rejected[i] = ts(r.DateReserved), ts(r.DatePublished), ts(r.DateUpdated), ts(r.DateRejected)
		updatedRaw[i], titles[i], descriptions[i], severities[i] = text(r.DateUpdatedRaw), text(r.Title), text(ix.Description), text(ix.Severity)
		scores[i], kevs[i], raws[i] = ix.Score, ix.KEV, r.Raw
		feedPublished[i] = ts(r.Published)
		body := ix.SearchBody
		if len(body) > maxSearchBody {
			body = body[:maxSearchBody]
		}
		searchIDs[i], searchTitles[i], searchBodies[i] = text(ix.SearchID), text(ix.SearchTitle), text(body)
		byID[ids[i]] = r
	}

	rows, err := tx.Query(ctx, upsertCVEsSQL, ids, states, dataVersions, assigners, reserved, published, updated,
		rejected, updatedRaw, titles, descriptions, severities, scores, kevs, raws, searchIDs, searchTitles, searchBodies, feedPublished)
	if err != nil {
		return store.UpsertResult{}, fmt.Errorf("postgres store: upsert CVEs: %w", err)
	}
	var written []*cve.Record
	var replaced []string
	for rows.Next() {
		var id string
		var inserted bool
		if err := rows.Scan(&id, &inserted); err != nil {
			rows.Close()
			return store.UpsertResult{}, fmt.Errorf("postgres store: upsert CVEs: %w", err)
		}
		written = append(written, byID[id])
		if !inserted {
			replaced = append(replaced, id)
		}
	}
	if err := rows.Err(); err != nil {
		return store.UpsertResult{}, fmt.Errorf("postgres store: upsert CVEs: %w", err)
	}

	if len(replaced) > 0 {
		b := &pgx.Batch{}
		for _, t := range childTables {
			b.Queue("DELETE FROM "+t+" WHERE cve_id = ANY($1)", replaced)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return store.UpsertResult{}, fmt.Errorf("postgres store: upsert CVEs: delete replaced child rows: %w", err)
		}
	}
	if err := copyChildren(ctx, tx, written); err != nil {
		return store.UpsertResult{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return store.UpsertResult{}, fmt.Errorf("postgres store: upsert CVEs: commit: %w", err)
	}
	return store.UpsertResult{Written: len(written), Skipped: dups + len(latest) - len(written)}, nil
}

// newerThanStored locks the stored rows of recs (sorted by ID) and returns
// the records that are new or newer than the stored version.
func newerThanStored(ctx context.Context, tx pgx.Tx, recs []*cve.Record) ([]*cve.Record, error) {
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = text(r.ID)
	}
	rows, err := tx.Query(ctx, `SELECT id, date_updated, published FROM cves WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, fmt.Errorf("postgres store: upsert CVEs: look up stored versions: %w", err)
	}
	stored := make(map[string]store.Version, len(recs))
	var id string
	var updated, published pgtype.Timestamptz
	if _, err := pgx.ForEachRow(rows, []any{&id, &updated, &published}, func() error {
		stored[id] = store.Version{Updated: fromTS(updated), Published: fromTS(published)}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("postgres store: upsert CVEs: look up stored versions: %w", err)
	}
	out := recs[:0:0]
	for i, r := range recs {
		if prev, ok := stored[ids[i]]; ok && !store.VersionOf(r).Replaces(prev) {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// copyChildren streams the child rows of recs into their tables with COPY.
func copyChildren(ctx context.Context, tx pgx.Tx, recs []*cve.Record) error {
	var descs, probs, metrics, refs, affected, ssvc, kev [][]any
	for _, r := range recs {
		id := text(r.ID)
		for i, d := range r.Descriptions {
			descs = append(descs, []any{id, i, text(d.Lang), text(d.Value)})
		}
		for i, p := range r.Problems {
			probs = append(probs, []any{id, i, text(p.CWEID), text(p.Description), text(p.Type), text(p.Source)})
		}
		for i, m := range r.Metrics {
			metrics = append(metrics, []any{id, i, text(m.Source), text(m.Format), text(m.Version), text(m.Vector),
				m.BaseScore, m.ReportedScore, text(m.Severity), text(m.Error)})
		}
		for i, ref := range r.References {
			refs = append(refs, []any{id, i, text(ref.URL), text(ref.Name), texts(ref.Tags), text(ref.Source)})
		}
		for i, a := range r.Affected {
			versions := make([]cve.Version, len(a.Versions))
			for j, v := range a.Versions {
				versions[j] = cve.Version{Version: text(v.Version), Status: text(v.Status), VersionType: text(v.VersionType),
					LessThan: text(v.LessThan), LessThanOrEqual: text(v.LessThanOrEqual)}
			}
			vj, err := json.Marshal(versions)
			if err != nil {
				return fmt.Errorf("postgres store: upsert CVEs: encode versions of %s: %w", r.ID, err)
			}
			affected = append(affected, []any{id, i, text(a.Source), text(a.Vendor), text(a.Product), text(a.PackageName),
				text(a.CollectionURL), text(a.DefaultStatus), string(vj), texts(a.CPEs)})
		}
		if v := r.SSVC; v != nil {
			ssvc = append(ssvc, []any{id, text(v.Exploitation), text(v.Automatable), text(v.TechnicalImpact),
				text(v.Role), text(v.Version), ts(v.Timestamp)})
		}
		if k := r.KEV; k != nil {
			kev = append(kev, []any{id, ts(k.DateAdded), text(k.Reference)})
		}
	}
	for _, c := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"cve_descriptions", []string{"cve_id", "ord", "lang", "value"}, descs},
		{"cve_problems", []string{"cve_id", "ord", "cwe_id", "description", "type", "source"}, probs},
		{"cve_metrics", []string{"cve_id", "ord", "source", "format", "version", "vector", "base_score", "reported_score", "severity", "error"}, metrics},
		{"cve_references", []string{"cve_id", "ord", "url", "name", "tags", "source"}, refs},
		{"cve_affected", []string{"cve_id", "ord", "source", "vendor", "product", "package_name", "collection_url", "default_status", "versions", "cpes"}, affected},
		{"cve_ssvc", []string{"cve_id", "exploitation", "automatable", "technical_impact", "role", "version", "timestamp"}, ssvc},
		{"cve_kev_adp", []string{"cve_id", "date_added", "reference"}, kev},
	} {
		if len(c.rows) == 0 {
			continue
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
			return fmt.Errorf("postgres store: upsert CVEs: copy %s: %w", c.table, err)
		}
	}
	return nil
}

// GetCVE returns the record rebuilt from the normalized tables, with its raw
// JSON, KEV catalog entry and EPSS score; see store.CVEStore.
func (s *Store) GetCVE(ctx context.Context, id string) (*store.CVEDetail, error) {
	started := time.Now()
	d, err := s.getCVE(ctx, id)
	store.ObserveOperation(Backend, "get_cve", err, started)
	return d, err
}

func (s *Store) getCVE(ctx context.Context, id string) (*store.CVEDetail, error) {
	b := &pgx.Batch{}
	r := &cve.Record{}
	d := &store.CVEDetail{Record: r}
	var found bool
	b.Queue(`SELECT id, state, data_version, assigner, date_reserved, date_published, date_updated, date_rejected,
		date_updated_raw, title, raw FROM cves WHERE id = $1`, id).QueryRow(func(row pgx.Row) error {
		var res, pub, upd, rej pgtype.Timestamptz
		err := row.Scan(&r.ID, &r.State, &r.DataVersion, &r.AssignerShortName, &res, &pub, &upd, &rej,
			&r.DateUpdatedRaw, &r.Title, &r.Raw)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		found = err == nil
		r.DateReserved, r.DatePublished, r.DateUpdated, r.DateRejected = fromTS(res), fromTS(pub), fromTS(upd), fromTS(rej)
		return err
	})
	b.Queue(`SELECT lang, value FROM cve_descriptions WHERE cve_id = $1 ORDER BY ord`, id).Query(func(rows pgx.Rows) error {
		var x cve.Description
		_, err := pgx.ForEachRow(rows, []any{&x.Lang, &x.Value}, func() error {
			r.Descriptions = append(r.Descriptions, x)
			return nil
		})
		return err
	})
	b.Queue(`SELECT cwe_id, description, type, source FROM cve_problems WHERE cve_id = $1 ORDER BY ord`, id).Query(func(rows pgx.Rows) error {
		var x cve.Problem
		_, err := pgx.ForEachRow(rows, []any{&x.CWEID, &x.Description, &x.Type, &x.Source}, func() error {
			r.Problems = append(r.Problems, x)
			return nil
		})
		return err
	})
	b.Queue(`SELECT source, format, version, vector, base_score, reported_score, severity, error
		FROM cve_metrics WHERE cve_id = $1 ORDER BY ord`, id).Query(func(rows pgx.Rows) error {
		var x cve.Metric
		_, err := pgx.ForEachRow(rows, []any{&x.Source, &x.Format, &x.Version, &x.Vector, &x.BaseScore, &x.ReportedScore, &x.Severity, &x.Error}, func() error {
			r.Metrics = append(r.Metrics, x)
			return nil
		})
		return err
	})
	b.Queue(`SELECT url, name, tags, source FROM cve_references WHERE cve_id = $1 ORDER BY ord`, id).Query(func(rows pgx.Rows) error {
		var x cve.Reference
		_, err := pgx.ForEachRow(rows, []any{&x.URL, &x.Name, &x.Tags, &x.Source}, func() error {
			x.Tags = nilIfEmpty(x.Tags)
			r.References = append(r.References, x)
			x.Tags = nil
			return nil
		})
		return err
	})
	b.Queue(`SELECT source, vendor, product, package_name, collection_url, default_status, versions, cpes
		FROM cve_affected WHERE cve_id = $1 ORDER BY ord`, id).Query(func(rows pgx.Rows) error {
		var x cve.Affected
		var versions []byte
		_, err := pgx.ForEachRow(rows, []any{&x.Source, &x.Vendor, &x.Product, &x.PackageName, &x.CollectionURL, &x.DefaultStatus, &versions, &x.CPEs}, func() error {
			x.Versions = nil
			if err := json.Unmarshal(versions, &x.Versions); err != nil {
				return fmt.Errorf("decode versions of %s: %w", id, err)
			}
			x.Versions, x.CPEs = nilIfEmpty(x.Versions), nilIfEmpty(x.CPEs)
			r.Affected = append(r.Affected, x)
			x.CPEs = nil
			return nil
		})
		return err
	})
	b.Queue(`SELECT exploitation, automatable, technical_impact, role, version, timestamp FROM cve_ssvc WHERE cve_id = $1`, id).QueryRow(func(row pgx.Row) error {
		var x cve.SSVC
		var t pgtype.Timestamptz
		err := row.Scan(&x.Exploitation, &x.Automatable, &x.TechnicalImpact, &x.Role, &x.Version, &t)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		x.Timestamp = fromTS(t)
		r.SSVC = &x
		return err
	})
	b.Queue(`SELECT date_added, reference FROM cve_kev_adp WHERE cve_id = $1`, id).QueryRow(func(row pgx.Row) error {
		var x cve.KEV
		var t pgtype.Timestamptz
		err := row.Scan(&t, &x.Reference)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		x.DateAdded = fromTS(t)
		r.KEV = &x
		return err
	})
	b.Queue(kevSelect+` WHERE cve_id = $1`, id).QueryRow(func(row pgx.Row) error {
		e, err := scanKEV(row)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		d.KEV = e
		return err
	})
	b.Queue(epssSelect+` WHERE cve_id = $1`, id).QueryRow(func(row pgx.Row) error {
		e, err := scanEPSS(row)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		d.EPSS = e
		return err
	})
	// One snapshot for the record, its children and enrichments, so a
	// concurrent replace is never seen half done; the reads go in one round
	// trip.
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("postgres store: get %s: begin: %w", id, err)
	}
	defer rollback(ctx, tx)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("postgres store: get %s: %w", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("postgres store: get %s: commit: %w", id, err)
	}
	if !found {
		return nil, fmt.Errorf("CVE %s: %w", id, store.ErrNotFound)
	}
	return d, nil
}
