package eqgate_test

import (
	"fmt"
	"log"

	"github.com/eqgate/eqgate"
)

// echo sends every application packet back on the stream it came on.
type echo struct{}

func (echo) OnOpen(eqgate.Session) {}
func (echo) OnMessage(s eqgate.Session, stream int, data []byte) {
	_ = s.Send(max(stream, 0), data, true) // synchronous, copies data into the session
}
func (echo) OnClose(eqgate.Session, eqgate.CloseReason) {}

// reply hands received messages to a channel without ever blocking: a
// callback that waits stalls every session of its shard, so when the reader
// is behind the message is dropped (a real application would count it, or
// size the channel for its burst).
type reply chan []byte

func (reply) OnOpen(eqgate.Session) {}
func (r reply) OnMessage(_ eqgate.Session, _ int, data []byte) {
	select {
	case r <- append([]byte(nil), data...): // data is valid only during the call
	default:
	}
}
func (reply) OnClose(eqgate.Session, eqgate.CloseReason) {}

// A server and a client on loopback: Listen serves sessions on one shard per
// core; Dial opens one client session on an engine of its own (a Client
// hosts many). Neither handler blocks its shard: echo sends synchronously,
// reply hands off to a channel without waiting.
func Example() {
	srv, err := eqgate.Listen("127.0.0.1:0", eqgate.DefaultConfig(), echo{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	got := make(reply, 1)
	conn, err := eqgate.Dial(srv.Addr().String(), eqgate.DefaultConfig(), got)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	// Application packets carry a 2-byte little-endian opcode, then the body.
	if err := conn.Send(0, []byte{0x02, 0x42, 'h', 'i'}, true); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%x\n", <-got)
	// Output: 02426869
}
