package proto

// Session API (SPEC §6, §9 to §20 for RS).
//
// A Session is one peer's EQStream state, server or client role. It is a
// plain struct in the caller's memory (a shard keeps a slab []Session) and
// is pure: no sockets, goroutines, timers or clock. Every entry point takes
// now, a monotonic Nanotime (int64 nanoseconds from any fixed epoch), and
// an *Env: the per-shard context with the Coder, the output Sink, the
// Handler for delivered packets, the random source and the Allocator.
//
// Lifecycle:
//
//	cfg := proto.ZoneConfig()          // or DefaultConfig; adjust; then
//	err := cfg.Validate()              // once; share cfg read-only
//
//	// server: a datagram from an unknown endpoint
//	switch proto.ClassifyNoSession(d) {
//	case proto.NoSessionCreate:
//		s.InitServer(&cfg, env.Random(), now)
//		s.Receive(env, now, d)          // the SessionRequest: answers, Opened
//	case proto.NoSessionOutOfSession:
//		send proto.AppendOutOfSession(buf) raw
//	}
//	// client
//	s.InitClient(&cfg, env.Random(), now)
//	next := s.Tick(env, now)           // sends the SessionRequest
//
//	// every datagram from the peer, then once per receive batch:
//	s.Receive(env, now, d)             // in place; Deliver/Opened/Closed run inside
//	s.Flush(env, now)                  // hold buffer -> Combined -> passes -> CRC -> Sink
//	wheel.Schedule(s, s.Next())        // cheap; may be early, never late
//
//	// application output (also allowed inside Handler callbacks):
//	err := s.Send(env, now, stream, app, reliable) // ErrSendQueueFull: back off
//	s.Flush(env, now)                  // or leave it to the batch end / Tick
//
//	// when the timer wheel fires:
//	next := s.Tick(env, now)           // Never once StateDisconnected
//	if s.State() == proto.StateDisconnected { free the slot }
//
// Handler.Closed runs once, when the session stops carrying traffic: on
// entering Disconnecting (local Close, peer disconnect, resend timeout) or
// Disconnected (stale, connect timeout, OutOfSession, protocol error). The
// slot may be reused once State() is StateDisconnected; Tick returns Never
// from then on. Release drops a session at once (shutdown).
//
// Buffers: Receive works in place on the datagram. Deliver's app slice is
// valid only during the call. Send copies app. Stored packets, reorder
// copies, fragment reassembly and the hold buffer come from Env.Alloc (a
// shard's pool.Sized) and go back to it when acked, delivered or idle
// (Config.IdleRelease), so an idle session holds only its struct. Its sent and
// reorder rings go to Env's own free lists, so a session that idles
// between messages allocates nothing either.
//
// Timing: Tick's return value folds every deadline (connect retry and
// stale, keepalive, stale, per-packet resend and resend timeout, close
// linger, hold safety flush, idle release); an idle connected session asks
// for a Tick only at its keepalive. Resends follow SPEC §12.3 (per packet,
// delay doubling between ResendDelayMin and Max), capped per stream per
// Tick at ResendBurstPackets/Bytes (RS's 300 packets / 140 KiB).
//
// Caps a peer can hit (each counted in Stats): ReorderWindow/ReorderBytes
// per stream, MaxFragmentSize per set (memory taken as data arrives),
// inflate output (the Coder's 4096), MaxDepth of nested packets, and on the
// sending side MaxUnackedBytes/MaxUnackedPackets (Send returns
// ErrSendQueueFull).
//
// Variants: Config.Variant selects variantRules (sequence window, stream
// count, fixed key, SessionResponse form, deferred cumulative acks, ack
// policy for future/past packets, retransmit timing, byte budget, CRC
// leniencies, fragment sizes, disconnect form, keepalive echo), read by one
// state machine; ConfigFor(v) gives each variant's defaults. LEGACY and EQ2
// state sits behind Session.vs (nil on RS). An EQ2 session also runs an
// EQ2App (RC4, the session deflate stream, the combine timer): Send and
// Deliver carry plain application packets, and Env.EQ2 is the shard's
// shared EQ2Coder.
