package eqgate

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		fields []string // nil: valid
	}{
		{"zero", Config{}, nil},
		{"default", DefaultConfig(), nil},
		{"batch", Config{Batch: 2000}, []string{"Batch"}},
		{"crc", Config{CRCBytes: 3}, []string{"CRCBytes"}},
		{"datagram buffer", Config{MaxPacketSize: 1024, DatagramBuffer: 1000}, []string{"DatagramBuffer", "MaxPacketSize"}},
		{"rcvbuf", Config{RecvBuffer: -1}, []string{"RecvBuffer"}},
		{"sndbuf", Config{SendBuffer: -1}, []string{"SendBuffer"}},
		{"per shard cap", Config{MaxSessionsPerShard: MaxSessionsPerShard + 1}, []string{"MaxSessionsPerShard"}},
		{"timer slot", Config{TimerSlot: time.Microsecond}, []string{"TimerSlot"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.fields == nil {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, ErrBadConfig) {
				t.Fatalf("Validate = %v (%T), want a *ConfigError matching ErrBadConfig", err, err)
			}
			if !slices.Equal(ce.Fields, tt.fields) {
				t.Errorf("Fields = %q, want %q (%v)", ce.Fields, tt.fields, err)
			}
			// Listen refuses it the same way, before binding anything.
			_, lerr := Listen("127.0.0.1:0", tt.cfg, &echoHandler{})
			if lerr == nil || lerr.Error() != err.Error() {
				t.Errorf("Listen = %v, want %v", lerr, err)
			}
		})
	}
}

func TestConfigFilled(t *testing.T) {
	c := Config{Batch: 8, ResendDelayMin: time.Second}
	f := c.Filled()
	if f.Batch != 8 || f.ResendDelayMin != time.Second {
		t.Errorf("Filled changed set fields: Batch %d ResendDelayMin %v", f.Batch, f.ResendDelayMin)
	}
	if f.MaxPacketSize != 512 || f.CRCBytes != 2 || f.Shards < 1 || f.MaxSessionsPerShard != f.MaxSessions || f.TimerSlot != 4*time.Millisecond {
		t.Errorf("Filled left defaults out: %+v", f)
	}
	if c.MaxPacketSize != 0 {
		t.Error("Filled modified its receiver")
	}
	if g := f.Filled(); g.Batch != f.Batch || g.MaxSessions != f.MaxSessions || g.KeepaliveDelay != f.KeepaliveDelay {
		t.Error("Filled is not idempotent")
	}
}

// sample is one scraped series.
type sample struct {
	labels map[string]string
	value  float64
}

// gather scrapes c through a pedantic registry (which also checks that
// Describe and Collect agree): metric name -> its series.
func gather(t *testing.T, c prometheus.Collector) map[string][]sample {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]sample{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			s := sample{labels: map[string]string{}, value: m.GetCounter().GetValue() + m.GetGauge().GetValue()}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			out[mf.GetName()] = append(out[mf.GetName()], s)
		}
	}
	return out
}

// TestCollectorOutcomes sends three datagrams that land in three different
// outcomes and checks eqgate_datagrams_total accounts for each, adds up to
// what was received, and that the socket facts are exported.
func TestCollectorOutcomes(t *testing.T) {
	defer checkLeaks(t)()
	srv, err := Listen("127.0.0.1:0", Config{Shards: 1}, &echoHandler{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(srv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, d := range [][]byte{
		{0x00},                         // short
		{0x00, 0x01, 0x00},             // SessionRequest under 14 bytes: bad_request
		{0x00, 0x09, 0x00, 0x00, 0x01}, // OP_Packet from an unknown endpoint: answered (5 bytes or more)
	} {
		if _, err := conn.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	// One shard, one source: the answer to the last datagram means the
	// shard has counted all three.
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := conn.Read(buf); err != nil {
		t.Fatalf("no OutOfSession answer: %v", err)
	}

	m := gather(t, srv.Collector())
	got := map[string]float64{}
	var sum float64
	for _, x := range m["eqgate_datagrams_total"] {
		if x.labels["shard"] != "0" {
			t.Errorf("unexpected shard label %q", x.labels["shard"])
		}
		got[x.labels["outcome"]] = x.value
		sum += x.value
	}
	for o, want := range map[string]float64{"short": 1, "bad_request": 1, "out_of_session": 1, "session": 0, "opened": 0, "handoff": 0} {
		if got[o] != want {
			t.Errorf("outcome %s = %v, want %v (all: %v)", o, got[o], want, got)
		}
	}
	received := m["eqgate_datagrams_received_total"][0].value + m["eqgate_handoffs_received_total"][0].value
	if sum != received || received != 3 {
		t.Errorf("sum of outcomes %v, received %v, want both 3", sum, received)
	}
	if st := srv.Stats().Shards[0]; float64(st.OutOfSession) != got["out_of_session"] || st.Dropped != 2 {
		t.Errorf("Stats disagree with the collector: %+v", st)
	}

	f := srv.Facts()
	if f.RecvBuffer <= 0 || f.SendBuffer <= 0 {
		t.Errorf("Facts buffers %d/%d, want positive", f.RecvBuffer, f.SendBuffer)
	}
	for name, want := range map[string]float64{
		"eqgate_socket_receive_buffer_bytes": float64(f.RecvBuffer),
		"eqgate_socket_send_buffer_bytes":    float64(f.SendBuffer),
		"eqgate_socket_buffer_forced":        b2f(f.BufferForced),
		"eqgate_steering_enabled":            b2f(f.Steering),
		"eqgate_gso_enabled":                 b2f(f.GSO),
		"eqgate_shard_up":                    1,
	} {
		if len(m[name]) != 1 || m[name][0].value != want {
			t.Errorf("%s = %v, want one series of %v", name, m[name], want)
		}
	}
}

func TestHealthyAndShutdown(t *testing.T) {
	defer checkLeaks(t)()
	srv, err := Listen("127.0.0.1:0", Config{Shards: 2}, &echoHandler{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Healthy(); err != nil {
		t.Fatalf("Healthy after Listen = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	if err := srv.Healthy(); !errors.Is(err, ErrUnhealthy) {
		t.Errorf("Healthy after Shutdown = %v, want ErrUnhealthy", err)
	}
	if v := gather(t, srv.Collector())["eqgate_shard_up"][0].value; v != 0 {
		t.Errorf("eqgate_shard_up = %v after Shutdown", v)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("Close after Shutdown = %v", err)
	}
}

// TestShutdownGivesUp: a shard stuck in a callback cannot drain; Shutdown
// returns at its context's end instead of waiting for it.
func TestShutdownGivesUp(t *testing.T) {
	defer checkLeaks(t)()
	srv, err := Listen("127.0.0.1:0", Config{Shards: 1}, &echoHandler{})
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	if err := srv.Post(0, func() { close(started); <-release }); err != nil {
		t.Fatal(err)
	}
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown with a stuck shard = %v, want context.Canceled", err)
	}
	if err := srv.Healthy(); err != nil {
		t.Errorf("Healthy while the loop is still in a callback = %v, want nil", err)
	}
	close(release)
	if err := srv.Close(); err != nil {
		t.Errorf("Close after an abandoned Shutdown = %v", err)
	}
	if err := srv.Healthy(); !errors.Is(err, ErrUnhealthy) {
		t.Errorf("Healthy after Close = %v, want ErrUnhealthy", err)
	}
}
