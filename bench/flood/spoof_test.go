package flood

import (
	"errors"
	"testing"

	"github.com/eqgate/eqgate"
)

type nopHandler struct{}

func (nopHandler) OnOpen(eqgate.Session)                      {}
func (nopHandler) OnMessage(eqgate.Session, int, []byte)      {}
func (nopHandler) OnClose(eqgate.Session, eqgate.CloseReason) {}

// TestSpoofAmplification floods a server on loopback with each trigger
// kind from forged 127.x sources and reads the server's counters: no
// session is created, and the bytes it sent back are at most 1.3 times the
// bytes the flood sent (the answers go to addresses nobody holds). Skips
// without raw sockets.
func TestSpoofAmplification(t *testing.T) {
	for k := range NumKinds {
		t.Run(k.String(), func(t *testing.T) {
			srv, err := eqgate.Listen("127.0.0.1:0", eqgate.Config{Shards: 1}, nopHandler{})
			if err != nil {
				t.Fatal(err)
			}
			const n = 3000
			res, err := Spoof(SpoofOptions{Kind: k, Count: n, Seed: 1}, srv.Addr())
			if errors.Is(err, ErrNoRawSockets) {
				srv.Close()
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			// Close drains the socket's queue before the counters are final.
			if err := srv.Close(); err != nil {
				t.Fatal(err)
			}
			st := srv.Stats().Total
			t.Logf("%s: sent %d datagrams, %d bytes; server got %d datagrams %d bytes, sent %d bytes (%.2fx), %d responses, %d out-of-session, %d sessions",
				k, res.Sent, res.Bytes, st.DatagramsIn, st.BytesIn, st.BytesOut, float64(st.BytesOut)/float64(max(st.BytesIn, 1)), st.Responded, st.OutOfSession, st.SessionsOpened)
			if st.SessionsOpened > n/10000+1 {
				t.Fatalf("%d sessions opened by spoofed %s datagrams", st.SessionsOpened, k)
			}
			if 10*st.BytesOut > 13*st.BytesIn {
				t.Fatalf("amplification %.2f", float64(st.BytesOut)/float64(st.BytesIn))
			}
		})
	}
}
