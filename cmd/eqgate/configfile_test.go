package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/eqgate/eqgate"
	"github.com/eqgate/eqgate/proto"
)

// writeFile writes text to a file in a fresh temp directory.
func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const layeredFile = `shards = 3
encode = "xor"
log-format = "json"
max-sessions-per-ip = 64

[listener.login]
listen = "127.0.0.1:5998"
shards = 1
encode = "none"

[listener.zones]
listen = ["127.0.0.1:7000-7002", "127.0.0.1:7100"]
encode = "compress"
variant = "legacy"
handler = "discard"
`

// TestConfigFileLayers: each listener section gets the defaults, then the
// file's top level, then its own keys, then the command line; two
// listeners of one file run different shard counts and encodings.
func TestConfigFileLayers(t *testing.T) {
	path := writeFile(t, "eqgate.toml", layeredFile)
	ls, err := loadOptions([]string{"-config", path, "-max-sessions-per-ip", "9"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || ls[0].name != "login" || ls[1].name != "zones" {
		t.Fatalf("listeners %d, want login then zones", len(ls))
	}
	login, zones := ls[0], ls[1]
	if login.cfg.Shards != 1 || login.cfg.Encoding != eqgate.EncodeNone || login.handler != "echo" {
		t.Errorf("login: shards %d encode %v handler %s", login.cfg.Shards, login.cfg.Encoding, login.handler)
	}
	if zones.cfg.Shards != 3 || zones.cfg.Encoding != eqgate.EncodeCompress || zones.handler != "discard" {
		t.Errorf("zones: shards %d encode %v handler %s", zones.cfg.Shards, zones.cfg.Encoding, zones.handler)
	}
	// The variant's defaults fill what no layer set (LEGACY's stale timeout).
	if zones.cfg.Variant != proto.VariantLegacy || zones.cfg.StaleConnection != (eqgate.Config{Variant: proto.VariantLegacy}).Filled().StaleConnection {
		t.Errorf("zones: variant %v stale %v", zones.cfg.Variant, zones.cfg.StaleConnection)
	}
	if got := zones.listen.String(); got != "127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7100" {
		t.Errorf("zones listen %q", got)
	}
	for _, o := range ls {
		if o.cfg.MaxSessionsPerIP != 9 || o.from["max-sessions-per-ip"] != "flag" {
			t.Errorf("%s: -max-sessions-per-ip 9 gave %d (from %q): the command line wins in every listener", o.name, o.cfg.MaxSessionsPerIP, o.from["max-sessions-per-ip"])
		}
		if o.logFormat != "json" {
			t.Errorf("%s: log-format %q", o.name, o.logFormat)
		}
	}
	if login.from["shards"] != "eqgate.toml" || login.from["batch"] != "" {
		t.Errorf("origins %v", login.from)
	}

	// Without sections the top level is the one listener, and -listen
	// replaces its listen.
	path = writeFile(t, "one.toml", "listen = \"127.0.0.1:1\"\nbatch = 32\n")
	ls, err = loadOptions([]string{"-config", path, "-listen", "127.0.0.1:2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].listen.String() != "127.0.0.1:2" || ls[0].cfg.Batch != 32 || ls[0].name != "default" {
		t.Errorf("one listener: %d, listen %q batch %d", len(ls), ls[0].listen.String(), ls[0].cfg.Batch)
	}
}

// TestConfigFileErrors: every mistake is one line naming the file, the
// line where the file is at fault, and the key.
func TestConfigFileErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		args []string
		want []string
	}{
		{"unknown key at the top", "shards = 1\nbogus = 2\n", nil, []string{"eqgate.toml:2:", `unknown key "bogus"`, "top level"}},
		{"unknown key in a section", "[listener.a]\nlisten = \"127.0.0.1:1\"\n\n# typo\nshardz = 2\n", nil, []string{"eqgate.toml:5:", `"shardz"`, "[listener.a]"}},
		{"unknown table", "[listners.a]\nlisten = \"x:1\"\n", nil, []string{"eqgate.toml:1:", `"listners"`}},
		{"table under a section", "[listener.a]\nlisten = \"127.0.0.1:1\"\n[listener.a.shards]\nx = 1\n", nil, []string{"eqgate.toml:3:", `"shards"`, "table"}},
		{"process-wide in a section", "[listener.a]\nlisten = \"127.0.0.1:1\"\nmetrics = \"\"\n", nil, []string{"eqgate.toml:3:", `"metrics"`, "process-wide"}},
		{"listen at the top with sections", "listen = \"127.0.0.1:1\"\n[listener.a]\nlisten = \"127.0.0.1:2\"\n", nil, []string{"eqgate.toml:1:", `"listen"`}},
		{"bad value", "[listener.a]\nlisten = \"127.0.0.1:1\"\nencode = \"zip\"\n", nil, []string{"eqgate.toml:3:", `"encode"`, "zip"}},
		{"duration as a number", "drain-timeout = 30\n", nil, []string{"eqgate.toml:1:", `"drain-timeout"`, `"10s"`}},
		{"zero that means default", "\n\nbatch = 0\n", nil, []string{"eqgate.toml:3:", `"batch"`, "default is 64"}},
		{"array for one value", "shards = [1, 2]\n", nil, []string{"eqgate.toml:1:", `"shards"`, "array"}},
		{"config in the file", "config = \"x.toml\"\n", nil, []string{"eqgate.toml:1:", `"config"`}},
		{"syntax", "shards = 1\nbatch = = 2\n", nil, []string{"eqgate.toml:2:"}},
		{"out of range", "[listener.a]\nlisten = \"127.0.0.1:1\"\nbatch = 5000\n", nil, []string{"[listener.a]", "Batch", "key batch in eqgate.toml"}},
		{"out of range from the flag", "[listener.a]\nlisten = \"127.0.0.1:1\"\n", []string{"-batch", "5000"}, []string{"[listener.a]", "Batch", "flag -batch"}},
		{"relay without backend", "[listener.a]\nlisten = \"127.0.0.1:1\"\nhandler = \"relay\"\n", nil, []string{"[listener.a]", "-backend"}},
		{"one port twice", "[listener.a]\nlisten = \"127.0.0.1:7000-7005\"\n[listener.b]\nlisten = \"127.0.0.1:7005\"\n", nil, []string{"127.0.0.1:7005", "[listener.a]", "[listener.b]"}},
		{"-listen with sections", "[listener.a]\nlisten = \"127.0.0.1:1\"\n", []string{"-listen", "127.0.0.1:2"}, []string{"-listen", "[listener.NAME]"}},
		{"missing file", "", []string{"-config", "/nonexistent/eqgate.toml"}, []string{"/nonexistent/eqgate.toml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-config", writeFile(t, "eqgate.toml", tt.file)}, tt.args...)
			_, err := loadOptions(args)
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

// TestCheckConfigReloads: -check-config's output is a config file that
// loads to the same configuration (every listener, every setting), for the
// shipped example and a file with a relay and a variant.
func TestCheckConfigReloads(t *testing.T) {
	relayFile := layeredFile + `
[listener.world]
listen = "127.0.0.1:9000"
handler = "relay"
backend = "10.0.0.9:19000"
relay-max-pending = 4096
`
	for _, path := range []string{"../../deploy/eqgate.toml", writeFile(t, "relay.toml", relayFile)} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			ls, err := loadOptions([]string{"-config", path})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			writeConfig(&out, ls)
			again, err := loadOptions([]string{"-config", writeFile(t, "effective.toml", out.String())})
			if err != nil {
				t.Fatalf("output does not load: %v\n%s", err, out.String())
			}
			if len(again) != len(ls) {
				t.Fatalf("%d listeners, then %d", len(ls), len(again))
			}
			for i := range ls {
				a, b := ls[i], again[i]
				if !reflect.DeepEqual(a.cfg, b.cfg) || a.name != b.name || a.handler != b.handler ||
					!reflect.DeepEqual(a.listen, b.listen) || !reflect.DeepEqual(a.backend, b.backend) ||
					a.relayPending != b.relayPending || a.metrics != b.metrics || a.drainTimeout != b.drainTimeout {
					t.Errorf("listener %s differs after a reload:\n%+v\n%+v", a.name, a, b)
				}
			}
			// Every setting of every listener is printed.
			for _, o := range ls {
				sec := out.String()[strings.Index(out.String(), "[listener."+o.name+"]"):]
				o.flags.VisitAll(func(f *flag.Flag) {
					if processWide[f.Name] || notInFile[f.Name] || (strings.HasPrefix(f.Name, "relay-") || f.Name == "backend") && o.handler != "relay" {
						return
					}
					if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(f.Name) + ` = `).MatchString(sec) {
						t.Errorf("[listener.%s] does not print %s", o.name, f.Name)
					}
				})
			}
		})
	}
}

// TestCheckConfigBinary: the binary prints the effective config and exits
// 0 for the shipped example, and exits 2 with one line naming the key and
// line for a bad file; it binds nothing either way.
func TestCheckConfigBinary(t *testing.T) {
	code, out, errOut := runBinary(t, "-config", "../../deploy/eqgate.toml", "-check-config", "-shards", "3")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, w := range []string{"[listener.login]", "[listener.zones]", `listen = "0.0.0.0:7000-7009"`, "shards = 3 # -shards", `encode = "compress" # eqgate.toml`} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	bad := writeFile(t, "bad.toml", "[listener.a]\nlisten = \"127.0.0.1:1\"\nbogus = 1\n")
	code, out, errOut = runBinary(t, "-config", bad, "-check-config")
	if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "eqgate: ") || !strings.Contains(errOut, "bad.toml:3:") || !strings.Contains(errOut, `"bogus"`) {
		t.Errorf("bad file: exit %d stdout %q stderr %q", code, out, errOut)
	}
}

// TestConfigFileTwoListenersLive: two listeners of one file, in one
// process, run their own settings: the zone port compresses, the login
// port does not, and each has its own shard count.
func TestConfigFileTwoListenersLive(t *testing.T) {
	path := writeFile(t, "eqgate.toml", `metrics = "127.0.0.1:0"
log-level = "debug"

[listener.login]
listen = "127.0.0.1:0"
shards = 1
encode = "none"

[listener.zones]
listen = "127.0.0.1:0"
shards = 2
encode = "compress"
`)
	g := startGateArgs(t, "-config", path)
	addrs := strings.Split(g.udp, ",")
	if len(addrs) != 2 || !reflect.DeepEqual(g.shardList, []int{1, 2}) {
		t.Fatalf("ready line: udp %q shards %v, want two ports with 1 and 2 shards", g.udp, g.shardList)
	}
	msg := bytes.Repeat([]byte("a compressible zone update "), 20)
	for _, a := range addrs {
		h := newClient(4)
		c, err := eqgate.Dial(a, eqgate.Config{ConnectStale: waitBound / 2}, h)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		for range 4 {
			if err := c.Send(0, msg, true); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-h.done:
		case <-time.After(waitBound):
			t.Fatalf("%s: no echoes", a)
		}
	}
	ratio := map[string]float64{}
	var list []sessionView
	getJSON(t, g.base+"/debug/sessions?format=json", &list)
	for _, v := range list {
		ratio[v.Listen] = v.CompressionOut
	}
	if len(ratio) != 2 {
		t.Fatalf("sessions on %d ports, want 2: %+v", len(ratio), list)
	}
	if r := ratio[addrs[0]]; r < 1 {
		t.Errorf("login (encode none): wire/decoded out %.2f, want >= 1 (uncompressed)", r)
	}
	if r := ratio[addrs[1]]; r > 0.5 {
		t.Errorf("zones (encode compress): wire/decoded out %.2f, want well under 1", r)
	}
	g.waitLog(t, "msg=listener", "listen="+addrs[1], "shards=2", "encode=compress")
}
