// Package flow computes CICFlowMeter flow features from packets, with the
// semantics of the corrected CICFlowMeter of Engelen et al. used for the
// corrected CIC-IDS2017 release, so that models train on the published
// dataset and run on our own extraction with one schema.
//
// A Decoder turns frames (Ethernet with 802.1Q/QinQ tags, Linux cooked
// SLL/SLL2, raw IP) into Packets without allocating; an Extractor groups
// them into bidirectional flows and emits a Record per finished flow to a
// callback; Writer formats records as CSV (the published header, see
// Header) or JSON lines; CSVReader reads them back, in any column order.
//
// Semantics, checked against the published rows where a rule is visible
// in them:
//   - Lengths are transport payload bytes; header lengths are transport
//     header bytes (TCP data offset, 8 for UDP); ICMP counts 0 for both,
//     as in the published ICMP rows.
//   - Standard deviations and variances are sample statistics (n-1).
//   - Flow timeout 120 s from the first packet, activity timeout 5 s: a
//     gap longer than it closes an active period (recorded when longer
//     than 0) and records an idle period; the last active period is not
//     recorded.
//   - TCP: a FIN from each side, or an RST, makes the flow ready for
//     termination; later packets (final ACKs, repeated RSTs) stay in it
//     until a SYN without ACK reuses the tuple (a new connection) or the
//     timeout ends it. A connection split by the timeout keeps its
//     direction, and Total TCP Flow Time spans the whole connection.
//   - Subflow columns equal floor(total / packets of the flow), the rule
//     every published row satisfies.
//   - Init Win Bytes is the TCP window of the first packet in each
//     direction, 0 when there is none; ICMP Type/Code are -1 for non-ICMP.
//   - Rates of zero-duration flows are 0 (the published samples have none).
//
// An Extractor bounds its table (Config.MaxFlows), keeps flow state in
// pointer-free chunks and is not safe for concurrent use; run one per
// capture goroutine.
package flow
