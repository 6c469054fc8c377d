package flow

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	metricPackets = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_flow_packets_total",
		Help: "Packets seen by the flow extractor, by result: flow (accounted to a flow), skipped (no TCP/UDP/ICMP over IP), malformed (undecodable), out_of_order (timestamp older than the newest packet).",
	}, []string{"result"})
	metricOutOfOrder       = metricPackets.WithLabelValues("out_of_order")
	metricPacketsFlow      = metricPackets.WithLabelValues("flow")
	metricPacketsSkipped   = metricPackets.WithLabelValues("skipped")
	metricPacketsMalformed = metricPackets.WithLabelValues("malformed")

	metricFlowsVec = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_flow_flows_total",
		Help: "Flows emitted by the flow extractor, by end reason (timeout, tcp_reuse, evicted, flush).",
	}, []string{"reason"})
	metricFlows = func() [numEndReasons]prometheus.Counter {
		var c [numEndReasons]prometheus.Counter
		for r := range numEndReasons {
			c[r] = metricFlowsVec.WithLabelValues(r.String())
		}
		return c
	}()

	metricCSVRejected = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_flow_csv_rows_rejected_total",
		Help: "Flow CSV rows rejected by the reader because a field could not be parsed.",
	})
)
