package mapbench

import "testing"

// BenchmarkMap runs every workload over every system as
// BenchmarkMap/<workload>/<system>; select with -bench and set threads with -cpu.
func BenchmarkMap(b *testing.B) {
	for _, w := range workloads {
		w := w
		b.Run(w.name, func(b *testing.B) {
			for _, sys := range systems {
				sys := sys
				b.Run(sys.name, func(b *testing.B) { benchMap(b, w, sys) })
			}
		})
	}
}

// TestWorkloadNamesUnique guards the names the C++ driver matches on.
func TestWorkloadNamesUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, w := range workloads {
		if seen[w.name] {
			t.Fatalf("duplicate workload %q", w.name)
		}
		seen[w.name] = true
	}
	if len(workloads) != 24 {
		t.Fatalf("got %d workloads, want 24 (Go's 23 plus ReadMostlyCache)", len(workloads))
	}
}
