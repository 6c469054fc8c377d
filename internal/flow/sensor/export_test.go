package sensor

// AnomaliesDropped exposes the drop counter to the external benchmark.
var AnomaliesDropped = anomaliesDropped
