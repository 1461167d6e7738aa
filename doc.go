// Package eqgate is a UDP frontend for the EverQuest-family session protocol
// (EQEmu's reliable stream). It runs one shard per core, each owning one
// SO_REUSEPORT socket read with recvmmsg and written with sendmmsg, its
// sessions, its timer wheel and its pools, with no lock shared between shards.
//
// The package is the API only: Listen and Server for accepted sessions,
// Dial, DialContext and Client for dialled ones, Handler and Session for
// both, Config for every knob (zero values are the documented defaults;
// Config.Filled lists them), Collector and BuildInfoCollector for
// Prometheus. The engine underneath is package shard; dialled sessions run
// on it exactly as accepted ones do, each with a socket of its own (or, with
// Config.ShareSockets, a share of one) that its shard reads and writes
// batched with its others, so a Client hosting many sessions costs one
// goroutine per shard, not one per session.
//
// Handlers run on the owning shard's goroutine and must not block it; other
// goroutines reach a session through the shard's inbox (Server.Send,
// Conn.Send, Post). A panic in a Handler crashes the process unless
// Config.HandlerPanic is PanicClose, which recovers it, counts it and closes
// that session with ClosePanic. Every session ends with exactly one OnClose
// carrying a CloseReason (one enum for the whole engine, with String).
package eqgate
