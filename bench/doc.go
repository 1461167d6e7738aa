// Package bench is eqgate's load generator and measuring kit: it opens many
// client sessions (eqgate.Dial) to any server that echoes application
// packets, sends checked payloads at a chosen rate, window and size mix,
// verifies every echo byte for byte and in order, and reports throughput,
// latency (a log-linear histogram), resends and the server's CPU cost per
// message, as a key=value summary, JSON or an HTML page with SVG plots.
//
// Model: Run dials Options.Sessions sessions, then drives each one from its
// own Conn's shard goroutine: the Handler callbacks and functions posted with
// Conn.Post are the only code that touches a session's window and checker
// state, so that state needs no lock. Counters other goroutines read (the
// sampler, the progress line) are atomics; the latency Histogram takes
// concurrent Records with atomic adds.
//
// Payloads (see payload.go) carry the session index, the stream, the
// sequence number and the length in a 12-byte header, followed by bytes that
// are a deterministic function of the header, so the checker regenerates the
// expected echo instead of storing it. Send times live in the sender's
// window, not in the payload, so a corrupted echo cannot fake a latency.
//
// Run uses the kit's other packages: bench/impair (a seeded impairment
// relay, Options.Impair) and bench/flood (a SessionRequest flood,
// Options.Flood); bench/report renders a Result as HTML; cmd/eqcompare
// runs the same load against two server configurations.
//
// Buffers: payloads are built in per-session scratch buffers owned by the
// session's goroutine; eqgate copies what it sends. Echo data is valid only
// during OnMessage and is never kept.
package bench
