package feedtest

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
)

// builderVersion is part of the cache key: bump it when the layout built
// here changes.
const builderVersion = "v3"

// baselineDay is the day of the vulnrichment baseline snapshot (3cadf2e).
var baselineDay = time.Date(2024, 10, 22, 0, 0, 0, 0, time.UTC)

// manifest describes a built feed; it is stored as manifest.json.
type manifest struct {
	Baseline AssetInfo   `json:"baseline"`
	Deltas   []AssetInfo `json:"deltas"`
	// DeltaLog holds one deltaLog.json entry per delta, oldest first.
	DeltaLog []json.RawMessage `json:"deltaLog"`
}

var deltaDir = regexp.MustCompile(`^deltas/(\d{3})_(\d{8}T\d{6}Z)_([0-9a-f]+)/(.*)$`)

// build writes the feed's assets, manifest.json and expected.json into dir.
func build(dataDir, dir string) error {
	assets := filepath.Join(dir, "assets")
	if err := os.MkdirAll(assets, 0o755); err != nil {
		return err
	}
	var m manifest
	var err error
	if m.Baseline, err = buildBaseline(filepath.Join(dataDir, "vulnrichment-baseline.tar.gz"), assets); err != nil {
		return fmt.Errorf("building baseline: %w", err)
	}
	if m.Deltas, m.DeltaLog, err = buildDeltas(filepath.Join(dataDir, "vulnrichment-deltas.tar.gz"), assets); err != nil {
		return fmt.Errorf("building deltas: %w", err)
	}
	if err := writeJSON(filepath.Join(dir, "manifest.json"), m); err != nil {
		return err
	}
	exp, err := loadVersions(filepath.Join(dataDir, "vulnrichment-records.tar.gz"))
	if err != nil {
		return fmt.Errorf("reading expected records: %w", err)
	}
	return writeJSON(filepath.Join(dir, "expected.json"), exp)
}

// forEachJSON calls fn for every regular .json file of a tar.gz.
func forEachJSON(p string, fn func(name string, data []byte) error) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }() // read-only
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if h.Typeflag != tar.TypeReg || !strings.HasSuffix(h.Name, ".json") {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", p, h.Name, err)
		}
		if err := fn(strings.TrimPrefix(h.Name, "./"), data); err != nil {
			return err
		}
	}
}

func newZipWriter(w io.Writer) *zip.Writer {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestSpeed)
	})
	return zw
}

func addFile(zw *zip.Writer, name string, method uint16, data []byte) error {
	w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method, Modified: baselineDay})
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// buildBaseline writes YYYY-MM-DD_all_CVEs_at_midnight.zip.zip as cvelistV5
// publishes it: an outer zip holding cves.zip, which holds the cves/ tree
// (records at cves/YYYY/NNxxx/CVE-*.json plus delta.json and deltaLog.json).
func buildBaseline(src, assets string) (AssetInfo, error) {
	inner, err := os.CreateTemp(assets, "cves-*.zip")
	if err != nil {
		return AssetInfo{}, err
	}
	// inner is scratch space, removed when done: its Close and Remove
	// errors cannot affect the asset (write errors surface on Flush).
	defer func() { _ = os.Remove(inner.Name()) }()
	defer func() { _ = inner.Close() }()
	bw := bufio.NewWriterSize(inner, 1<<20)
	zw := newZipWriter(bw)
	records := 0
	err = forEachJSON(src, func(name string, data []byte) error {
		records++
		return addFile(zw, "cves/"+name, zip.Deflate, data)
	})
	if err != nil {
		return AssetInfo{}, err
	}
	// The repository's cves/ directory also holds these two files; a
	// consumer of the baseline must skip them.
	if err := addFile(zw, "cves/delta.json", zip.Deflate, []byte(`{"fetchTime":"2024-10-22T00:00:00.000Z","numberOfChanges":0,"new":[],"updated":[],"error":[]}`)); err != nil {
		return AssetInfo{}, err
	}
	if err := addFile(zw, "cves/deltaLog.json", zip.Deflate, []byte("[]")); err != nil {
		return AssetInfo{}, err
	}
	if err := zw.Close(); err != nil {
		return AssetInfo{}, err
	}
	if err := bw.Flush(); err != nil {
		return AssetInfo{}, err
	}
	if _, err := inner.Seek(0, io.SeekStart); err != nil {
		return AssetInfo{}, err
	}
	name := baselineDay.Format(time.DateOnly) + "_all_CVEs_at_midnight.zip.zip"
	out, err := os.Create(filepath.Join(assets, name))
	if err != nil {
		return AssetInfo{}, err
	}
	defer func() { _ = out.Close() }() // error paths only; success checks Close below
	ow := zip.NewWriter(out)
	w, err := ow.CreateHeader(&zip.FileHeader{Name: "cves.zip", Method: zip.Store, Modified: baselineDay})
	if err != nil {
		return AssetInfo{}, err
	}
	if _, err := io.Copy(w, inner); err != nil {
		return AssetInfo{}, err
	}
	if err := ow.Close(); err != nil {
		return AssetInfo{}, err
	}
	if err := out.Close(); err != nil {
		return AssetInfo{}, err
	}
	return AssetInfo{
		Name: name, Tag: "cve_" + baselineDay.Format(time.DateOnly) + "_0000Z", Time: baselineDay,
		Records: records, Path: filepath.Join("assets", name), Kind: "baseline",
	}, nil
}

type change struct {
	op, path string // A or M, path like 2024/10xxx/CVE-2024-10280.json
}

type rawDelta struct {
	seq     string
	time    time.Time
	commit  string
	changes []change
	files   map[string][]byte
}

// buildDeltas writes one cumulative delta asset per vulnrichment delta:
// YYYY-MM-DD_delta_CVEs_at_HHMMZ.zip holds, under deltaCves/, the latest
// version of every record changed since midnight UTC of that day, exactly as
// cvelistV5's hourly deltas do.
func buildDeltas(src, assets string) ([]AssetInfo, []json.RawMessage, error) {
	byDir := map[string]*rawDelta{}
	err := forEachJSON(src, func(name string, data []byte) error {
		d, rest, err := deltaFor(byDir, name)
		if err != nil {
			return err
		}
		d.files[rest] = data
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if err := readChanges(src, byDir); err != nil {
		return nil, nil, err
	}
	deltas := make([]*rawDelta, 0, len(byDir))
	for _, d := range byDir {
		deltas = append(deltas, d)
	}
	sort.Slice(deltas, func(i, j int) bool { return deltas[i].seq < deltas[j].seq })

	var infos []AssetInfo
	var log []json.RawMessage
	cumulative := map[string][]byte{} // CVE ID → record, since midnight
	var day time.Time
	for _, d := range deltas {
		if dd := d.time.Truncate(24 * time.Hour); !dd.Equal(day) {
			day, cumulative = dd, map[string][]byte{}
		}
		var added, updated []map[string]string
		for _, c := range d.changes {
			data, ok := d.files[c.path]
			if !ok {
				return nil, nil, fmt.Errorf("delta %s lists %s but does not hold it", d.seq, c.path)
			}
			id := strings.TrimSuffix(path.Base(c.path), ".json")
			cumulative[id] = data
			item := map[string]string{
				"cveId":       id,
				"cveOrgLink":  "https://www.cve.org/CVERecord?id=" + id,
				"githubLink":  "https://raw.githubusercontent.com/CVEProject/cvelistV5/main/cves/" + c.path,
				"dateUpdated": dateUpdated(data),
			}
			if c.op == "A" {
				added = append(added, item)
			} else {
				updated = append(updated, item)
			}
		}
		entry, err := json.Marshal(map[string]any{
			"fetchTime": d.time.Format("2006-01-02T15:04:05.000Z"), "numberOfChanges": len(d.changes),
			"new": nonNil(added), "updated": nonNil(updated), "error": []any{},
		})
		if err != nil {
			return nil, nil, err
		}
		log = append(log, entry)
		hhmm := d.time.Format("1504")
		name := fmt.Sprintf("%s_delta_CVEs_at_%sZ.zip", day.Format(time.DateOnly), hhmm)
		if err := writeDelta(filepath.Join(assets, name), cumulative, d.time); err != nil {
			return nil, nil, err
		}
		infos = append(infos, AssetInfo{
			Name: name, Tag: fmt.Sprintf("cve_%s_%sZ", day.Format(time.DateOnly), hhmm), Time: d.time,
			Records: len(cumulative), Changes: len(d.changes), Commit: d.commit, Path: filepath.Join("assets", name), Kind: "delta",
		})
	}
	return infos, log, nil
}

func nonNil(items []map[string]string) []map[string]string {
	if items == nil {
		return []map[string]string{}
	}
	return items
}

func deltaFor(byDir map[string]*rawDelta, name string) (*rawDelta, string, error) {
	m := deltaDir.FindStringSubmatch(name)
	if m == nil {
		return nil, "", fmt.Errorf("unexpected path %q in the deltas archive", name)
	}
	key := m[1] + "_" + m[2] + "_" + m[3]
	d := byDir[key]
	if d == nil {
		t, err := time.Parse("20060102T150405Z", m[2])
		if err != nil {
			return nil, "", fmt.Errorf("delta %s: bad time: %w", key, err)
		}
		d = &rawDelta{seq: m[1], time: t, commit: m[3], files: map[string][]byte{}}
		byDir[key] = d
	}
	return d, m[4], nil
}

// readChanges reads every delta's changes.tsv.
func readChanges(src string, byDir map[string]*rawDelta) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }() // read-only
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg || path.Base(h.Name) != "changes.tsv" {
			continue
		}
		d, _, err := deltaFor(byDir, h.Name)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(tr)
		for sc.Scan() {
			op, p, ok := strings.Cut(sc.Text(), "\t")
			if !ok || (op != "A" && op != "M") {
				return fmt.Errorf("%s: unexpected line %q (only A and M changes are expected)", h.Name, sc.Text())
			}
			d.changes = append(d.changes, change{op: op, path: p})
		}
		if err := sc.Err(); err != nil {
			return err
		}
	}
	for key, d := range byDir {
		if len(d.changes) == 0 {
			return fmt.Errorf("delta %s has no changes.tsv", key)
		}
	}
	return nil
}

func writeDelta(p string, records map[string][]byte, t time.Time) error {
	ids := make([]string, 0, len(records))
	for id := range records {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }() // error paths only; success checks Close below
	zw := newZipWriter(f)
	for _, id := range ids {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: "deltaCves/" + id + ".json", Method: zip.Deflate, Modified: t})
		if err != nil {
			return err
		}
		if _, err := w.Write(records[id]); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// Version is what the expected final state says about one record.
type Version struct {
	// DateUpdated is cveMetadata.dateUpdated exactly as published.
	DateUpdated string `json:"dateUpdated"`
	// State is cveMetadata.state (PUBLISHED or REJECTED).
	State string `json:"state"`
	// SHA256 is the hex SHA-256 of the record file's bytes.
	SHA256 string `json:"sha256"`
}

func loadVersions(src string) (map[string]Version, error) {
	out := map[string]Version{}
	err := forEachJSON(src, func(name string, data []byte) error {
		var doc struct {
			CVEMetadata struct {
				CVEID       string `json:"cveId"`
				State       string `json:"state"`
				DateUpdated string `json:"dateUpdated"`
			} `json:"cveMetadata"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		id := strings.TrimSuffix(path.Base(name), ".json")
		if doc.CVEMetadata.CVEID != id {
			return fmt.Errorf("%s: cveId %q does not match the file name", name, doc.CVEMetadata.CVEID)
		}
		sum := sha256.Sum256(data)
		out[id] = Version{DateUpdated: doc.CVEMetadata.DateUpdated, State: doc.CVEMetadata.State, SHA256: hex.EncodeToString(sum[:])}
		return nil
	})
	return out, err
}

func dateUpdated(data []byte) string {
	var doc struct {
		CVEMetadata struct {
			DateUpdated string `json:"dateUpdated"`
		} `json:"cveMetadata"`
	}
	_ = json.Unmarshal(data, &doc)
	return doc.CVEMetadata.DateUpdated
}

func writeJSON(p string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

func readJSON(p string, v any) error {
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

var errNoData = errors.New("test data not found")
