package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eqgate/eqgate"
)

// backendEcho is the backend the binary relays to in these tests: an
// in-process eqgate server echoing on the stream each message came on.
type backendEcho struct{}

func (backendEcho) OnOpen(eqgate.Session) {}
func (backendEcho) OnMessage(s eqgate.Session, stream int, data []byte) {
	_ = s.Send(stream, data, true) // a refusal fails the test's wait
}
func (backendEcho) OnClose(eqgate.Session, eqgate.CloseReason) {}

// TestRelayBinary: eqgate -handler relay in front of an echo backend
// relays messages on every stream both ways, exports the relay's metrics
// and drains cleanly.
func TestRelayBinary(t *testing.T) {
	be, err := eqgate.Listen("127.0.0.1:0", eqgate.Config{Shards: 1, Encoding: eqgate.EncodeXOR}, backendEcho{})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	g := startGate(t, "-handler", "relay", "-backend", be.Addr().String(), "-shards", "2", "-encode", "compress")
	c := newClient(8)
	conn, err := eqgate.Dial(g.udp, eqgate.Config{}, c)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var sent [4][][]byte
	for k := range 2 {
		for st := range 4 {
			sent[st] = append(sent[st], bytes.Repeat([]byte{byte(0x40 + st), byte(k)}, 300*(k+1)))
		}
	}
	echoThrough(t, conn, c, &sent)
	_, body := httpStatus(t, g.metricsURL)
	for _, want := range []string{
		`eqgate_relay_messages_total{backend="` + be.Addr().String() + `",dir="to_backend",listen="` + g.udp + `"} 8`,
		`eqgate_relay_messages_total{backend="` + be.Addr().String() + `",dir="to_client",listen="` + g.udp + `"} 8`,
		`eqgate_relay_backend_legs_up_total{backend="` + be.Addr().String() + `",listen="` + g.udp + `"} 1`,
		`eqgate_relay_backend_up{backend="` + be.Addr().String() + `",listen="` + g.udp + `"} 1`,
		`eqgate_relay_backend_rtt_seconds_count{backend="` + be.Addr().String() + `",listen="` + g.udp + `"} `,
		`eqgate_relay_queued_bytes{backend="` + be.Addr().String() + `",listen="` + g.udp + `"} `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code, _ := httpStatus(t, g.base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d with the backend up", code)
	}
	_ = conn.Close() // before the drain, which would wait for it
	stopGate(t, g, syscall.SIGTERM)
}

// TestRelayBinaryVariants: eqgate -variant legacy|eq2 -handler relay in
// front of an echo backend of the same variant relays stream-0 messages
// both ways byte-exact and in order (EQ2: each leg its own key exchange).
func TestRelayBinaryVariants(t *testing.T) {
	for _, tc := range []struct {
		variant eqgate.Variant
		enc     eqgate.Encoding
		flags   []string
	}{
		{eqgate.VariantLegacy, eqgate.EncodeCompress, []string{"-variant", "legacy", "-encode", "compress"}},
		{eqgate.VariantEQ2, eqgate.EncodeNone, []string{"-variant", "eq2"}},
	} {
		t.Run(tc.variant.String(), func(t *testing.T) {
			cfg := eqgate.Config{Variant: tc.variant, Encoding: tc.enc, Shards: 1}
			be, err := eqgate.Listen("127.0.0.1:0", cfg, backendEcho{})
			if err != nil {
				t.Fatal(err)
			}
			defer be.Close()
			g := startGate(t, append([]string{"-handler", "relay", "-backend", be.Addr().String(), "-shards", "2"}, tc.flags...)...)
			const n = 12
			c := newClient(n)
			conn, err := eqgate.Dial(g.udp, cfg, c)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var sent [4][][]byte
			for k := range n {
				sent[0] = append(sent[0], message(0, k))
			}
			echoThrough(t, conn, c, &sent)
			_ = conn.Close() // before the drain, which would wait for it
			stopGate(t, g, syscall.SIGTERM)
		})
	}
}

// echoThrough sends sent[st] on each stream st, interleaved, and checks
// that every stream's echoes come back byte-exact and in order (c wants
// them all).
func echoThrough(t *testing.T, conn *eqgate.Conn, c *client, sent *[4][][]byte) {
	t.Helper()
	for k := 0; ; k++ {
		more := false
		for st := range sent {
			if k < len(sent[st]) {
				more = true
				if err := conn.Send(st, sent[st][k], true); err != nil {
					t.Fatal(err)
				}
			}
		}
		if !more {
			break
		}
	}
	select {
	case <-c.done:
	case <-time.After(waitBound):
		t.Fatal("no echoes through the relay")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for st := range sent {
		for k := range sent[st] {
			if k >= len(c.got[st]) || !bytes.Equal(c.got[st][k], sent[st][k]) {
				t.Fatalf("stream %d message %d not relayed byte-exact", st, k)
			}
		}
	}
}

// TestRelayBinaryBackendDown: a backend that never answers closes each
// client session after -connect-timeout, and after three failed dials
// /healthz reports the backend.
func TestRelayBinaryBackendDown(t *testing.T) {
	hole, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	g := startGate(t, "-handler", "relay", "-backend", hole.LocalAddr().String(), "-shards", "1", "-connect-timeout", "200ms")
	for range 3 {
		c := newClient(1)
		conn, err := eqgate.Dial(g.udp, eqgate.Config{}, c)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-c.closed:
			if r != eqgate.ClosePeer {
				t.Fatalf("client closed with %v, want peer", r)
			}
		case <-time.After(waitBound):
			t.Fatal("client not closed")
		}
		_ = conn.Close()
	}
	code, body := httpStatus(t, g.base+"/healthz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, hole.LocalAddr().String()) {
		t.Errorf("/healthz = %d %q, want 503 naming the backend", code, body)
	}
	if _, m := httpStatus(t, g.metricsURL); !strings.Contains(m, `reason="backend_no_answer"} 3`) {
		t.Errorf("/metrics does not count 3 backend_no_answer ends")
	}
	stopGate(t, g, syscall.SIGTERM)
}

// stopGate sends sig (a drain signal) and waits for a clean exit.
func stopGate(t *testing.T, g *gate, sig os.Signal) {
	t.Helper()
	if err := g.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-g.exited:
		if err != nil {
			t.Fatalf("exit after %v: %v", sig, err)
		}
	case <-time.After(waitBound):
		t.Fatalf("no exit after %v", sig)
	}
}
