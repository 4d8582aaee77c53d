// The heap for scripts/bench-core.sh: N blocks of SIZE bytes, each holding
// a pointer to the one allocated before it, all held from g_blocks. Plain
// C++ (no syncscope): the benchmark reads a core of a program that never
// linked it. Prints "ready" and waits until stdin closes.
//
//   core_bench_heap N [SIZE]
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

void** g_blocks = nullptr;

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const long n = std::strtol(argv[1], nullptr, 10);
  const std::size_t size = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 256;
  if (n <= 0 || size < sizeof(void*)) return 2;
  g_blocks = static_cast<void**>(std::malloc(static_cast<std::size_t>(n) * sizeof(void*)));
  void* previous = nullptr;
  for (long i = 0; i < n; ++i) {
    void* b = std::malloc(size);
    std::memset(b, 0, size);
    std::memcpy(b, &previous, sizeof previous);
    g_blocks[i] = previous = b;
  }
  std::puts("ready");
  std::fflush(stdout);
  char c;
  while (::read(STDIN_FILENO, &c, 1) > 0) {
  }
  return 0;
}
