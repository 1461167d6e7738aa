package main

import (
	"errors"
	"flag"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eqgate/eqgate"
)

// sampleValue returns a flag value that differs from the field's default.
func sampleValue(t *testing.T, flagName string, def reflect.Value) string {
	t.Helper()
	switch flagName {
	case "crc-bytes":
		return "4"
	case "encode":
		return "compress+xor"
	case "compress-level":
		return "fast"
	case "variant":
		return "eq2"
	case "handler-panic":
		return "close"
	}
	switch v := def.Interface().(type) {
	case time.Duration:
		return (v*2 + time.Millisecond).String()
	case int:
		return strconv.Itoa(v + 1)
	case float64:
		return strconv.FormatFloat(v+0.5, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(!v)
	}
	t.Fatalf("flag -%s: no sample for %s", flagName, def.Type())
	return ""
}

// notFlags lists the Config fields that deliberately have no flag, and why.
var notFlags = map[string]string{
	"Rand": "a function, for embedding code replaying captures; an operator has nothing to set",
	"ShareSockets": "applies to sessions dialled from a specific address; the relay's backend legs dial " +
		"from any address, so a flag would change nothing (eqbench's -share sets it for its client)",
}

// TestEveryConfigFieldHasAFlag walks eqgate.Config by reflection: every
// field must have a flag, and setting that flag must change that field and
// no other.
func TestEveryConfigFieldHasAFlag(t *testing.T) {
	var base options
	newFlagSet(&base)
	ct := reflect.TypeFor[eqgate.Config]()
	seen := map[string]bool{}
	for i := range ct.NumField() {
		field := ct.Field(i)
		name, ok := configFlags[field.Name]
		if _, exempt := notFlags[field.Name]; exempt && !ok {
			continue
		}
		if !ok {
			t.Errorf("Config.%s has no flag (add it to configFlags and newFlagSet)", field.Name)
			continue
		}
		seen[field.Name] = true
		t.Run(name, func(t *testing.T) {
			var o options
			fs := newFlagSet(&o)
			if fs.Lookup(name) == nil {
				t.Fatalf("flag -%s for Config.%s is not defined", name, field.Name)
			}
			if fs.Lookup(name).Usage == "" {
				t.Errorf("flag -%s has no help", name)
			}
			val := sampleValue(t, name, reflect.ValueOf(base.cfg).Field(i))
			if err := fs.Parse([]string{"-" + name + "=" + val}); err != nil {
				t.Fatal(err)
			}
			got, want := reflect.ValueOf(o.cfg), reflect.ValueOf(base.cfg)
			for j := range ct.NumField() {
				same := reflect.DeepEqual(got.Field(j).Interface(), want.Field(j).Interface())
				if j == i && same {
					t.Errorf("-%s=%s left Config.%s at %v", name, val, field.Name, got.Field(j))
				}
				if j != i && !same {
					t.Errorf("-%s=%s changed Config.%s too", name, val, ct.Field(j).Name)
				}
			}
		})
	}
	for f := range configFlags {
		if !seen[f] {
			t.Errorf("configFlags names Config.%s, which does not exist", f)
		}
	}
}

// TestDefaultsAreLibraryDefaults: no flags means eqgate.DefaultConfig
// (MaxSessionsPerShard 0 means "same as -max-sessions" there too).
func TestDefaultsAreLibraryDefaults(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := eqgate.DefaultConfig()
	want.MaxSessionsPerShard = 0
	if !reflect.DeepEqual(o.cfg, want) {
		t.Errorf("default config\n got %+v\nwant %+v", o.cfg, want)
	}
	if got := []string(o.listen); len(got) != 1 || got[0] != "0.0.0.0:9000" {
		t.Errorf("listen = %v, want [0.0.0.0:9000]", got)
	}
	if o.metrics != "127.0.0.1:9100" || o.handler != "echo" || o.pprof {
		t.Errorf("metrics=%q handler=%q pprof=%v", o.metrics, o.handler, o.pprof)
	}
}

// TestEveryFlagInTuning: tuning.md lists every flag as `-name`.
func TestEveryFlagInTuning(t *testing.T) {
	doc, err := os.ReadFile("../../tuning.md")
	if err != nil {
		t.Fatal(err)
	}
	fs := newFlagSet(new(options))
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(string(doc), "`-"+f.Name+"`") {
			t.Errorf("flag -%s is not listed in tuning.md", f.Name)
		}
	})
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string // substring; "" means success
		check   func(t *testing.T, o *options)
	}{
		{name: "listen repeats", args: []string{"-listen", "127.0.0.1:1", "-listen", ":2"}, check: func(t *testing.T, o *options) {
			if got := o.listen.String(); got != "127.0.0.1:1,:2" {
				t.Errorf("listen = %q", got)
			}
		}},
		{name: "crc 0 is none", args: []string{"-crc-bytes", "0"}, check: func(t *testing.T, o *options) {
			if o.cfg.CRCBytes != -1 {
				t.Errorf("CRCBytes = %d, want -1", o.cfg.CRCBytes)
			}
		}},
		{name: "metrics off", args: []string{"-metrics="}, check: func(t *testing.T, o *options) {
			if o.metrics != "" {
				t.Errorf("metrics = %q", o.metrics)
			}
		}},
		{name: "log level", args: []string{"-log-level", "warn", "-log-format", "json"}, check: func(t *testing.T, o *options) {
			if o.logLevel.String() != "WARN" || o.logFormat != "json" {
				t.Errorf("level %v format %q", o.logLevel, o.logFormat)
			}
		}},
		{name: "bad crc", args: []string{"-crc-bytes", "3"}, wantErr: "-crc-bytes"},
		{name: "bad encode", args: []string{"-encode", "rot13"}, wantErr: "-encode"},
		{name: "bad handler", args: []string{"-handler", "proxy"}, wantErr: "-handler"},
		{name: "bad log format", args: []string{"-log-format", "xml"}, wantErr: "-log-format"},
		{name: "bad log level", args: []string{"-log-level", "loud"}, wantErr: "-log-level"},
		{name: "bad int", args: []string{"-shards", "many"}, wantErr: "-shards"},
		{name: "bad duration", args: []string{"-keepalive", "9"}, wantErr: "-keepalive"},
		// 0 where the Config would substitute its default is refused, never
		// run with another number; where 0 is a setting it is honoured.
		{name: "zero batch", args: []string{"-batch", "0"}, wantErr: "-batch"},
		{name: "zero per-ip cap", args: []string{"-max-sessions-per-ip", "0"}, wantErr: "-max-sessions-per-ip"},
		{name: "zero keepalive", args: []string{"-keepalive", "0s"}, wantErr: "-keepalive"},
		{name: "zero shards", args: []string{"-shards", "0"}, wantErr: "-shards"},
		{name: "zero peer budget", args: []string{"-peer-buffer-budget", "0"}, wantErr: "-peer-buffer-budget"},
		{name: "negative peer budget is none", args: []string{"-peer-buffer-budget", "-1"}, check: func(t *testing.T, o *options) {
			if o.cfg.PeerBufferBudget != -1 {
				t.Errorf("PeerBufferBudget %d", o.cfg.PeerBufferBudget)
			}
		}},
		{name: "zero per-shard cap is -max-sessions", args: []string{"-max-sessions-per-shard", "0", "-max-sessions", "10"}, check: func(t *testing.T, o *options) {
			if f := o.cfg.Filled(); f.MaxSessionsPerShard != 10 {
				t.Errorf("MaxSessionsPerShard filled = %d, want 10", f.MaxSessionsPerShard)
			}
		}},
		{name: "zero hold delay", args: []string{"-hold-delay", "0s", "-data-rate", "0"}, check: func(t *testing.T, o *options) {
			if o.cfg.HoldDelay != 0 || o.cfg.DataRate != 0 {
				t.Errorf("HoldDelay %v DataRate %v", o.cfg.HoldDelay, o.cfg.DataRate)
			}
		}},
		{name: "zero drain", args: []string{"-drain-timeout", "0s"}, wantErr: "-drain-timeout"},
		{name: "unknown flag", args: []string{"-bogus"}, wantErr: "-bogus"},
		{name: "empty listen", args: []string{"-listen="}, wantErr: "-listen"},
		{name: "positional", args: []string{"9000"}, wantErr: `"9000"`},
		{name: "help", args: []string{"-h"}, wantErr: flag.ErrHelp.Error()},
		{name: "listen range", args: []string{"-listen", "127.0.0.1:7000-7002", "-listen", ":9"}, check: func(t *testing.T, o *options) {
			if got := o.listen.String(); got != "127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002,:9" {
				t.Errorf("listen = %q", got)
			}
		}},
		{name: "relay ranges pair port i to port i", args: []string{"-handler", "relay",
			"-listen", "0.0.0.0:7000-7002", "-backend", "10.0.0.9:17000-17002",
			"-listen", "[::]:9000", "-backend", "backend.example:5998"}, check: func(t *testing.T, o *options) {
			if got, want := o.listen.String(), "0.0.0.0:7000,0.0.0.0:7001,0.0.0.0:7002,[::]:9000"; got != want {
				t.Errorf("listen = %q, want %q", got, want)
			}
			if got, want := o.backend.String(), "10.0.0.9:17000,10.0.0.9:17001,10.0.0.9:17002,backend.example:5998"; got != want {
				t.Errorf("backend = %q, want %q", got, want)
			}
		}},
		{name: "relay without backend", args: []string{"-handler", "relay", "-listen", ":1"}, wantErr: "-backend"},
		{name: "relay ranges of unequal length", args: []string{"-handler", "relay", "-listen", ":7000-7099", "-backend", "h:17000-17098"}, wantErr: "has 100 ports but its -backend h:17000-17098 has 99"},
		{name: "backend without relay", args: []string{"-backend", "h:1"}, wantErr: "-handler relay"},
		{name: "reversed range", args: []string{"-listen", ":7001-7000"}, wantErr: "-listen"},
		{name: "range from port 0", args: []string{"-listen", ":0-3"}, wantErr: "-listen"},
		{name: "bad backend range", args: []string{"-handler", "relay", "-listen", ":1", "-backend", "h:x-y"}, wantErr: "-backend"},
		{name: "zero pending", args: []string{"-handler", "relay", "-listen", ":1", "-backend", "h:1", "-relay-max-pending", "0"}, wantErr: "-relay-max-pending"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error is not one line: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, o)
		})
	}
}

func TestEncodeFlag(t *testing.T) {
	for _, e := range []eqgate.Encoding{eqgate.EncodeNone, eqgate.EncodeXOR, eqgate.EncodeCompress, eqgate.EncodeCompressXOR, eqgate.EncodeXORCompress} {
		t.Run(e.String(), func(t *testing.T) {
			o, err := parseFlags([]string{"-encode", e.String()})
			if err != nil {
				t.Fatal(err)
			}
			if o.cfg.Encoding != e {
				t.Errorf("-encode %s: Encoding = %v", e, o.cfg.Encoding)
			}
		})
	}
}

func TestFlagHint(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"two fields", eqgate.Config{MaxPacketSize: 1024, DatagramBuffer: 1000}.Validate(), " (flag -datagram-buffer, -max-packet)"},
		{"one field", eqgate.Config{Batch: 5000}.Validate(), " (flag -batch)"},
		{"no field", errors.New("eqgate: invalid config: nil Handler"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := flagHint(tt.err); got != tt.want {
				t.Errorf("flagHint(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}
