// C++ allocation churn for whole-process cost measurements
// (scripts/bench-cost.sh): each thread keeps a hash map of short-lived
// std::string keys and values, inserting, overwriting and erasing at random.
// Nothing of syncscope is linked; the profiler comes in by LD_PRELOAD.
//   prof_churn_workload THREADS OPS_PER_THREAD
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

std::uint64_t churn(std::uint64_t seed, long long ops) {
  std::unordered_map<std::string, std::string> map;
  std::uint64_t x = seed * 0x9e3779b97f4a7c15ull | 1, sum = 0;
  for (long long i = 0; i < ops; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    // 64 Ki keys of 20-30 characters (past the small-string buffer), values of 16..527.
    std::string key = "key-" + std::to_string(x % 65536) + "-with-a-longer-tail";
    if ((x >> 32) % 4 == 0) {
      map.erase(key);
    } else {
      std::string& v = map[std::move(key)];
      v.assign(16 + (x >> 40) % 512, static_cast<char>('a' + i % 26));
      sum += v.size();
    }
  }
  return sum + map.size();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s THREADS OPS_PER_THREAD\n", argv[0]);
    return 2;
  }
  const int threads = std::atoi(argv[1]);
  const long long ops = std::atoll(argv[2]);
  if (threads < 1 || threads > 64 || ops < 1) {
    std::fprintf(stderr, "bad arguments: THREADS in 1..64, OPS_PER_THREAD >= 1\n");
    return 2;
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  std::vector<std::uint64_t> sums(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { sums[t] = churn(t + 1, ops); });
  for (auto& th : pool) th.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::uint64_t sum = 0;
  for (auto v : sums) sum += v;
  std::printf("threads=%d ops=%lld seconds=%.4f checksum=%llu\n", threads, ops, s,
              static_cast<unsigned long long>(sum));
  return 0;
}
