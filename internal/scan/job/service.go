package job

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/scan"
)

// Defaults of Config.
const (
	DefaultWorkers        = 2
	DefaultQueueSize      = 32
	DefaultMaxUploadBytes = 2 << 30
	DefaultScanTimeout    = 15 * time.Minute
	// publishBatch bounds the messages of one Publish call.
	publishBatch = 256
	// maxTargetLen bounds an image reference or upload name.
	maxTargetLen = 512
)

// InventoryFunc lists the packages of a scan target: the image reference
// for KindImage, the path of the spooled upload for the other kinds.
type InventoryFunc func(ctx context.Context, target string, log *slog.Logger) ([]scan.Package, error)

// Matcher matches packages against advisories; *scan.Matcher implements
// it.
type Matcher interface {
	Match(ctx context.Context, pkgs []scan.Package) ([]scan.Finding, error)
}

// Config configures a Service.
type Config struct {
	// Store persists scans and reports. Required.
	Store Store
	// Matcher matches inventories against the vulnerability database.
	// Required.
	Matcher Matcher
	// Enricher, when set, adds CVSS, KEV, EPSS and SSVC to findings.
	Enricher scan.Enricher
	// Publisher receives the findings on Topic. Required.
	Publisher bus.Publisher
	// Inventories maps each kind the service accepts to the function that
	// inventories it; kinds without one are refused with ErrUnsupported.
	// Nil means DefaultInventories with offline image options: uploads
	// only.
	Inventories map[Kind]InventoryFunc
	// Workers is the number of scans run at once (default 2).
	Workers int
	// QueueSize bounds the scans waiting for a worker, uploads being
	// received included (default 32); Submit beyond it fails with
	// ErrQueueFull.
	QueueSize int
	// MaxUploadBytes bounds an uploaded file (default 2 GiB).
	MaxUploadBytes int64
	// ScanTimeout bounds one scan (default 15 minutes).
	ScanTimeout time.Duration
	// SpoolDir holds uploads until their scan ran. A directory given here
	// must belong to this service alone: Recover removes the uploads a
	// crashed process left in it. Empty means the system's temporary
	// directory, which Recover leaves alone.
	SpoolDir string
	// Logger receives scan failures; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// DefaultInventories returns the inventories of the scanner's entry
// points: uploaded `docker save` archives and OCI layout tarballs through
// scan.ImageInventory (always offline: a spooled file needs no network),
// SBOMs through SBOMInventory, and image references through
// scan.ImageInventory with opts, unless opts.Offline is set (the server
// then refuses them with ErrUnsupported).
func DefaultInventories(opts scan.ImageOptions) map[Kind]InventoryFunc {
	offline := opts
	offline.Offline = true
	inv := map[Kind]InventoryFunc{
		KindArchive: ImageInventory(offline),
		KindOCI:     ImageInventory(offline),
		KindSBOM:    SBOMInventory,
	}
	if !opts.Offline {
		inv[KindImage] = ImageInventory(opts)
	}
	return inv
}

// ImageInventory adapts scan.ImageInventory to an InventoryFunc; the
// scan's logger replaces opts.Logger.
func ImageInventory(opts scan.ImageOptions) InventoryFunc {
	return func(ctx context.Context, target string, log *slog.Logger) ([]scan.Package, error) {
		o := opts
		o.Logger = log
		return scan.ImageInventory(ctx, target, o)
	}
}

// Request asks for one scan.
type Request struct {
	// Kind is KindImage for a registry reference, or the kind of the
	// uploaded file.
	Kind Kind
	// Image is the reference to pull (KindImage only).
	Image string
	// Name names an upload (the image name, else the file name); empty
	// means "upload".
	Name string
	// Upload is the uploaded file's content (upload kinds only). Submit
	// reads it to the end, or to the upload limit, before it returns.
	Upload io.Reader
	// RequestedBy is the actor submitting the scan.
	RequestedBy string
}

// task is a queued scan and its spooled upload ("" for images).
type task struct {
	scan  Scan
	spool string
}

// Service accepts, runs and records scans. Create it with New, call
// Recover once, then Run; Submit, Get, List, Findings and Packages may be
// called from any goroutine.
type Service struct {
	cfg Config
	log *slog.Logger
	// ownSpool says SpoolDir was configured, so stale uploads in it are
	// this service's to remove.
	ownSpool bool
	slots    chan struct{} // a token per queued scan, upload in progress included
	tasks    chan task

	mu      sync.Mutex
	stopped bool
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("scan service: a Store is required")
	case cfg.Matcher == nil:
		return nil, errors.New("scan service: a Matcher (the vulnerability database) is required")
	case cfg.Publisher == nil:
		return nil, errors.New("scan service: a bus Publisher is required")
	case cfg.Workers < 0 || cfg.QueueSize < 0 || cfg.MaxUploadBytes < 0 || cfg.ScanTimeout < 0:
		return nil, errors.New("scan service: workers, queue size, upload limit and timeout must not be negative")
	}
	if cfg.Inventories == nil {
		cfg.Inventories = DefaultInventories(scan.ImageOptions{Offline: true})
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.MaxUploadBytes == 0 {
		cfg.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if cfg.ScanTimeout == 0 {
		cfg.ScanTimeout = DefaultScanTimeout
	}
	ownSpool := cfg.SpoolDir != ""
	if !ownSpool {
		cfg.SpoolDir = os.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{
		cfg:      cfg,
		ownSpool: ownSpool,
		log:      cfg.Logger.With("component", "scan-jobs"),
		slots:    make(chan struct{}, cfg.QueueSize),
		tasks:    make(chan task, cfg.QueueSize),
	}, nil
}

// MaxUploadBytes is the upload limit in force.
func (s *Service) MaxUploadBytes() int64 { return s.cfg.MaxUploadBytes }

// Supports reports whether the service accepts scans of kind k.
func (s *Service) Supports(k Kind) bool { return s.cfg.Inventories[k] != nil }

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

// Submit validates req, spools its upload and queues the scan. It returns
// the queued scan, or an error wrapping ErrInvalid, ErrUnsupported,
// ErrQueueFull, ErrTooLarge or ErrStopped; other errors are failures of
// the spool directory or the store.
func (s *Service) Submit(ctx context.Context, req Request) (Scan, error) {
	sc, err := s.validate(req)
	if err != nil {
		rejections.WithLabelValues(rejectReason(err)).Inc()
		return Scan{}, err
	}
	if err := s.reserve(); err != nil {
		return Scan{}, err
	}
	queued := false
	defer func() {
		if !queued {
			<-s.slots
		}
	}()
	t := task{}
	if sc.Kind != KindImage {
		if t.spool, err = s.spool(req.Upload); err != nil {
			rejections.WithLabelValues(rejectReason(err)).Inc()
			return Scan{}, err
		}
	}
	if sc.ID, err = newID(); err != nil {
		removeSpool(s.log, t.spool)
		return Scan{}, err
	}
	sc.CreatedAt = s.now()
	if err := s.cfg.Store.Create(ctx, sc); err != nil {
		removeSpool(s.log, t.spool)
		return Scan{}, fmt.Errorf("record scan of %s: %w", sc.Target, err)
	}
	t.scan = sc
	s.tasks <- t // never blocks: a slot is held for it
	queued = true
	queueDepth.Inc()
	return sc, nil
}

// validate checks req and returns the scan it asks for.
func (s *Service) validate(req Request) (Scan, error) {
	sc := Scan{State: StateQueued, Kind: req.Kind, RequestedBy: req.RequestedBy}
	switch req.Kind {
	case KindImage:
		if req.Upload != nil {
			return Scan{}, fmt.Errorf("%w: an image reference scan takes no uploaded file", ErrInvalid)
		}
		ref, err := ParseImage(req.Image)
		if err != nil {
			return Scan{}, err
		}
		sc.Target = ref
	case KindArchive, KindOCI, KindSBOM:
		if req.Upload == nil {
			return Scan{}, fmt.Errorf("%w: a %s scan needs an uploaded file", ErrInvalid, req.Kind)
		}
		target := strings.TrimSpace(req.Name)
		if target == "" {
			target = "upload"
		}
		if err := checkName(target); err != nil {
			return Scan{}, err
		}
		sc.Target = target
	default:
		return Scan{}, fmt.Errorf("%w: kind %q: want image, archive, oci or sbom", ErrInvalid, req.Kind)
	}
	if !s.Supports(req.Kind) {
		return Scan{}, fmt.Errorf("%w: this server does not scan %s targets", ErrUnsupported, req.Kind)
	}
	return sc, nil
}

// ParseImage checks an image reference ("alpine:3.20",
// "registry.example.com/team/app@sha256:…") and returns its fully
// qualified form, e.g. "index.docker.io/library/alpine:3.20". File paths
// are refused: the server never reads local files on a caller's behalf.
func ParseImage(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("%w: the image reference is empty", ErrInvalid)
	}
	if len(s) > maxTargetLen {
		return "", fmt.Errorf("%w: the image reference is longer than %d bytes", ErrInvalid, maxTargetLen)
	}
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, ".") || strings.HasPrefix(s, "~") || strings.Contains(s, "..") || strings.ContainsRune(s, '\\') {
		return "", fmt.Errorf("%w: image reference %q looks like a file path: upload archives and SBOMs as files instead", ErrInvalid, s)
	}
	ref, err := name.ParseReference(s)
	if err != nil {
		return "", fmt.Errorf("%w: image reference %q: %w", ErrInvalid, s, err)
	}
	return ref.Name(), nil
}

// checkName accepts an upload name: printable UTF-8, at most maxTargetLen
// bytes.
func checkName(n string) error {
	if len(n) > maxTargetLen {
		return fmt.Errorf("%w: the upload name is longer than %d bytes", ErrInvalid, maxTargetLen)
	}
	if !utf8.ValidString(n) {
		return fmt.Errorf("%w: the upload name is not valid UTF-8", ErrInvalid)
	}
	if strings.IndexFunc(n, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return fmt.Errorf("%w: the upload name %q contains control characters", ErrInvalid, n)
	}
	return nil
}

// spool copies an upload into a new file of the spool directory, refusing
// more than MaxUploadBytes, and returns its path.
func (s *Service) spool(r io.Reader) (string, error) {
	f, err := os.CreateTemp(s.cfg.SpoolDir, spoolPattern)
	if err != nil {
		return "", fmt.Errorf("spool the upload in %s: %w", s.cfg.SpoolDir, err)
	}
	n, err := io.Copy(f, io.LimitReader(r, s.cfg.MaxUploadBytes+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		removeSpool(s.log, f.Name())
		return "", fmt.Errorf("receive the upload: %w", err)
	case n > s.cfg.MaxUploadBytes:
		removeSpool(s.log, f.Name())
		return "", fmt.Errorf("%w of %d bytes", ErrTooLarge, s.cfg.MaxUploadBytes)
	case n == 0:
		removeSpool(s.log, f.Name())
		return "", fmt.Errorf("%w: the uploaded file is empty", ErrInvalid)
	}
	return f.Name(), nil
}

func removeSpool(log *slog.Logger, path string) {
	if path == "" {
		return
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warn("scan: cannot remove a spooled upload", "path", path, "err", err)
	}
}

func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate a scan ID: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// reserve takes a queue slot. It holds the mutex so that Run, once it
// set stopped, knows every slot taken before (and so every task that
// will still be queued).
func (s *Service) reserve() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	select {
	case s.slots <- struct{}{}:
		return nil
	default:
		rejections.WithLabelValues("queue_full").Inc()
		return fmt.Errorf("%w (%d scans waiting)", ErrQueueFull, s.cfg.QueueSize)
	}
}

// spoolPattern names spooled uploads.
const spoolPattern = "kubeward-scan-upload-*"

// Recover ends what a previous process left unfinished: scans still
// queued or running are marked failed, the uploads they left in a
// configured SpoolDir are removed, and the findings of done scans that
// were not published are published. Call it once before Submit and Run,
// with one scan service per store.
func (s *Service) Recover(ctx context.Context) error {
	if s.ownSpool {
		stale, err := filepath.Glob(filepath.Join(s.cfg.SpoolDir, spoolPattern))
		if err != nil {
			return fmt.Errorf("scan service: list stale uploads: %w", err)
		}
		for _, p := range stale {
			removeSpool(s.log, p)
		}
	}
	ids, err := s.cfg.Store.FailUnfinished(ctx, s.now(), "interrupted: kubeward stopped before the scan finished; submit it again")
	if err != nil {
		return fmt.Errorf("scan service: fail interrupted scans: %w", err)
	}
	if len(ids) > 0 {
		s.log.WarnContext(ctx, "scans interrupted by a restart were marked failed", "scans", ids)
		jobsTotal.WithLabelValues(string(StateFailed)).Add(float64(len(ids)))
	}
	pending, err := s.cfg.Store.Unpublished(ctx)
	if err != nil {
		return fmt.Errorf("scan service: list unpublished scans: %w", err)
	}
	for _, id := range pending {
		sc, err := s.cfg.Store.Get(ctx, id)
		if err != nil {
			return fmt.Errorf("scan service: republish scan %s: %w", id, err)
		}
		if err := s.publish(ctx, sc); err != nil {
			return fmt.Errorf("scan service: republish scan %s: %w", id, err)
		}
		s.log.InfoContext(ctx, "findings of a scan finished before a restart were published", "scan", id)
	}
	return nil
}

// Run runs the worker pool until ctx ends. Scans still queued then are
// marked failed and their uploads removed; a scan cut short fails with
// the reason. Submit refuses new scans once Run returned.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range s.cfg.Workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case t := <-s.tasks:
					<-s.slots
					queueDepth.Dec()
					s.runTask(ctx, t)
				}
			}
		})
	}
	wg.Wait()
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	// Submit calls that reserved a slot before stopped was set still
	// push their task (after spooling their upload): drain until every
	// slot is free.
	for {
		select {
		case t := <-s.tasks:
			<-s.slots
			queueDepth.Dec()
			s.fail(context.WithoutCancel(ctx), t.scan, errors.New("kubeward stopped before the scan ran; submit it again"))
			removeSpool(s.log, t.spool)
			continue
		default:
		}
		if len(s.slots) == 0 {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runTask runs one scan to its end state.
func (s *Service) runTask(ctx context.Context, t task) {
	sc := t.scan
	log := s.log.With("scan", sc.ID, "kind", sc.Kind, "target", sc.Target)
	store := context.WithoutCancel(ctx) // state changes are written even at shutdown
	sc.StartedAt = s.now()
	if err := s.cfg.Store.Start(store, sc.ID, sc.StartedAt); err != nil {
		removeSpool(s.log, t.spool)
		log.ErrorContext(ctx, "scan could not be started", "err", err)
		return
	}
	sc.State = StateRunning
	scanCtx, cancel := context.WithTimeout(ctx, s.cfg.ScanTimeout)
	res, err := s.scan(scanCtx, sc, t.spool, log)
	cancel()
	removeSpool(s.log, t.spool) // the inventory is taken: the upload is no longer needed
	if err != nil {
		switch {
		case ctx.Err() != nil:
			err = fmt.Errorf("kubeward stopped during the scan; submit it again: %w", err)
		case errors.Is(err, context.DeadlineExceeded):
			err = fmt.Errorf("the scan took longer than %s: %w", s.cfg.ScanTimeout, err)
		}
		s.fail(store, sc, err)
		return
	}
	sc.FinishedAt = s.now()
	if err := s.cfg.Store.Complete(store, sc.ID, sc.FinishedAt, res); err != nil {
		s.fail(store, sc, fmt.Errorf("store the report: %w", err))
		return
	}
	sc.State = StateDone
	jobsTotal.WithLabelValues(string(StateDone)).Inc()
	duration.Observe(sc.FinishedAt.Sub(sc.StartedAt).Seconds())
	log.InfoContext(ctx, "scan done", "packages", len(res.Packages), "findings", len(res.Findings))
	if err := s.publish(store, sc); err != nil {
		// The report is stored; Recover publishes it at the next start.
		publishErrors.Inc()
		log.ErrorContext(ctx, "the scan's findings could not be published; they will be at the next start", "err", err)
	}
}

// scan inventories, matches and enriches one target.
func (s *Service) scan(ctx context.Context, sc Scan, spool string, log *slog.Logger) (Result, error) {
	target := spool
	if sc.Kind == KindImage {
		target = sc.Target
	}
	pkgs, err := s.cfg.Inventories[sc.Kind](ctx, target, log)
	if err != nil {
		if spool != "" {
			// The spool path means nothing to the caller: name the upload.
			return Result{}, errors.New(strings.ReplaceAll(err.Error(), spool, fmt.Sprintf("%s %q", sc.Kind, sc.Target)))
		}
		return Result{}, err
	}
	findings, err := s.cfg.Matcher.Match(ctx, pkgs)
	if err != nil {
		return Result{}, fmt.Errorf("match %d packages: %w", len(pkgs), err)
	}
	if s.cfg.Enricher != nil && len(findings) > 0 {
		if err := s.cfg.Enricher.Enrich(ctx, findings); err != nil {
			return Result{}, fmt.Errorf("enrich %d findings: %w", len(findings), err)
		}
	}
	return Result{Packages: pkgs, Findings: findings}, nil
}

// fail records a scan's failure.
func (s *Service) fail(ctx context.Context, sc Scan, cause error) {
	jobsTotal.WithLabelValues(string(StateFailed)).Inc()
	s.log.WarnContext(ctx, "scan failed", "scan", sc.ID, "kind", sc.Kind, "target", sc.Target, "err", cause)
	if err := s.cfg.Store.Fail(ctx, sc.ID, s.now(), cause.Error()); err != nil {
		s.log.ErrorContext(ctx, "cannot record a scan's failure", "scan", sc.ID, "err", err)
	}
}

// publish sends every stored finding of a done scan on Topic, then marks
// the scan published.
func (s *Service) publish(ctx context.Context, sc Scan) error {
	for offset := 0; ; offset += MaxLimit {
		page, err := s.cfg.Store.Findings(ctx, sc.ID, FindingFilter{Limit: MaxLimit, Offset: offset})
		if err != nil {
			return fmt.Errorf("read findings of scan %s: %w", sc.ID, err)
		}
		msgs, err := Messages(sc, page.Items)
		if err != nil {
			return err
		}
		for len(msgs) > 0 {
			n := min(len(msgs), publishBatch)
			if err := s.cfg.Publisher.Publish(ctx, msgs[:n]...); err != nil {
				return fmt.Errorf("publish findings of scan %s on %s: %w", sc.ID, Topic, err)
			}
			published.Add(float64(n))
			msgs = msgs[n:]
		}
		if offset+len(page.Items) >= page.Total || len(page.Items) == 0 {
			break
		}
	}
	if err := s.cfg.Store.MarkPublished(ctx, sc.ID); err != nil {
		return fmt.Errorf("mark scan %s published: %w", sc.ID, err)
	}
	return nil
}

// Get returns one scan, or an error wrapping ErrNotFound.
func (s *Service) Get(ctx context.Context, id string) (Scan, error) {
	return s.cfg.Store.Get(ctx, id)
}

// List returns the scans f selects, newest first.
func (s *Service) List(ctx context.Context, f ScanFilter) (Page[Scan], error) {
	f, err := f.Normalize()
	if err != nil {
		return Page[Scan]{}, err
	}
	return s.cfg.Store.List(ctx, f)
}

// Findings returns a page of a scan's findings, most severe first.
func (s *Service) Findings(ctx context.Context, id string, f FindingFilter) (Page[scan.Finding], error) {
	f, err := f.Normalize()
	if err != nil {
		return Page[scan.Finding]{}, err
	}
	return s.cfg.Store.Findings(ctx, id, f)
}

// Packages returns a page of a scan's packages in report order.
func (s *Service) Packages(ctx context.Context, id string, limit, offset int) (Page[scan.Package], error) {
	limit, offset, err := normalizePage(limit, offset)
	if err != nil {
		return Page[scan.Package]{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return s.cfg.Store.Packages(ctx, id, limit, offset)
}

// LatestDone returns, for each of targets, the done scan of that target
// that finished last, keyed by target; see Store.LatestDone. Image
// targets are stored in ParseImage's fully qualified form.
func (s *Service) LatestDone(ctx context.Context, targets []string) (map[string]Scan, error) {
	return s.cfg.Store.LatestDone(ctx, targets)
}
