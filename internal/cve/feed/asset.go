package feed

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"
)

// AssetKind says what a release asset holds.
type AssetKind int

// Asset kinds.
const (
	// Delta is a cumulative delta: every record changed since midnight UTC
	// of its day, as of its time.
	Delta AssetKind = iota + 1
	// Baseline holds every record as of midnight UTC of its day.
	Baseline
)

// String returns "baseline" or "delta".
func (k AssetKind) String() string {
	switch k {
	case Baseline:
		return "baseline"
	case Delta:
		return "delta"
	default:
		return fmt.Sprintf("AssetKind(%d)", int(k))
	}
}

// Asset is one downloadable file of the feed.
type Asset struct {
	// Name is the file name, e.g. "2024-10-22_delta_CVEs_at_0813Z.zip".
	Name string
	// URL is where to download it (a local path for a directory mirror).
	URL string
	// Size is the size the listing declared, or 0 when unknown.
	Size int64
	// Kind is Baseline or Delta.
	Kind AssetKind
	// Day is the UTC day the asset belongs to (midnight).
	Day time.Time
	// Time is the moment the asset's content is current as of: midnight
	// for a baseline, HH:MM for a delta, the next midnight for an
	// end-of-day delta.
	Time time.Time
	// EndOfDay marks the delta that closes its day.
	EndOfDay bool
}

var (
	baselineName = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2})_all_CVEs_at_midnight\.zip(\.zip)?$`)
	deltaName    = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2})_delta_CVEs_at_(\d{4}Z|end_of_day)\.zip$`)
)

// ParseAssetName recognises the cvelistV5 release asset names:
//
//	YYYY-MM-DD_all_CVEs_at_midnight.zip      baseline (also ".zip.zip": a zip holding cves.zip)
//	YYYY-MM-DD_delta_CVEs_at_HHMMZ.zip       cumulative delta since midnight
//	YYYY-MM-DD_delta_CVEs_at_end_of_day.zip  the day's last cumulative delta
//
// It returns false for any other name.
func ParseAssetName(name string) (Asset, bool) {
	if m := baselineName.FindStringSubmatch(name); m != nil {
		day, err := time.Parse(time.DateOnly, m[1])
		if err != nil {
			return Asset{}, false
		}
		return Asset{Name: name, Kind: Baseline, Day: day, Time: day}, true
	}
	m := deltaName.FindStringSubmatch(name)
	if m == nil {
		return Asset{}, false
	}
	day, err := time.Parse(time.DateOnly, m[1])
	if err != nil {
		return Asset{}, false
	}
	a := Asset{Name: name, Kind: Delta, Day: day}
	if m[2] == "end_of_day" {
		a.Time, a.EndOfDay = day.Add(24*time.Hour), true
		return a, true
	}
	hm, err := time.Parse("1504Z", m[2])
	if err != nil {
		return Asset{}, false
	}
	a.Time = day.Add(time.Duration(hm.Hour())*time.Hour + time.Duration(hm.Minute())*time.Minute)
	return a, true
}

// ErrNoBaseline is returned by a first sync when the feed lists no baseline
// asset to start from.
var ErrNoBaseline = errors.New("feed lists no baseline asset (YYYY-MM-DD_all_CVEs_at_midnight.zip); check the feed URL, or page further with MaxPages")

// sortAssets removes duplicate names (every release of a day lists that
// day's baseline) and orders assets by time, deltas before a baseline of the
// same instant.
func sortAssets(in []Asset) []Asset {
	seen := make(map[string]bool, len(in))
	out := make([]Asset, 0, len(in))
	for _, a := range in {
		if !seen[a.Name] {
			seen[a.Name] = true
			out = append(out, a)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// plan chooses the assets to apply, in order. With no position it starts
// from the newest baseline. With one it applies the deltas past it, unless
// they leave a gap (a day, or the rest of the position's day, with no delta)
// and a newer baseline exists: then it restarts from that baseline. Unless
// everyDelta is set, only the newest delta of each day is kept, since a
// cumulative delta holds everything its day's earlier deltas held.
func plan(assets []Asset, pos *Position, everyDelta bool) ([]Asset, bool, error) {
	assets = sortAssets(assets)
	newestBaseline := -1
	for i, a := range assets {
		if a.Kind == Baseline {
			newestBaseline = i
		}
	}
	var out []Asset
	gap := false
	switch pos {
	case nil:
		if newestBaseline < 0 {
			return nil, false, ErrNoBaseline
		}
		out = append(out, assets[newestBaseline])
		out = append(out, deltasAfter(assets, assets[newestBaseline].Time, "")...)
	default:
		deltas := deltasAfter(assets, pos.AssetTime, pos.Asset)
		gap = hasGap(pos, deltas)
		if gap && newestBaseline >= 0 && assets[newestBaseline].Time.After(pos.AssetTime) {
			b := assets[newestBaseline]
			out = append(out, b)
			out = append(out, deltasAfter(assets, b.Time, "")...)
			gap = false
		} else {
			out = deltas
		}
	}
	if !everyDelta {
		out = newestDeltaPerDay(out)
	}
	return out, gap, nil
}

func deltasAfter(assets []Asset, t time.Time, exclude string) []Asset {
	var out []Asset
	for _, a := range assets {
		if a.Kind == Delta && a.Time.After(t) && a.Name != exclude {
			out = append(out, a)
		}
	}
	return out
}

// hasGap reports whether deltas (sorted, all past pos) miss changes: the
// rest of the position's day has no delta although later days do, or a day
// between has none.
func hasGap(pos *Position, deltas []Asset) bool {
	if len(deltas) == 0 {
		return false
	}
	at, ok := ParseAssetName(pos.Asset)
	if !ok {
		return false
	}
	posDay := at.Day
	if at.EndOfDay {
		posDay = posDay.Add(24 * time.Hour)
	}
	last := deltas[len(deltas)-1].Day
	days := map[time.Time]bool{}
	for _, d := range deltas {
		days[d.Day] = true
	}
	for day := posDay; !day.After(last); day = day.Add(24 * time.Hour) {
		if !days[day] {
			return true
		}
	}
	return false
}

// newestDeltaPerDay drops deltas superseded by a later delta of the same day.
func newestDeltaPerDay(assets []Asset) []Asset {
	out := make([]Asset, 0, len(assets))
	for i, a := range assets {
		if a.Kind == Delta && i+1 < len(assets) && assets[i+1].Kind == Delta && assets[i+1].Day.Equal(a.Day) {
			continue
		}
		out = append(out, a)
	}
	return out
}
