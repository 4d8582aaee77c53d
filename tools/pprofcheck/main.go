// pprofcheck: strict validity check of pprof profiles, with the profile
// package that continuous-profiling scrapers (Parca, Pyroscope) and
// `go tool pprof` use themselves (Debian's golang-github-google-pprof-dev).
//
// Usage (flags: -min-samples N, -want-label k=v, -want-function NAME,
// -sum-function NAME):
//
//	pprofcheck -kind KIND [flags] FILE...
//
// For every FILE (gzipped or not; "-" reads stdin) it
//   - parses it with profile.Parse and runs Profile.CheckValid;
//   - requires every Location to have a Mapping (an ingester has crashed on
//     a Location without one);
//   - requires sample types, period type, period and the effective default
//     sample type to be what Go's runtime/pprof writes for KIND;
//   - optionally requires at least N samples, a sample carrying each wanted
//     string label, and a sample whose stack has a function whose name
//     contains each wanted NAME;
//   - with -sum-function NAME, prints "sum NAME <value> <unit>": the default
//     sample type summed over samples whose stack has such a function.
//
// It prints one "ok ..." line per file, or the problems found, and exits 1
// when any file fails, 2 on bad usage.
//
// Build offline from the Debian source tree (no module download):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o pprofcheck main.go
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/google/pprof/profile"
)

type valueType struct{ typ, unit string }

// expectation is what Go's runtime/pprof writes for one profile kind.
type expectation struct {
	sampleTypes   []valueType
	periodType    valueType
	period        int64 // 0: any positive period
	defaultSample string
}

var heapTypes = []valueType{
	{"alloc_objects", "count"}, {"alloc_space", "bytes"},
	{"inuse_objects", "count"}, {"inuse_space", "bytes"},
}
var contentionTypes = []valueType{{"contentions", "count"}, {"delay", "nanoseconds"}}

// Go: writeHeapProto (period = MemProfileRate, default inuse_space by being
// last; allocs names alloc_space), printCountProfile (name/count, period 1),
// profileBuilder for CPU (samples/count + cpu/nanoseconds, period 1e9/hz),
// printCountCycleProfile for mutex and block (contentions/count, period 1).
var kinds = map[string]expectation{
	"heap":          {heapTypes, valueType{"space", "bytes"}, 0, "inuse_space"},
	"allocs":        {heapTypes, valueType{"space", "bytes"}, 0, "alloc_space"},
	"goroutine":     {[]valueType{{"goroutine", "count"}}, valueType{"goroutine", "count"}, 1, "goroutine"},
	"goroutineleak": {[]valueType{{"goroutineleak", "count"}}, valueType{"goroutineleak", "count"}, 1, "goroutineleak"},
	"cpu": {[]valueType{{"samples", "count"}, {"cpu", "nanoseconds"}},
		valueType{"cpu", "nanoseconds"}, 0, "cpu"},
	"mutex": {contentionTypes, valueType{"contentions", "count"}, 1, "delay"},
	"block": {contentionTypes, valueType{"contentions", "count"}, 1, "delay"},
	// syncscope's own: dominator chains valued by retained bytes.
	"retained": {[]valueType{{"retained_objects", "count"}, {"retained_space", "bytes"}},
		valueType{"space", "bytes"}, 0, "retained_space"},
}

type labelList []string

func (l *labelList) String() string     { return strings.Join(*l, ",") }
func (l *labelList) Set(v string) error { *l = append(*l, v); return nil }

func effectiveDefault(p *profile.Profile) string {
	if p.DefaultSampleType != "" {
		return p.DefaultSampleType
	}
	if len(p.SampleType) == 0 {
		return ""
	}
	return p.SampleType[len(p.SampleType)-1].Type
}

func checkKind(p *profile.Profile, want expectation) []string {
	var errs []string
	got := make([]valueType, len(p.SampleType))
	for i, st := range p.SampleType {
		got[i] = valueType{st.Type, st.Unit}
	}
	if fmt.Sprint(got) != fmt.Sprint(want.sampleTypes) {
		errs = append(errs, fmt.Sprintf("sample types %v, want %v", got, want.sampleTypes))
	}
	if p.PeriodType == nil {
		errs = append(errs, "period type missing")
	} else if pt := (valueType{p.PeriodType.Type, p.PeriodType.Unit}); pt != want.periodType {
		errs = append(errs, fmt.Sprintf("period type %v, want %v", pt, want.periodType))
	}
	if want.period != 0 && p.Period != want.period {
		errs = append(errs, fmt.Sprintf("period %d, want %d", p.Period, want.period))
	}
	if p.Period <= 0 {
		errs = append(errs, fmt.Sprintf("period %d, want > 0", p.Period))
	}
	if d := effectiveDefault(p); d != want.defaultSample {
		errs = append(errs, fmt.Sprintf("default sample type %q, want %q", d, want.defaultSample))
	}
	return errs
}

func checkStructure(p *profile.Profile) []string {
	var errs []string
	for _, l := range p.Location {
		if l.Mapping == nil {
			errs = append(errs, fmt.Sprintf("location %d (%#x) has no mapping", l.ID, l.Address))
			if len(errs) > 5 {
				break
			}
		}
	}
	for _, s := range p.Sample {
		if len(s.Location) == 0 {
			errs = append(errs, "a sample has no locations")
			break
		}
	}
	return errs
}

func hasLabel(p *profile.Profile, key, value string) bool {
	for _, s := range p.Sample {
		for _, v := range s.Label[key] {
			if v == value {
				return true
			}
		}
	}
	return false
}

// stackHas reports whether a sample's stack has a function whose name
// contains name.
func stackHas(s *profile.Sample, name string) bool {
	for _, loc := range s.Location {
		for _, ln := range loc.Line {
			if ln.Function != nil && strings.Contains(ln.Function.Name, name) {
				return true
			}
		}
	}
	return false
}

func sumFunction(p *profile.Profile, name string) (int64, string) {
	idx := len(p.SampleType) - 1
	want := effectiveDefault(p)
	for i, st := range p.SampleType {
		if st.Type == want {
			idx = i
		}
	}
	var sum int64
	for _, s := range p.Sample {
		if stackHas(s, name) {
			sum += s.Value[idx]
		}
	}
	return sum, p.SampleType[idx].Unit
}

func labelKeys(p *profile.Profile) string {
	seen := map[string]bool{}
	for _, s := range p.Sample {
		for k := range s.Label {
			seen[k] = true
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

type checks struct {
	minSamples int
	labels     labelList
	functions  labelList
	sum        string
}

func checkFile(name string, want expectation, c checks) error {
	var r io.Reader
	if name == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	p, err := profile.Parse(r)
	if err != nil {
		return fmt.Errorf("parse: %v", err)
	}
	if err := p.CheckValid(); err != nil {
		return fmt.Errorf("CheckValid: %v", err)
	}
	errs := append(checkKind(p, want), checkStructure(p)...)
	if len(p.Sample) < c.minSamples {
		errs = append(errs, fmt.Sprintf("%d samples, want at least %d", len(p.Sample), c.minSamples))
	}
	for _, fn := range c.functions {
		found := false
		for _, s := range p.Sample {
			found = found || stackHas(s, fn)
		}
		if !found {
			errs = append(errs, fmt.Sprintf("no sample's stack has a function named like %q", fn))
		}
	}
	for _, kv := range c.labels {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !hasLabel(p, k, v) {
			errs = append(errs, fmt.Sprintf("no sample has label %s (label keys: %s)", kv, labelKeys(p)))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	if c.sum != "" && len(p.SampleType) > 0 {
		v, unit := sumFunction(p, c.sum)
		fmt.Printf("sum %s %d %s\n", c.sum, v, unit)
	}
	fmt.Printf("ok %s: %d samples, %d locations, %d mappings, label keys [%s]\n",
		name, len(p.Sample), len(p.Location), len(p.Mapping), labelKeys(p))
	return nil
}

func main() {
	kind := flag.String("kind", "", "profile kind: heap, allocs, goroutine, goroutineleak, cpu, mutex, block, retained")
	var c checks
	flag.IntVar(&c.minSamples, "min-samples", 0, "fail when a profile has fewer samples")
	flag.Var(&c.labels, "want-label", "key=value a sample must carry (repeatable)")
	flag.Var(&c.functions, "want-function", "a function name (substring) some sample's stack must have (repeatable)")
	flag.StringVar(&c.sum, "sum-function", "", "print the default sample type summed over samples whose stack has this function")
	flag.Parse()
	want, ok := kinds[*kind]
	if !ok || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: pprofcheck -kind KIND [-min-samples N] [-want-label k=v]... FILE...")
		os.Exit(2)
	}
	failed := false
	for _, name := range flag.Args() {
		if err := checkFile(name, want, c); err != nil {
			fmt.Printf("FAIL %s: %v\n", name, err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}
