package feed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sethvargo/go-retry"
)

// source lists and fetches the feed's assets.
type source interface {
	// list returns the assets the feed offers. It may stop paging once it
	// has every asset past pos (or, with no position, a baseline).
	list(ctx context.Context, pos *Position) ([]Asset, error)
	// fetch makes the asset available as a local file and returns its path
	// and a function that removes any temporary copy.
	fetch(ctx context.Context, a Asset) (string, func(), error)
}

// dirSource serves a local directory holding asset files, for air-gapped
// mirrors: copy the release assets into one directory and point BaseURL at
// it.
type dirSource struct{ dir string }

func (d dirSource) list(ctx context.Context, _ *Position) ([]Asset, error) {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return nil, fmt.Errorf("cve feed: cannot list mirror directory %s: %w", d.dir, err)
	}
	var out []Asset
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		a, ok := ParseAssetName(e.Name())
		if !ok {
			continue
		}
		a.URL = filepath.Join(d.dir, e.Name())
		if fi, err := e.Info(); err == nil {
			a.Size = fi.Size()
		}
		out = append(out, a)
	}
	return out, nil
}

func (d dirSource) fetch(_ context.Context, a Asset) (string, func(), error) {
	return a.URL, func() {}, nil
}

// githubSource follows a GitHub Releases API endpoint.
type githubSource struct {
	base   *url.URL
	cfg    Config
	client *http.Client
	log    *slog.Logger

	mu    sync.Mutex
	etags map[string]cachedPage // release list pages by URL
}

type cachedPage struct {
	etag string
	body []byte
}

// release is the part of a GitHub release the feed reads.
type release struct {
	TagName     string    `json:"tag_name"`
	Name        string    `json:"name"`
	Draft       bool      `json:"draft"`
	PublishedAt time.Time `json:"published_at"`
	CreatedAt   time.Time `json:"created_at"`
	Assets      []struct {
		Name               string `json:"name"`
		BrowserDownloadURL string `json:"browser_download_url"`
		Size               int64  `json:"size"`
	} `json:"assets"`
}

func newGitHubSource(base *url.URL, cfg Config, log *slog.Logger) *githubSource {
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   4,
		}}
	}
	return &githubSource{base: base, cfg: cfg, client: client, log: log, etags: map[string]cachedPage{}}
}

func (g *githubSource) list(ctx context.Context, pos *Position) ([]Asset, error) {
	var out []Asset
	// Releases come newest first. Paging stops at the first delta at or
	// before the cutoff: the position, or on a first run the newest
	// baseline's time (the midnight release also lists the previous day's
	// end-of-day delta), so every delta past the cutoff has been listed.
	var cutoff time.Time
	haveCutoff := pos != nil
	if pos != nil {
		cutoff = pos.AssetTime
	}
	for page := 1; page <= g.cfg.MaxPages; page++ {
		u := *g.base
		u.Path = strings.TrimSuffix(u.Path, "/") + "/releases"
		u.RawQuery = url.Values{"per_page": {strconv.Itoa(g.cfg.PerPage)}, "page": {strconv.Itoa(page)}}.Encode()
		body, err := g.getPage(ctx, u.String())
		if err != nil {
			return nil, err
		}
		var releases []release
		if err := json.Unmarshal(body, &releases); err != nil {
			return nil, fmt.Errorf("cve feed: %s did not return a GitHub releases list: %w", u.Redacted(), err)
		}
		done := len(releases) < g.cfg.PerPage
		for _, r := range releases {
			if r.Draft {
				continue
			}
			for _, ra := range r.Assets {
				a, ok := ParseAssetName(ra.Name)
				if !ok {
					continue
				}
				a.URL, a.Size = ra.BrowserDownloadURL, ra.Size
				out = append(out, a)
				if !haveCutoff && a.Kind == Baseline {
					cutoff, haveCutoff = a.Time, true
				}
				if haveCutoff && a.Kind == Delta && !a.Time.After(cutoff) {
					done = true
				}
			}
		}
		if done {
			return out, nil
		}
	}
	g.log.Warn("cve feed: release listing truncated at MaxPages", "max_pages", g.cfg.MaxPages)
	return out, nil
}

// getPage GETs a small API document with retries, a body limit and ETag
// revalidation.
func (g *githubSource) getPage(ctx context.Context, u string) ([]byte, error) {
	g.mu.Lock()
	cached, haveCached := g.etags[u]
	g.mu.Unlock()
	var body []byte
	err := g.retry(ctx, "list", func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, g.cfg.RequestTimeout)
		defer cancel()
		req, err := g.newRequest(ctx, u, true)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "application/vnd.github+json")
		req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
		if haveCached {
			req.Header.Set("If-None-Match", cached.etag)
		}
		resp, err := g.client.Do(req)
		if err != nil {
			return retry.RetryableError(fmt.Errorf("cve feed: GET %s: %w", redact(u), err))
		}
		defer func() { _ = resp.Body.Close() }() // read-only
		if resp.StatusCode == http.StatusNotModified && haveCached {
			body = cached.body
			return nil
		}
		if err := statusError(resp, u); err != nil {
			return err
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, g.cfg.MaxListBytes+1))
		if err != nil {
			return retry.RetryableError(fmt.Errorf("cve feed: reading %s: %w", redact(u), err))
		}
		if int64(len(b)) > g.cfg.MaxListBytes {
			return fmt.Errorf("cve feed: %s returned more than %d bytes; raise MaxListBytes if the feed is right", redact(u), g.cfg.MaxListBytes)
		}
		body = b
		if etag := resp.Header.Get("ETag"); etag != "" {
			g.mu.Lock()
			g.etags[u] = cachedPage{etag: etag, body: b}
			g.mu.Unlock()
		}
		return nil
	})
	return body, err
}

func (g *githubSource) fetch(ctx context.Context, a Asset) (string, func(), error) {
	if a.Size > g.cfg.MaxAssetBytes {
		return "", nil, fmt.Errorf("cve feed: asset %s is %d bytes, above MaxAssetBytes %d", a.Name, a.Size, g.cfg.MaxAssetBytes)
	}
	tmp, err := os.CreateTemp(g.cfg.TempDir, "kubeward-cve-asset-*.zip")
	if err != nil {
		return "", nil, fmt.Errorf("cve feed: cannot create a temporary file for %s (set TempDir to a writable directory): %w", a.Name, err)
	}
	cleanup := func() {
		// A scratch download: only a leftover temp file is at stake.
		_ = tmp.Close()
		if err := os.Remove(tmp.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			g.log.Warn("cve feed: remove temporary download", "path", tmp.Name(), "err", err)
		}
	}
	err = g.retry(ctx, "download", func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, g.cfg.DownloadTimeout)
		defer cancel()
		if err := tmp.Truncate(0); err != nil {
			return err
		}
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return err
		}
		req, err := g.newRequest(ctx, a.URL, g.sameHost(a.URL))
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "application/octet-stream")
		resp, err := g.client.Do(req)
		if err != nil {
			return retry.RetryableError(fmt.Errorf("cve feed: downloading %s: %w", a.Name, err))
		}
		defer func() { _ = resp.Body.Close() }() // read-only
		if err := statusError(resp, a.URL); err != nil {
			return err
		}
		n, err := io.Copy(tmp, io.LimitReader(resp.Body, g.cfg.MaxAssetBytes+1))
		if err != nil {
			return retry.RetryableError(fmt.Errorf("cve feed: downloading %s: %w", a.Name, err))
		}
		if n > g.cfg.MaxAssetBytes {
			return fmt.Errorf("cve feed: asset %s is larger than MaxAssetBytes %d", a.Name, g.cfg.MaxAssetBytes)
		}
		if a.Size > 0 && n != a.Size {
			return retry.RetryableError(fmt.Errorf("cve feed: asset %s: got %d bytes, the listing said %d", a.Name, n, a.Size))
		}
		return nil
	})
	if err != nil {
		cleanup()
		return "", nil, err
	}
	return tmp.Name(), cleanup, nil
}

func (g *githubSource) newRequest(ctx context.Context, u string, auth bool) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("cve feed: bad URL %s: %w", redact(u), err)
	}
	req.Header.Set("User-Agent", g.cfg.UserAgent)
	if auth && g.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+g.cfg.Token)
	}
	return req, nil
}

// sameHost reports whether u is on the API host; the token is only sent
// there, never to download hosts.
func (g *githubSource) sameHost(u string) bool {
	p, err := url.Parse(u)
	return err == nil && p.Host == g.base.Host
}

// retry runs f with exponential backoff; errors wrapped with
// retry.RetryableError are retried up to cfg.Retries times.
func (g *githubSource) retry(ctx context.Context, stage string, f retry.RetryFunc) error {
	b := retry.WithMaxRetries(uint64(g.cfg.Retries), retry.WithCappedDuration(g.cfg.MaxBackoff, retry.WithJitterPercent(10, retry.NewExponential(g.cfg.Backoff))))
	attempt := 0
	return retry.Do(ctx, b, func(ctx context.Context) error {
		attempt++
		err := f(ctx)
		if err != nil {
			g.log.Debug("cve feed: request failed", "stage", stage, "attempt", attempt, "err", err)
		}
		return err
	})
}

// statusError maps an HTTP status to nil, a retryable error (429, 5xx) or
// a permanent one.
func statusError(resp *http.Response, u string) error {
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return retry.RetryableError(fmt.Errorf("cve feed: GET %s: %s", redact(u), resp.Status))
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("cve feed: GET %s: %s (check the token, or the API rate limit)", redact(u), resp.Status)
	default:
		return fmt.Errorf("cve feed: GET %s: %s", redact(u), resp.Status)
	}
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "<invalid URL>"
	}
	return p.Redacted()
}
