// Package proto is eqgate's wire layer for the EQStream session protocol
// (EQEmu's reliable stream, "RS"; see shared/protocol/SPEC.md): every
// protocol opcode, the keyed CRC, the XOR and compression passes, combining,
// fragmentation and application framing.
//
// The package is pure: no sockets, no goroutines, no clock. Time, where it
// matters, is a parameter.
//
// Model: a datagram goes through Coder.Decode (keepalive/ping discard, CRC
// check, passes undone in reverse order; SPEC §9) and comes out as a
// decoded packet, which the parsers (ParseSeq, ParseFirstFragment,
// ParseSessionRequest, NewCombinedIter, NewAppCombinedIter, AppPayload, ...)
// read without copying. Sending is the mirror: the AppendX builders write a
// decoded packet and Coder.AppendEncode applies the passes and the CRC
// trailer (SPEC §15 step 6). Params carry one session's negotiated key, CRC
// length, passes and max_packet_size, with the key's CRC state precomputed.
//
// Buffer ownership: decoders work in place on the caller's buffer and return
// views into it, or into the Coder's inflate scratch space when a packet was
// deflated; such a view is valid until the Coder's next call. Encoders
// append into a caller's buffer (AppendX(b []byte, ...) []byte) and never
// keep it. Decoding and encoding allocate nothing in steady state, zlib
// included, once a Coder's scratch buffers exist.
//
// Concurrency: a Coder holds zlib state and scratch buffers and belongs to one
// goroutine (one per shard). Params are small values, safe to copy.
//
// Errors: every decode failure is one of the *Error sentinels in errors.go,
// so a caller can count it by Reason without allocating, and nothing panics
// on any input. Inflate output is capped at MaxInflate bytes, as in RS.
package proto
