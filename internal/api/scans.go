package api

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"

	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/scan"
	"github.com/kubeward/kubeward/internal/scan/job"
)

// ScanDeps are the services the scan routes use. With a nil Service every
// scan route answers 503 (scanning is not enabled on the server).
type ScanDeps struct {
	Service *job.Service
	Logger  *slog.Logger
}

// ScanRequestBody is the JSON body of POST /api/v1/scans for an image
// reference.
type ScanRequestBody struct {
	// Image is the reference to pull and scan, e.g. "alpine:3.20".
	Image string `json:"image"`
}

// Multipart form fields of POST /api/v1/scans for an upload. The text
// fields must come before the file part.
const (
	// ScanFieldKind is archive, oci or sbom.
	ScanFieldKind = "kind"
	// ScanFieldName optionally names the upload (the image name); the
	// file name is used otherwise.
	ScanFieldName = "name"
	// ScanFieldFile is the file part, read as a stream.
	ScanFieldFile = "file"
)

// maxScanField bounds a multipart text field.
const maxScanField = 1024

// multipartSlack allows for the multipart framing and text fields of an
// upload on top of the file's own size limit.
const multipartSlack = 64 << 10

// errBadUpload marks a failure to read the request body: the client's
// fault, answered 400 (or 413 past the size limit).
var errBadUpload = errors.New("the request body could not be read")

var scanQueryParams = []Param{
	{Name: "state", Type: "string", Description: "queued, running, done or failed"},
	{Name: "target", Type: "string", Description: "the scanned image reference or upload name, exactly"},
	limitParam, offsetParam,
}

var findingQueryParams = []Param{
	{Name: "severity", Type: "string", Description: "least severity kept: none, low, medium, high or critical (unknown: all)"},
	limitParam, offsetParam,
}

func init() {
	schemas["ScanRequest"] = obj([]string{"image"}, map[string]any{
		"image": str("image reference to pull, e.g. alpine:3.20 (uploads use multipart/form-data instead: fields kind=archive|oci|sbom, optional name, then the file part)"),
	})
	schemas["Scan"] = map[string]any{"type": "object", "description": "a scan: id, state (queued, running, done, failed), kind (image, archive, oci, sbom), target, requested_by, created_at, started_at, finished_at, error, summary {packages, findings, by_severity}, published"}
	schemas["ScanList"] = listOf("Scan")
	schemas["ScanFinding"] = map[string]any{"type": "object", "description": "a finding: package {name, version, ecosystem, origin, location, layer, purl}, advisory_id, aliases, summary, fixed_versions, severity {level, score, source, vector}, enrichment"}
	schemas["ScanFindingList"] = listOf("ScanFinding")
	schemas["ScanPackage"] = map[string]any{"type": "object", "description": "a package: name, version, ecosystem, origin, location, layer, purl"}
	schemas["ScanPackageList"] = listOf("ScanPackage")
}

type scanHandler struct {
	ScanDeps
}

// ScanRoutes returns the scan routes for Server.ExtraRoutes: operators
// submit scans, viewers read them.
//
//	POST /api/v1/scans                 queue a scan (202 + Location)
//	GET  /api/v1/scans                 list scans, newest first
//	GET  /api/v1/scans/{id}            one scan and its summary
//	GET  /api/v1/scans/{id}/findings   its findings, most severe first
//	GET  /api/v1/scans/{id}/packages   its packages
//
// An upload is streamed to the scan service's spool, never held in
// memory; the route lifts the body limit to the service's upload limit.
// Server.Handler must not impose a smaller one on this route.
func ScanRoutes(d ScanDeps) []Route {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	h := &scanHandler{ScanDeps: d}
	return []Route{
		{Method: "POST", Path: "/api/v1/scans", Role: auth.RoleOperator, Handler: h.submit, Status: http.StatusAccepted, MaxBodyBytes: h.uploadLimit(),
			Summary:  "Queue a vulnerability scan: JSON {\"image\": REF}, or multipart/form-data with kind=archive|oci|sbom, optional name, then the file",
			Request:  "ScanRequest",
			Response: "Scan"},
		{Method: "GET", Path: "/api/v1/scans", Role: auth.RoleViewer, Handler: h.list,
			Summary: "List scans, newest first", Query: scanQueryParams, Response: "ScanList"},
		{Method: "GET", Path: "/api/v1/scans/{id}", Role: auth.RoleViewer, Handler: h.get,
			Summary: "One scan: state, target, timestamps, error and the counts of its report", Response: "Scan"},
		{Method: "GET", Path: "/api/v1/scans/{id}/findings", Role: auth.RoleViewer, Handler: h.findings,
			Summary: "A scan's findings, most severe first", Query: findingQueryParams, Response: "ScanFindingList"},
		{Method: "GET", Path: "/api/v1/scans/{id}/packages", Role: auth.RoleViewer, Handler: h.packages,
			Summary: "A scan's packages, in inventory order", Query: []Param{limitParam, offsetParam}, Response: "ScanPackageList"},
	}
}

// available answers 503 when scanning is not enabled.
func (h *scanHandler) available(w http.ResponseWriter, r *http.Request) bool {
	if h.Service == nil {
		writeProblem(w, r, http.StatusServiceUnavailable, "vulnerability scanning is not enabled on this server (start it with a vulnerability database: kubeward serve --vulndb FILE)")
		return false
	}
	return true
}

// DecodeScanRequest reads the body of POST /api/v1/scans. An
// application/json body is {"image": REF}. A multipart/form-data body has
// the text fields kind (archive, oci or sbom) and optionally name, then
// the file part, which is returned unread as Request.Upload: the caller
// streams it. RequestedBy is left empty.
func DecodeScanRequest(contentType string, body io.Reader) (job.Request, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return job.Request{}, fmt.Errorf("Content-Type %q: send application/json with an image reference, or multipart/form-data with an upload", contentType)
	}
	switch mt {
	case "application/json":
		var b ScanRequestBody
		if err := decodeJSON(body, &b); err != nil {
			return job.Request{}, err
		}
		if strings.TrimSpace(b.Image) == "" {
			return job.Request{}, errors.New(`"image" is required: the reference to scan, e.g. alpine:3.20 (upload archives and SBOMs as multipart/form-data)`)
		}
		return job.Request{Kind: job.KindImage, Image: b.Image}, nil
	case "multipart/form-data":
		boundary := params["boundary"]
		if boundary == "" {
			return job.Request{}, errors.New("multipart/form-data without a boundary parameter")
		}
		return decodeUpload(multipart.NewReader(body, boundary))
	}
	return job.Request{}, fmt.Errorf("Content-Type %s: send application/json with an image reference, or multipart/form-data with an upload", mt)
}

// decodeUpload reads the text fields of an upload form up to its file
// part.
func decodeUpload(mr *multipart.Reader) (job.Request, error) {
	var req job.Request
	seen := map[string]bool{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return job.Request{}, fmt.Errorf("the form has no %q part: add the file to scan", ScanFieldFile)
		}
		if err != nil {
			return job.Request{}, fmt.Errorf("malformed multipart body: %w", err)
		}
		field := part.FormName()
		if seen[field] {
			return job.Request{}, fmt.Errorf("form field %q is given twice", field)
		}
		seen[field] = true
		switch field {
		case ScanFieldKind, ScanFieldName:
			b, err := io.ReadAll(io.LimitReader(part, maxScanField+1))
			if err != nil {
				return job.Request{}, fmt.Errorf("form field %q: %w", field, err)
			}
			if len(b) > maxScanField {
				return job.Request{}, fmt.Errorf("form field %q is longer than %d bytes", field, maxScanField)
			}
			if field == ScanFieldName {
				req.Name = string(b)
				continue
			}
			if req.Kind, err = job.ParseKind(strings.TrimSpace(string(b))); err != nil {
				return job.Request{}, fmt.Errorf("form field %q: %w", field, err)
			}
		case ScanFieldFile:
			if req.Kind == "" {
				return job.Request{}, fmt.Errorf("form field %q must come before the file: archive, oci or sbom", ScanFieldKind)
			}
			if req.Name == "" {
				req.Name = part.FileName()
			}
			req.Upload = part
			return req, nil
		default:
			return job.Request{}, fmt.Errorf("unknown form field %q: the fields are %s, %s and %s", field, ScanFieldKind, ScanFieldName, ScanFieldFile)
		}
	}
}

// uploadReader tags errors reading the request body with errBadUpload.
type uploadReader struct{ r io.Reader }

func (u uploadReader) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("%w: %w", errBadUpload, err)
	}
	return n, err
}

// uploadLimit is the POST route's body limit: the service's upload limit
// plus the multipart framing, or the API default without a service.
func (h *scanHandler) uploadLimit() int64 {
	if h.Service == nil {
		return MaxBodyBytes
	}
	return h.Service.MaxUploadBytes() + multipartSlack
}

func (h *scanHandler) submit(w http.ResponseWriter, r *http.Request) {
	if !h.available(w, r) {
		return
	}
	// Only uploads get the upload limit; a JSON body keeps the API's.
	limit := int64(MaxBodyBytes)
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		limit = h.Service.MaxUploadBytes() + multipartSlack
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	req, err := DecodeScanRequest(r.Header.Get("Content-Type"), r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeProblem(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", tooBig.Limit))
			return
		}
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if req.Upload != nil {
		req.Upload = uploadReader{req.Upload}
	}
	if p, ok := PrincipalFrom(r.Context()); ok {
		req.RequestedBy = p.Actor()
	}
	sc, err := h.Service.Submit(r.Context(), req)
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
	case errors.As(err, &tooBig), errors.Is(err, job.ErrTooLarge):
		writeProblem(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the upload exceeds this server's limit of %d bytes", h.Service.MaxUploadBytes()))
		return
	case errors.Is(err, job.ErrInvalid), errors.Is(err, job.ErrUnsupported), errors.Is(err, errBadUpload):
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return
	case errors.Is(err, job.ErrQueueFull):
		w.Header().Set("Retry-After", "30")
		writeProblem(w, r, http.StatusTooManyRequests, err.Error())
		return
	case errors.Is(err, job.ErrStopped):
		writeProblem(w, r, http.StatusServiceUnavailable, err.Error())
		return
	default:
		h.internalError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/scans/"+url.PathEscape(sc.ID))
	writeJSON(w, http.StatusAccepted, sc)
}

func (h *scanHandler) internalError(w http.ResponseWriter, r *http.Request, err error) {
	h.Logger.Error("API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeProblem(w, r, http.StatusInternalServerError, "the server could not complete the request; see its log")
}

// readError answers a failed read: 404 for an unknown scan, 400 for a bad
// filter, 500 otherwise.
func (h *scanHandler) readError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, job.ErrNotFound):
		writeProblem(w, r, http.StatusNotFound, "no scan has ID "+r.PathValue("id"))
	case errors.Is(err, job.ErrInvalid):
		writeProblem(w, r, http.StatusBadRequest, err.Error())
	default:
		h.internalError(w, r, err)
	}
}

func (h *scanHandler) list(w http.ResponseWriter, r *http.Request) {
	if !h.available(w, r) {
		return
	}
	limit, offset, ok := pageParams(w, r)
	if !ok {
		return
	}
	f := job.ScanFilter{Target: r.URL.Query().Get("target"), Limit: limit, Offset: offset}
	if s := r.URL.Query().Get("state"); s != "" {
		st, err := job.ParseState(s)
		if err != nil {
			writeProblem(w, r, http.StatusBadRequest, err.Error())
			return
		}
		f.State = st
	}
	page, err := h.Service.List(r.Context(), f)
	if err != nil {
		h.readError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, List[job.Scan]{Items: page.Items, Total: page.Total, Limit: f.Limit, Offset: f.Offset})
}

func (h *scanHandler) get(w http.ResponseWriter, r *http.Request) {
	if !h.available(w, r) {
		return
	}
	sc, err := h.Service.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.readError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sc)
}

func (h *scanHandler) findings(w http.ResponseWriter, r *http.Request) {
	if !h.available(w, r) {
		return
	}
	limit, offset, ok := pageParams(w, r)
	if !ok {
		return
	}
	f := job.FindingFilter{Limit: limit, Offset: offset}
	if s := r.URL.Query().Get("severity"); s != "" {
		lvl, err := scan.ParseLevel(s)
		if err != nil {
			writeProblem(w, r, http.StatusBadRequest, "severity: "+err.Error())
			return
		}
		f.MinSeverity = lvl
	}
	page, err := h.Service.Findings(r.Context(), r.PathValue("id"), f)
	if err != nil {
		h.readError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, List[scan.Finding]{Items: page.Items, Total: page.Total, Limit: f.Limit, Offset: f.Offset})
}

func (h *scanHandler) packages(w http.ResponseWriter, r *http.Request) {
	if !h.available(w, r) {
		return
	}
	limit, offset, ok := pageParams(w, r)
	if !ok {
		return
	}
	page, err := h.Service.Packages(r.Context(), r.PathValue("id"), limit, offset)
	if err != nil {
		h.readError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, List[scan.Package]{Items: page.Items, Total: page.Total, Limit: limit, Offset: offset})
}
