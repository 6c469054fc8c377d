package crowdsec

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// wireDecision is a decision as CrowdSec's Local API serialises it
// (pkg/models.Decision: fields in that order, duration the remaining time as
// a Go duration string, simulated only when true).
type wireDecision struct {
	Duration  string `json:"duration"`
	ID        int64  `json:"id,omitempty"`
	Origin    string `json:"origin"`
	Scenario  string `json:"scenario"`
	Scope     string `json:"scope"`
	Simulated bool   `json:"simulated,omitempty"`
	Type      string `json:"type"`
	UUID      string `json:"uuid,omitempty"`
	Value     string `json:"value"`
}

func toWire(d *Decision, now time.Time) wireDecision {
	return wireDecision{
		Duration:  d.Until.Sub(now).String(),
		ID:        d.ID,
		Origin:    d.Origin,
		Scenario:  d.Scenario,
		Scope:     d.Scope,
		Simulated: d.Simulated,
		Type:      d.Type,
		UUID:      d.UUID,
		Value:     d.Value,
	}
}

// deletedOverlap widens the window of ended decisions a delta poll reports
// backwards from the previous poll, as CrowdSec does (2 s), so a decision
// deleted at the very instant of a poll is never missed; reporting a
// deletion twice is harmless to bouncers.
const deletedOverlap = 2 * time.Second

// Options configure the Local API handler.
type Options struct {
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Logger receives request errors (slog.Default when nil).
	Logger *slog.Logger
}

// Handler serves the bouncer part of CrowdSec's Local API.
type Handler struct {
	store    Store
	bouncers BouncerStore
	now      func() time.Time
	log      *slog.Logger
	mux      *http.ServeMux
}

// NewHandler returns the Local API handler: GET and HEAD on /v1/decisions
// and /v1/decisions/stream, authenticated by the X-Api-Key header.
func NewHandler(store Store, bouncers BouncerStore, opts Options) *Handler {
	h := &Handler{store: store, bouncers: bouncers, now: opts.Now, log: opts.Logger, mux: http.NewServeMux()}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.mux.HandleFunc("GET /v1/decisions", h.authenticated("decisions", h.decisions))
	h.mux.HandleFunc("GET /v1/decisions/stream", h.authenticated("stream", h.stream))
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

type bouncerHandler func(w http.ResponseWriter, r *http.Request, b Bouncer) int

func (h *Handler) authenticated(endpoint string, next bouncerHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := h.bouncers.Authenticate(r.Context(), r.Header.Get("X-Api-Key"))
		if err != nil {
			code := http.StatusForbidden
			if !errors.Is(err, ErrForbidden) {
				code = http.StatusInternalServerError
				h.log.ErrorContext(r.Context(), "crowdsec: authenticate bouncer", "err", err)
			}
			rejectedTotal.WithLabelValues(endpoint, "forbidden").Inc()
			writeMessage(w, code, "access forbidden")
			requestsTotal.WithLabelValues(endpoint, fmt.Sprint(code)).Inc()
			return
		}
		code := next(w, r, b)
		requestsTotal.WithLabelValues(endpoint, fmt.Sprint(code)).Inc()
	}
}

func (h *Handler) decisions(w http.ResponseWriter, r *http.Request, _ Bouncer) int {
	f, err := ParseDecisionsQuery(r.URL.Query())
	if err != nil {
		rejectedTotal.WithLabelValues("decisions", "invalid_filter").Inc()
		writeMessage(w, http.StatusBadRequest, err.Error())
		return http.StatusBadRequest
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return http.StatusOK
	}
	now := h.now()
	last, err := h.store.LastID(r.Context())
	if err != nil {
		return h.internalError(w, r, "read last decision id", err)
	}
	list, err := h.store.Active(r.Context(), now, &f, 0, last)
	if err != nil {
		return h.internalError(w, r, "query decisions", err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	bw := bufio.NewWriterSize(w, 32<<10)
	if err := writeList(bw, list, now); err != nil {
		return h.writeFailed(r, err)
	}
	if err := bw.Flush(); err != nil {
		return h.writeFailed(r, err)
	}
	return http.StatusOK
}

// stream answers a bouncer's poll with the decisions that are new and those
// that ended since its previous successful poll (all active and all retained
// ended decisions when startup=true), then advances its cursor.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, b Bouncer) int {
	f, startup, err := ParseStreamQuery(r.URL.Query())
	if err != nil {
		rejectedTotal.WithLabelValues("stream", "invalid_filter").Inc()
		writeMessage(w, http.StatusBadRequest, err.Error())
		return http.StatusBadRequest
	}
	if r.Method == http.MethodHead {
		// Like CrowdSec: no body, and the cursor does not move.
		w.WriteHeader(http.StatusOK)
		return http.StatusOK
	}
	ctx := r.Context()
	now := h.now()
	last, err := h.store.LastID(ctx)
	if err != nil {
		return h.internalError(w, r, "read last decision id", err)
	}
	after, since := b.Cursor.LastID, b.Cursor.LastPull.Add(-deletedOverlap)
	if startup {
		after, since = 0, time.Time{}
	}
	added, err := h.store.Active(ctx, now, &f, after, last)
	if err != nil {
		return h.internalError(w, r, "query new decisions", err)
	}
	ended, err := h.store.Ended(ctx, since, now, &f)
	if err != nil {
		return h.internalError(w, r, "query ended decisions", err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := writeStream(bw, added, ended, now); err != nil {
		return h.writeFailed(r, err)
	}
	if err := bw.Flush(); err != nil {
		return h.writeFailed(r, err)
	}
	// Only a fully written answer moves the cursor, so a failed poll is
	// repeated rather than lost.
	if err := h.bouncers.SetCursor(ctx, b.Name, Cursor{LastPull: now, LastID: last}); err != nil {
		h.log.ErrorContext(ctx, "crowdsec: advance bouncer cursor; its next poll repeats this one", "bouncer", b.Name, "err", err)
	}
	return http.StatusOK
}

// writeStream writes {"deleted":…,"new":…} in the key order and with the
// null-for-empty lists of CrowdSec's non-chunked stream answer.
func writeStream(w *bufio.Writer, added, ended []Decision, now time.Time) error {
	if _, err := w.WriteString(`{"deleted":`); err != nil {
		return err
	}
	if err := writeList(w, ended, now); err != nil {
		return err
	}
	if _, err := w.WriteString(`,"new":`); err != nil {
		return err
	}
	if err := writeList(w, added, now); err != nil {
		return err
	}
	_, err := w.WriteString("}")
	return err
}

// writeList writes list as a JSON array, or null when empty (CrowdSec
// serialises an empty result as null, and bouncers expect it).
func writeList(w *bufio.Writer, list []Decision, now time.Time) error {
	if len(list) == 0 {
		_, err := w.WriteString("null")
		return err
	}
	if err := w.WriteByte('['); err != nil {
		return err
	}
	for i := range list {
		if i > 0 {
			if err := w.WriteByte(','); err != nil {
				return err
			}
		}
		b, err := json.Marshal(toWire(&list[i], now))
		if err != nil {
			return fmt.Errorf("crowdsec: encode decision %d: %w", list[i].ID, err)
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	_, err := w.WriteString("]")
	return err
}

func (h *Handler) internalError(w http.ResponseWriter, r *http.Request, what string, err error) int {
	h.log.ErrorContext(r.Context(), "crowdsec: "+what, "err", err)
	writeMessage(w, http.StatusInternalServerError, what+": "+err.Error())
	return http.StatusInternalServerError
}

func (h *Handler) writeFailed(r *http.Request, err error) int {
	h.log.WarnContext(r.Context(), "crowdsec: write answer to bouncer", "err", err)
	return http.StatusOK
}

func writeMessage(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{msg})
	// The status is already sent; a failed body write means the bouncer went
	// away, and its next poll retries.
	_, _ = w.Write(b)
}
