package proto

import "time"

// State is a session's connection state (SPEC §19). The zero value,
// StateDisconnected, is an unused or finished session.
type State uint8

const (
	StateDisconnected  State = iota // finished (or never started): memory reusable
	StateConnecting                 // client: SessionRequest sent, waiting for the response
	StateConnected                  // carrying traffic
	StateDisconnecting              // closing: lingering for CloseLinger, acks still handled
)

var stateNames = [...]string{"disconnected", "connecting", "connected", "disconnecting"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// CloseReason says why a session ended. It is the module's one close-reason
// enum: the root package re-exports it as eqgate.CloseReason, the shard
// passes it to handlers and indexes its counters by it. proto sets the
// reasons a session can see for itself; the engine sets the rest (marked).
type CloseReason uint8

const (
	CloseNone           CloseReason = iota // still open (the zero value)
	CloseLocal                             // the application closed it (Close)
	ClosePeer                              // the peer sent SessionDisconnect
	CloseTimeout                           // nothing received for StaleConnection
	CloseResendTimeout                     // a packet stayed unacked for ResendTimeout (SPEC §12.2)
	CloseConnectTimeout                    // client: no SessionResponse within ConnectStale
	CloseShutdown                          // engine: the server or client is closing
	CloseRefused                           // client: the server answered OutOfSession
	CloseProtocol                          // unusable session parameters from the peer
	ClosePanic                             // engine: a handler callback panicked (eqgate.PanicClose)
	CloseReplaced                          // a SessionRequest with a new connect code from the same endpoint replaced it (EQ2, SPEC §22.1)
	NumCloseReasons
)

var closeNames = [NumCloseReasons]string{
	CloseNone:           "none",
	CloseLocal:          "local",
	ClosePeer:           "peer",
	CloseTimeout:        "timeout",
	CloseResendTimeout:  "resend_timeout",
	CloseConnectTimeout: "connect_timeout",
	CloseShutdown:       "shutdown",
	CloseRefused:        "refused",
	CloseProtocol:       "protocol",
	ClosePanic:          "handler_panic",
	CloseReplaced:       "replaced",
}

// String returns a snake_case name, usable as a metric label.
func (r CloseReason) String() string {
	if r < NumCloseReasons {
		return closeNames[r]
	}
	return "unknown"
}

// Stats are one session's counters: SPEC §17.3's plus eqgate's. Packets are
// datagrams; SentBytes/RecvBytes count decoded bytes as RS does for sending
// (wire bytes for receiving, which is all a session sees before decoding).
type Stats struct {
	SentPackets uint64 // datagrams passed to the Sink (RS sent_packets)
	RecvPackets uint64 // datagrams given to Receive, even ones dropped (RS recv_packets)
	SentBytes   uint64 // decoded bytes of SentPackets
	RecvBytes   uint64 // wire bytes of RecvPackets

	SentWireBytes    uint64 // bytes of SentPackets as sent (after passes and CRC)
	RecvDecodedBytes uint64 // bytes of received datagrams after decoding (passes undone)
	AppSent          uint64 // application packets accepted by Send
	AppSentBytes     uint64

	PeerSent uint64 // the peer's counters from its last SessionStatRequest
	PeerRecv uint64
	// Our own SentPackets and RecvPackets when the peer's figures arrived,
	// so loss compares counts of the same moment.
	SentAtPeer, RecvAtPeer uint64

	Delivered      uint64 // application packets handed to Handler.Deliver
	DeliveredBytes uint64
	Resends        uint64 // reliable packets sent again
	ResentBytes    uint64
	Duplicates     uint64 // past sequenced packets (re-acked and dropped)
	OutOfOrder     uint64 // future sequenced packets (queued or dropped)

	// Drops counts packets dropped, by reason. The caps also count in
	// their own fields below so each is visible on its own.
	Drops          [NumReasons]uint64
	ReorderDrops   uint64 // future packets beyond ReorderWindow/ReorderBytes
	FragmentDrops  uint64 // fragment sets above MaxFragmentSize (counted once per set)
	RateDrops      uint64 // datagrams dropped by the OutgoingDataRate budget
	SendQueueFull  uint64 // Send calls refused by MaxUnackedBytes/MaxUnackedPackets
	KeepAlivesRecv uint64
	// LenientCRC counts datagrams accepted without a matching trailer by
	// Config.LenientZeroCRC or Config.Lenient0019 (LEGACY, EQ2).
	LenientCRC uint64

	// Round-trip times from acks (now − last send of the acked packet).
	RTTMin, RTTMax, RTTLast time.Duration
	RTTSum                  time.Duration
	RTTSamples              uint64
	RollingPing             time.Duration // RS rolling_ping (SPEC §11.5), drives the resend delay
}

// RTTAvg is the mean of the RTT samples.
func (st *Stats) RTTAvg() time.Duration {
	if st.RTTSamples == 0 {
		return 0
	}
	return st.RTTSum / time.Duration(st.RTTSamples)
}

func (st *Stats) markPeer() { st.SentAtPeer, st.RecvAtPeer = st.SentPackets, st.RecvPackets }

// Loss is the fraction of datagrams lost each way, from the peer's figures
// in its last SessionStatRequest (or, for a client, the server's reply) and
// ours at that moment: out is ours that the peer did not receive, in is the
// peer's that we did not. ok is false until such figures have arrived.
// Datagrams still in flight at that moment count as lost, so both
// overstate a little on a busy link.
func (st *Stats) Loss() (in, out float64, ok bool) {
	if st.PeerSent == 0 && st.PeerRecv == 0 {
		return 0, 0, false
	}
	return lossOf(st.PeerSent, st.RecvAtPeer), lossOf(st.SentAtPeer, st.PeerRecv), true
}

func lossOf(sent, got uint64) float64 {
	if sent == 0 || got >= sent {
		return 0
	}
	return float64(sent-got) / float64(sent)
}
