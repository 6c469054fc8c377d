// Package httpingest provides the HTTP adapters of the detection engine:
// the Kubernetes audit webhook backend (the apiserver POSTs
// audit.k8s.io/v1 EventLists) and a receiver for Falco's http_output
// alerts. Both decode, evaluate and publish through a Processor and answer
// with a small JSON summary.
package httpingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sync"

	"github.com/kubeward/kubeward/internal/detect"
	"github.com/kubeward/kubeward/internal/detect/event"
	"github.com/kubeward/kubeward/internal/detect/falcoalert"
	"github.com/kubeward/kubeward/internal/detect/k8saudit"
)

// Processor evaluates events and publishes their detections;
// *detect.Pipeline implements it.
type Processor interface {
	Process(ctx context.Context, events []*event.Event) ([]detect.Detection, error)
}

// MaxAlertSize bounds one Falco alert request body.
const MaxAlertSize = 1 << 20

// Summary is the JSON body of a successful response.
type Summary struct {
	Events     int      `json:"events"`
	Detections int      `json:"detections"`
	Rejected   int      `json:"rejected"`
	Errors     []string `json:"errors,omitempty"`
}

var decoders = sync.Pool{New: func() any { return new(event.Decoder) }}

type handler struct {
	proc   Processor
	logger *slog.Logger
	limit  int64
	what   string
	decode func(d *event.Decoder, body []byte) ([]*event.Event, []error, error)
	tooBig string
}

// NewAuditWebhook returns the handler for the apiserver's audit webhook
// backend (--audit-webhook-config-file pointing at it). It accepts an
// EventList, a single Event or a JSON array of events, up to
// k8saudit.MaxBatchSize per request and k8saudit.MaxEventSize per event.
func NewAuditWebhook(p Processor, logger *slog.Logger) http.Handler {
	return &handler{
		proc: p, logger: logger, limit: k8saudit.MaxBatchSize, what: "audit events",
		tooBig: fmt.Sprintf("request body larger than %d bytes: lower the apiserver's --audit-webhook-batch-max-size", k8saudit.MaxBatchSize),
		decode: func(d *event.Decoder, body []byte) ([]*event.Event, []error, error) {
			events, rejected, err := k8saudit.Decode(d, body)
			var errs []error
			for _, r := range rejected {
				reason := detect.ReasonNotAnEvent
				if errors.Is(r.Err, k8saudit.ErrEventTooLarge) {
					reason = detect.ReasonTooLarge
				}
				detect.CountMalformed(reason)
				errs = append(errs, r)
			}
			return events, errs, err
		},
	}
}

// NewFalcoReceiver returns the handler for Falco's http_output (and
// falcosidekick's webhook output): one alert, or a JSON array of alerts,
// per request, up to MaxAlertSize bytes.
func NewFalcoReceiver(p Processor, logger *slog.Logger) http.Handler {
	return &handler{
		proc: p, logger: logger, limit: MaxAlertSize, what: "Falco alerts",
		tooBig: fmt.Sprintf("request body larger than %d bytes: send one alert per request", MaxAlertSize),
		decode: func(d *event.Decoder, body []byte) ([]*event.Event, []error, error) {
			events, errs := detect.Decode(d, body, falcoalert.SourceName)
			return events, errs, nil
		},
	}
}

func (h *handler) fail(w http.ResponseWriter, code int, msg string) {
	h.logger.Warn("rejected request", "what", h.what, "status", code, "error", msg)
	http.Error(w, msg, code)
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed: POST "+h.what+" as JSON")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			detect.CountMalformed(detect.ReasonWrongMediaType)
			h.fail(w, http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q not supported: send application/json", ct))
			return
		}
	}
	if r.ContentLength > h.limit {
		detect.CountMalformed(detect.ReasonBatchTooLarge)
		h.fail(w, http.StatusRequestEntityTooLarge, h.tooBig)
		return
	}
	body, err := readBody(w, r, h.limit)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			detect.CountMalformed(detect.ReasonBatchTooLarge)
			h.fail(w, http.StatusRequestEntityTooLarge, h.tooBig)
			return
		}
		h.fail(w, http.StatusBadRequest, "reading request body: "+err.Error())
		return
	}
	d := decoders.Get().(*event.Decoder)
	defer decoders.Put(d)
	events, rejected, err := h.decode(d, body)
	if err != nil {
		detect.CountMalformed(detect.ReasonInvalidJSON)
		h.fail(w, http.StatusBadRequest, "invalid "+h.what+": "+err.Error())
		return
	}
	if len(events) == 0 && len(rejected) > 0 {
		code := http.StatusBadRequest
		if errors.Is(rejected[0], k8saudit.ErrEventTooLarge) {
			code = http.StatusRequestEntityTooLarge
		}
		h.fail(w, code, fmt.Sprintf("no usable %s in the request: %v", h.what, errors.Join(rejected...)))
		return
	}
	dets, err := h.proc.Process(r.Context(), events)
	if err != nil {
		h.fail(w, http.StatusServiceUnavailable, "detections could not be published, retry later: "+err.Error())
		return
	}
	sum := Summary{Events: len(events), Detections: len(dets), Rejected: len(rejected)}
	for _, e := range rejected {
		h.logger.Warn("event rejected", "what", h.what, "error", e)
		sum.Errors = append(sum.Errors, e.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(sum)
}

// readBody reads the request body up to limit bytes, in one allocation
// when the client announced its length.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, limit)
	if r.ContentLength <= 0 {
		return io.ReadAll(body)
	}
	buf := bytes.NewBuffer(make([]byte, 0, r.ContentLength+1))
	_, err := buf.ReadFrom(body)
	return buf.Bytes(), err
}
