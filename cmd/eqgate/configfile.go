package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// The -config file (tuning.md, "Config file"). Its keys are the flags'
// names without the dash, with the same values, and each one is applied
// with flag.FlagSet.Set: the file goes through exactly the parsers and
// checks the command line does. The top level holds global settings; each
// [listener.NAME] section is one listener (one -listen with its ports)
// whose keys override the global ones; flags given on the command line
// override both, in every listener.
//
//	log-format = "json"
//	shards = 2
//
//	[listener.login]
//	listen = "0.0.0.0:5998"
//
//	[listener.zones]
//	listen = "0.0.0.0:7000-7099"
//	encode = "compress"

// processWide are the flags that set the process, not a listener: allowed at
// the top of the file only.
var processWide = map[string]bool{
	"metrics": true, "pprof": true, "drain-timeout": true, "drain-flush": true,
	"log-format": true, "log-level": true, "log-every": true,
}

// notInFile are the flags a file cannot set.
var notInFile = map[string]bool{"config": true, "check-config": true}

// configFile is a parsed -config file.
type configFile struct {
	path     string
	md       toml.MetaData
	global   []fileKey
	sections []fileSection
}

type fileSection struct {
	name string
	keys []fileKey
}

// fileKey is one key = value, decoded only when applied, so that its error
// carries its line (toml reports it for errors from an Unmarshaler).
type fileKey struct {
	name string
	val  toml.Primitive
	// line is where a table that only [name.x] headers define starts:
	// toml knows no line for the implicit table itself.
	line int
}

// readConfigFile parses path; every key is checked against the flag names
// when applied (apply), so an unknown key fails there with its line.
func readConfigFile(path string) (*configFile, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cf := &configFile{path: path}
	var top map[string]toml.Primitive
	if cf.md, err = toml.Decode(string(text), &top); err != nil {
		return nil, cf.locate(err, 0)
	}
	var sections map[string]map[string]toml.Primitive
	if p, ok := top["listener"]; ok {
		if err := cf.md.PrimitiveDecode(p, &sections); err != nil {
			return nil, cf.locate(err, 0)
		}
	}
	// md.Keys keeps the file's order, so the first error is the first in
	// the file and listeners start in the order they are written.
	global := map[string]bool{}
	index := map[string]int{} // section name -> cf.sections
	for _, k := range cf.md.Keys() {
		switch {
		case len(k) == 1 && k[0] == "listener":
		case k[0] != "listener":
			// A table ([a.b]) names its parent only implicitly: the parent
			// is the key, refused when applied unless a flag takes a table.
			if !global[k[0]] {
				global[k[0]] = true
				fk := fileKey{name: k[0], val: top[k[0]]}
				if len(k) > 1 {
					fk.line = cf.lineOf(fk.val, k[1])
				}
				cf.global = append(cf.global, fk)
			}
		default: // listener.NAME[.key]: dotted keys may name NAME only here
			i, ok := index[k[1]]
			if !ok {
				i = len(cf.sections)
				index[k[1]] = i
				cf.sections = append(cf.sections, fileSection{name: k[1]})
			}
			if len(k) == 3 {
				cf.sections[i].keys = append(cf.sections[i].keys, fileKey{name: k[2], val: sections[k[1]][k[2]]})
			}
		}
		// Deeper keys belong to a table under one of these: the key that
		// holds it is refused when applied.
	}
	return cf, nil
}

// locate turns a toml error into "FILE:LINE: message"; line stands in
// where toml knows none.
func (cf *configFile) locate(err error, line int) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		if pe.Position.Line > 0 {
			line = pe.Position.Line
		}
		return fmt.Errorf("%s:%d: %s", cf.path, line, pe.Message)
	}
	return fmt.Errorf("%s: %v", cf.path, err)
}

// lineOf is the line of key b inside table a, or 0. toml reports lines
// only with errors from an Unmarshaler, so it decodes b into one that
// always fails.
func (cf *configFile) lineOf(a toml.Primitive, b string) int {
	var m map[string]toml.Primitive
	if cf.md.PrimitiveDecode(a, &m) != nil {
		return 0
	}
	var pe toml.ParseError
	if p, ok := m[b]; ok && errors.As(cf.md.PrimitiveDecode(p, failing{}), &pe) {
		return pe.Position.Line
	}
	return 0
}

type failing struct{}

func (failing) UnmarshalTOML(any) error { return errors.New("") }

// apply sets keys in fs (section "" is the top level), recording each in
// o.from.
func (cf *configFile) apply(fs *flag.FlagSet, o *options, section string, keys []fileKey) error {
	for _, k := range keys {
		s := &keySetter{fs: fs, o: o, key: k.name, section: section, sections: len(cf.sections) > 0}
		if err := cf.md.PrimitiveDecode(k.val, s); err != nil {
			return cf.locate(err, k.line)
		}
		o.from[k.name] = filepath.Base(cf.path)
	}
	return nil
}

// keySetter applies one key's value through its flag. It is a
// toml.Unmarshaler so that its errors come back with the key's line.
type keySetter struct {
	fs       *flag.FlagSet
	o        *options
	key      string
	section  string // "" at the top level
	sections bool   // the file has listener sections
}

func (s *keySetter) UnmarshalTOML(v any) error {
	where := "at the top level"
	if s.section != "" {
		where = "in [listener." + s.section + "]"
	}
	f := s.fs.Lookup(s.key)
	switch {
	case f == nil || notInFile[s.key]:
		return fmt.Errorf("unknown key %q %s (keys are the flags' names without the dash; see tuning.md)", s.key, where)
	case s.section != "" && processWide[s.key]:
		return fmt.Errorf("key %q is process-wide: set it at the top level, before the first [listener.NAME]", s.key)
	case s.section == "" && s.sections && (s.key == "listen" || s.key == "backend"):
		return fmt.Errorf("key %q at the top level: with [listener.NAME] sections each section has its own", s.key)
	}
	vals, err := flagStrings(v, s.key == "listen" || s.key == "backend")
	if err != nil {
		return fmt.Errorf("key %q %s: %v", s.key, where, err)
	}
	for _, val := range vals {
		if err := s.fs.Set(s.key, val); err != nil {
			if _, isInt := v.(int64); isInt && isDuration(f) {
				err = errors.New(`want a duration string such as "10s"`)
			}
			return fmt.Errorf("key %q %s: invalid value %q: %v", s.key, where, val, err)
		}
	}
	if msg := defaulted(s.key, &s.o.cfg); msg != "" {
		return fmt.Errorf("key %q %s: %s", s.key, where, msg)
	}
	return nil
}

// flagStrings is a TOML value as the flag's text: strings as they are,
// numbers and booleans printed; an array only where the flag repeats.
func flagStrings(v any, repeats bool) ([]string, error) {
	switch x := v.(type) {
	case string:
		return []string{x}, nil
	case int64:
		return []string{strconv.FormatInt(x, 10)}, nil
	case float64:
		return []string{strconv.FormatFloat(x, 'g', -1, 64)}, nil
	case bool:
		return []string{strconv.FormatBool(x)}, nil
	case []any:
		if !repeats {
			return nil, errors.New("want one value, not an array")
		}
		var out []string
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, errors.New("want an array of address strings")
			}
			out = append(out, s)
		}
		if len(out) == 0 {
			return nil, errors.New("empty array")
		}
		return out, nil
	case map[string]any:
		return nil, errors.New("want a value, not a table")
	}
	return nil, fmt.Errorf("want a string, number or boolean, not %T", v)
}

func isDuration(f *flag.Flag) bool {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return false
	}
	_, ok = g.Get().(time.Duration)
	return ok
}

// loadOptions turns the command line, and the -config file it names, into
// one options per listener. The layers, each over the one before: the
// defaults, the file's top level, the listener's section, the command line.
// -listen and -backend on the command line name the listener of a file
// without sections; with sections they are refused (each section has its
// own).
func loadOptions(args []string) ([]*options, error) {
	cli, err := parseCommandLine(args)
	if err != nil {
		return nil, err
	}
	if cli.config == "" {
		if err := finish(cli.flags, cli.options); err != nil {
			return nil, err
		}
		return []*options{cli.options}, nil
	}
	cf, err := readConfigFile(cli.config)
	if err != nil {
		return nil, err
	}
	sections := cf.sections
	if len(sections) == 0 {
		sections = []fileSection{{name: "default"}}
	} else if len(cli.listen) > 0 || len(cli.backend) > 0 {
		return nil, fmt.Errorf("flags -listen and -backend cannot be combined with the [listener.NAME] sections of %s: set listen in a section", cf.path)
	}
	var out []*options
	seen := map[string]string{} // port -> listener, to refuse one port twice
	for _, sec := range sections {
		o := new(options)
		fs := newFlagSet(o)
		o.from = map[string]string{}
		if err := cf.apply(fs, o, "", cf.global); err != nil {
			return nil, err
		}
		if err := cf.apply(fs, o, sec.name, sec.keys); err != nil {
			return nil, err
		}
		// The command line replaces a repeatable setting, never adds to it.
		if cli.given["listen"] {
			o.listen = nil
		}
		if cli.given["backend"] {
			o.backend = nil
		}
		if err := fs.Parse(args); err != nil { // parsed once already: cannot fail
			return nil, err
		}
		fs.Visit(func(f *flag.Flag) {
			if cli.given[f.Name] {
				o.from[f.Name] = "flag"
			}
		})
		o.name = sec.name
		if err := finish(fs, o); err != nil {
			return nil, fmt.Errorf("%s [listener.%s]: %s", cf.path, sec.name, strings.TrimPrefix(err.Error(), "eqgate: "))
		}
		for _, a := range o.listen {
			if strings.HasSuffix(a, ":0") {
				continue // a free port each
			}
			if other, dup := seen[a]; dup {
				return nil, fmt.Errorf("%s: %s is in [listener.%s] and [listener.%s]", cf.path, a, other, sec.name)
			}
			seen[a] = sec.name
		}
		out = append(out, o)
	}
	return out, nil
}

// commandLine is the parsed command line before any file.
type commandLine struct {
	*options
	given map[string]bool
}

func parseCommandLine(args []string) (commandLine, error) {
	o := new(options)
	fs := newFlagSet(o)
	if err := fs.Parse(args); err != nil {
		return commandLine{}, err
	}
	if fs.NArg() > 0 {
		return commandLine{}, fmt.Errorf("unexpected argument %q (every setting is a flag; see -h)", fs.Arg(0))
	}
	o.flags = fs
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	return commandLine{o, given}, nil
}

// writeConfig prints the effective configuration as a -config file: the
// process-wide keys, then every listener with every setting (after the
// variant's defaults), each marked with where it came from when not a
// default. Loading the output gives the same configuration.
func writeConfig(w io.Writer, ls []*options) {
	fmt.Fprintf(w, "# eqgate -check-config: the effective configuration, every setting.\n"+
		"# Load it with eqgate -config FILE; tuning.md explains each key.\n\n")
	ls[0].flags.VisitAll(func(f *flag.Flag) {
		if processWide[f.Name] {
			writeKey(w, ls[0], f)
		}
	})
	for _, o := range ls {
		fmt.Fprintf(w, "\n[listener.%s]\n", tomlKey(o.name))
		fmt.Fprintf(w, "listen = %s%s\n", tomlStrings(o.listenSpec), origin(o, "listen"))
		if o.handler == "relay" {
			fmt.Fprintf(w, "backend = %s%s\n", tomlStrings(o.backendSpec), origin(o, "backend"))
		}
		o.flags.VisitAll(func(f *flag.Flag) {
			switch {
			case processWide[f.Name], notInFile[f.Name], f.Name == "listen", f.Name == "backend":
			case strings.HasPrefix(f.Name, "relay-") && o.handler != "relay":
			default:
				writeKey(w, o, f)
			}
		})
	}
}

func writeKey(w io.Writer, o *options, f *flag.Flag) {
	fmt.Fprintf(w, "%s = %s%s\n", f.Name, tomlValue(f), origin(o, f.Name))
}

// origin is the comment saying where a setting came from ("" for a default).
func origin(o *options, name string) string {
	switch f := o.from[name]; f {
	case "":
		return ""
	case "flag":
		return " # -" + name
	default:
		return " # " + f
	}
}

// tomlValue is a flag's value in TOML: numbers and booleans bare, the rest
// (durations, names) quoted, as the flag's own text.
func tomlValue(f *flag.Flag) string {
	if g, ok := f.Value.(flag.Getter); ok {
		switch v := g.Get().(type) {
		case bool:
			return strconv.FormatBool(v)
		case int:
			return strconv.Itoa(v)
		case float64:
			return strconv.FormatFloat(v, 'g', -1, 64)
		}
	}
	return strconv.Quote(f.Value.String())
}

func tomlStrings(s []string) string {
	if len(s) == 1 {
		return strconv.Quote(s[0])
	}
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = strconv.Quote(x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// tomlKey quotes a section name that is not a bare key.
func tomlKey(s string) string {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return strconv.Quote(s)
		}
	}
	return s
}
