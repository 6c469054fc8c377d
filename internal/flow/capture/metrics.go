package capture

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var metricReaderPanics = promauto.NewCounter(prometheus.CounterOpts{
	Name: "kubeward_flow_capture_reader_failures_total",
	Help: "Capture files abandoned because the pcap/pcapng reader crashed on malformed input.",
})
