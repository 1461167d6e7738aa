// Package impair is a seeded impairment relay for loopback tests and
// benchmarks, for kernels without netem: a Proxy between clients and one
// upstream server that drops, duplicates, reorders, delays and corrupts
// datagrams in each direction independently, as an Impairment says. It can
// also spread many client flows over 127.x source addresses, so a server's
// per-address caps see many addresses.
//
// Model: one reader goroutine for the client-facing socket, one per flow
// for its upstream socket, and one for the delay queue; each direction of
// each flow draws its verdicts from its own seeded generator, so a seed
// replays a flow's fate (TestImpairmentDecide). Counters are atomics read
// by Stats.
//
// Buffers: a reader's buffer is reused after each datagram; a datagram
// that is delayed is copied and the copy belongs to the delay queue until
// it is sent.
package impair
