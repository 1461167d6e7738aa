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

// CloseReason says why a session closed.
type CloseReason uint8

const (
	CloseNone           CloseReason = iota
	ClosePeer                       // the peer sent SessionDisconnect
	CloseLocal                      // Close was called
	CloseResendTimeout              // a packet stayed unacked for ResendTimeout
	CloseStale                      // nothing received for StaleConnection
	CloseConnectTimeout             // client: no SessionResponse within ConnectStale
	CloseProtocol                   // unusable session parameters from the peer
	CloseOutOfSession               // client: the server says it has no such session
	NumCloseReasons
)

var closeNames = [NumCloseReasons]string{
	"none", "peer", "local", "resend_timeout", "stale", "connect_timeout", "protocol", "out_of_session",
}

// String returns a snake_case name suitable for a metric label.
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

	PeerSent uint64 // the peer's counters from its last SessionStatRequest
	PeerRecv uint64

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
