// Package flood sends SessionRequests from many fresh endpoints (one socket
// each, rotating over 127.1.x.y source addresses) and counts how the server
// answered: a SessionResponse, a refusal, or nothing. It measures what a
// spoofing attacker's request storm costs a server and whether its caps
// hold.
//
// Model: Start runs Options.Workers goroutines, each with up to 32 sockets
// open at a time, paced to Options.Rate; Stop ends them and returns the
// counts, which are atomics until then.
package flood
