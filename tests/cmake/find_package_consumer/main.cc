// Uses the installed headers and library: stores, loads and ranges.
#include <cstdio>
#include <string>

#include "syncscope/map/maps.h"

int main() {
  syncscope::map::ReadMostlyMap<std::string, int> m({.name = "consumer"});
  m.store("answer", 42);
  auto v = m.load("answer");
  int visited = 0;
  m.range([&](const std::string&, const int&) { ++visited; });
  if (!v || *v != 42 || visited != 1 || m.size() != 1) {
    std::puts("consumer: unexpected map contents");
    return 1;
  }
  std::puts("consumer: ok");
  return 0;
}
