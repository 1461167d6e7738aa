package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eqgate/eqgate"
)

// TestTraceAndDecode: /debug/trace on the running binary streams a pcap of
// one client's datagrams, both ways, from before its handshake;
// `eqgate decode` prints them decoded (learning the key from the
// SessionResponse), and, mid-session, with the flags the trace's
// X-Eqgate-Decode header names; tshark opens the file when installed.
func TestTraceAndDecode(t *testing.T) {
	g := startGate(t, "-shards", "1", "-encode", "compress")
	dir := t.TempDir()

	// Trace every loopback client from before the handshake.
	resp, err := http.Get(g.base + "/debug/trace?addr=127.0.0.1&seconds=2")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/vnd.tcpdump.pcap" {
		t.Fatalf("trace: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	if code, _ := httpStatus(t, g.base+"/debug/trace?addr=127.0.0.1&seconds=1"); code != http.StatusConflict {
		t.Errorf("second trace at once = %d, want 409", code)
	}
	h := newClient(3)
	c, err := eqgate.Dial(g.udp, eqgate.Config{ConnectStale: waitBound / 2}, h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for k := range 3 {
		if err := c.Send(k, message(1, k), true); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-h.done:
	case <-time.After(waitBound):
		t.Fatal("no echoes")
	}
	var capture bytes.Buffer
	if _, err := capture.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	full := filepath.Join(dir, "full.pcap")
	if err := os.WriteFile(full, capture.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := decodeFile(t, full)
	for _, want := range []string{"SessionRequest", "SessionResponse key=", "crc=ok", "Packet stream=0", "Packet stream=2", "Ack stream=", "app op="} {
		if !strings.Contains(out, want) {
			t.Errorf("decode lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "CRC BAD") || strings.Contains(out, "no session parameters") {
		t.Errorf("decode failed on some datagrams:\n%s", out)
	}
	sport := ":" + strings.Split(c.LocalAddr().String(), ":")[1]
	if !strings.Contains(out, sport+" > ") || !strings.Contains(out, " > 127.0.0.1"+sport) {
		t.Errorf("decode does not show both directions of %s:\n%s", sport, out)
	}

	// Mid-session: the key comes from the header.
	resp, err = http.Get(g.base + "/debug/trace?addr=127.0.0.1" + sport + "&seconds=1")
	if err != nil {
		t.Fatal(err)
	}
	flags := resp.Header.Get("X-Eqgate-Decode")
	if !strings.HasPrefix(flags, "127.0.0.1"+sport+" -key ") {
		t.Fatalf("X-Eqgate-Decode = %q", flags)
	}
	if err := c.Send(1, message(1, 9), true); err != nil {
		t.Fatal(err)
	}
	capture.Reset()
	if _, err := capture.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mid := filepath.Join(dir, "mid.pcap")
	if err := os.WriteFile(mid, capture.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := decodeFile(t, mid); !strings.Contains(out, "no session parameters") {
		t.Errorf("mid-session trace decoded without a key?\n%s", out)
	}
	out = decodeFile(t, append(strings.Fields(flags)[1:], mid)...)
	if !strings.Contains(out, "crc=ok Packet stream=1") || strings.Contains(out, "CRC BAD") {
		t.Errorf("mid-session decode with %s:\n%s", flags, out)
	}

	for path, want := range map[string]int{"/debug/trace": 400, "/debug/trace?addr=nope": 400, "/debug/trace?addr=127.0.0.1&seconds=0": 400} {
		if code, _ := httpStatus(t, g.base+path); code != want {
			t.Errorf("%s = %d, want %d", path, code, want)
		}
	}

	tshark := needTool(t, "tshark") // skips, outside CI, when absent
	ts := exec.Command(tshark, "-r", full, "-T", "fields", "-e", "udp.srcport", "-e", "udp.dstport", "-e", "udp.length")
	ts.Env = append(os.Environ(), "HOME="+dir) // tshark wants a writable profile dir
	got, err := ts.CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, got)
	}
	// tshark's field lines (it may warn about root first) against
	// decode's top-level lines (Combined elements are indented).
	packets := 0
	for _, l := range strings.Split(string(got), "\n") {
		if f := strings.Fields(l); len(f) == 3 && strings.Trim(f[0], "0123456789") == "" {
			packets++
		}
	}
	decoded := 0
	for _, l := range strings.Split(decodeFile(t, full), "\n") {
		if l != "" && l[0] != ' ' {
			decoded++
		}
	}
	if packets != decoded || packets < 5 || !strings.Contains(string(got), strings.TrimPrefix(sport, ":")) {
		t.Fatalf("tshark read %d packets, decode %d:\n%s", packets, decoded, got)
	}
}

// decodeFile runs `eqgate decode args...` and returns its output.
func decodeFile(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"decode"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("eqgate decode %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}
