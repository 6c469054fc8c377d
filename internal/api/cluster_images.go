package api

import (
	"net/http"

	"github.com/kubeward/kubeward/internal/cluster"
)

// clusterImages lists the image inventory of the cluster's workloads: the
// images each declares and those its Pods report, with Pod counts; filters
// namespace and image (a reference or a sha256 digest, see
// cluster.ParseImageQuery), paged with limit and offset.
func (h *respondHandler) clusterImages(w http.ResponseWriter, r *http.Request) {
	if h.View == nil {
		writeProblem(w, r, http.StatusServiceUnavailable, "no Kubernetes cluster is configured (give kubeward a kubeconfig or run it in a cluster)")
		return
	}
	limit, offset, ok := pageParams(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := cluster.ImageFilter{Namespace: q.Get("namespace")}
	if s := q.Get("image"); s != "" {
		iq, err := cluster.ParseImageQuery(s)
		if err != nil {
			writeProblem(w, r, http.StatusBadRequest, "image: "+err.Error())
			return
		}
		f.Image = &iq
	}
	list, err := h.View.Images(f)
	if err != nil {
		h.fail(w, r, "list workload images", err)
		return
	}
	writeJSON(w, http.StatusOK, page(list, limit, offset))
}
