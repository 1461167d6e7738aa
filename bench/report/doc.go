// Package report renders a bench.Result as a self-contained HTML page: the
// summary table and inline SVG plots of throughput, latency over time, the
// latency histogram and the server's CPU per message. No scripts, no
// external resources; the page is a pure function of the Result.
package report
