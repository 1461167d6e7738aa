// Package proto is eqgate's wire layer for the EQStream session protocol
// (EQEmu's reliable stream, "RS"; see shared/protocol/SPEC.md): every
// protocol opcode, the keyed CRC, the XOR and compression passes, combining,
// fragmentation and application framing.
//
// The package is pure: no sockets, no goroutines, no clock. Time, where it
// matters, is a parameter.
//
// Buffer ownership: decoders work in place on the caller's buffer and return
// views into it (or into the Coder's scratch space when a packet had to be
// inflated; such a view is valid until the Coder's next call). Encoders
// append into a caller's buffer (AppendX(b []byte, ...) []byte) and never
// keep it.
//
// Concurrency: a Coder holds zlib state and scratch buffers and belongs to one
// goroutine (one per shard). Params are small values, safe to copy.
//
// Errors: every decode failure is one of the *Error sentinels below, so a
// caller can count it by Reason without allocating, and nothing panics on
// any input.
package proto
