// Package flood sends SessionRequests from many fresh endpoints (one socket
// each, rotating over 127.1.x.y source addresses) and counts how the server
// answered: a SessionResponse, a refusal, or nothing. It measures what a
// spoofing attacker's request storm costs a server and whether its caps
// hold.
//
// Model: Start runs Options.Workers goroutines, each with up to 32 sockets
// open at a time, paced to Options.Rate; Stop ends them and returns the
// counts, which are atomics until then.
//
// Spoof plays the attacker eqgate's admission is built against: datagrams
// of one trigger kind (SessionRequest, garbage, keepalive, stat request,
// ack, disconnect) from forged 127.x.y.z sources through a raw socket
// (batchio.Spoofer; root or CAP_NET_RAW, else ErrNoRawSockets). Its
// answers go to addresses nobody holds, so the server's counters measure
// what the flood cost: TestSpoofAmplification checks the bytes sent back
// per trigger kind.
package flood
