// /proc/self/maps without malloc, and root-range clipping.
#include "retain/proc_maps.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <string_view>

namespace syncscope::retain::internal {
namespace {

const char* parse_hex(const char* p, const char* end, std::uintptr_t& v) noexcept {
  v = 0;
  for (; p < end; ++p) {
    const char c = *p;
    unsigned d;
    if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
    else break;
    v = (v << 4) | d;
  }
  return p;
}

const char* skip_field(const char* p, const char* end) noexcept {
  while (p < end && *p == ' ') ++p;
  while (p < end && *p != ' ') ++p;
  return p;
}

// "offset dev inode   path": anonymous when the inode is 0 and the path is
// empty or a kernel label ("[heap]", "[stack]", "[anon:name]").
void parse_tail(const char* p, const char* end, Mapping& m) noexcept {
  p = skip_field(skip_field(p, end), end);  // offset, dev
  while (p < end && *p == ' ') ++p;
  bool inode_zero = true;
  for (; p < end && *p != ' '; ++p) inode_zero = inode_zero && *p == '0';
  while (p < end && *p == ' ') ++p;
  const std::string_view path(p, static_cast<std::size_t>(end - p));
  m.anonymous = inode_zero && (path.empty() || path.front() == '[');
  m.brk_heap = path == "[heap]";
}

}  // namespace

bool read_proc_maps(MmapBuffer<char>& text, MmapBuffer<Mapping>& out) noexcept {
  const int fd = ::open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  text.clear();
  if (!text.reserve(1 << 20)) {
    ::close(fd);
    return false;
  }
  while (true) {
    if (text.size() == text.capacity() && !text.reserve(text.capacity() * 2)) break;
    const ssize_t n = ::read(fd, text.data() + text.size(), text.capacity() - text.size());
    if (n <= 0) break;
    text.resize_uninitialized(text.size() + static_cast<std::size_t>(n));
  }
  ::close(fd);
  out.clear();
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    const char* eol = std::find(p, end, '\n');
    Mapping m;
    const char* q = parse_hex(p, eol, m.start);
    if (q < eol && *q == '-') q = parse_hex(q + 1, eol, m.end);
    if (q + 3 < eol) {
      m.readable = q[1] == 'r';
      m.writable = q[2] == 'w';
      parse_tail(q + 5, eol, m);
    }
    if (m.end > m.start && !out.push_back(m)) return false;
    p = eol + 1;
  }
  return true;
}

const Mapping* find_mapping(const MmapBuffer<Mapping>& maps, std::uintptr_t addr) noexcept {
  const Mapping* it = std::upper_bound(maps.begin(), maps.end(), addr,
                                       [](std::uintptr_t a, const Mapping& m) { return a < m.start; });
  if (it == maps.begin()) return nullptr;
  --it;
  return addr < it->end ? it : nullptr;
}

namespace {

// Emits [b, e) minus the excluded ranges and blocks (both sorted).
void emit_minus(const RawRoot& root, std::uintptr_t b, std::uintptr_t e, const GraphBlock* blocks,
                std::size_t block_count, const Range* excluded, std::size_t excluded_count,
                MmapBuffer<RawRoot>& out) noexcept {
  // Collect cut points lazily by walking both sorted lists from b.
  const GraphBlock* bi = std::upper_bound(blocks, blocks + block_count, b,
                                          [](std::uintptr_t a, const GraphBlock& g) { return a < g.address; });
  if (bi != blocks) --bi;
  const Range* xi = excluded;
  std::uintptr_t cur = b;
  while (cur < e) {
    // The next hole at or after cur.
    std::uintptr_t hole_b = e, hole_e = e;
    while (bi < blocks + block_count && bi->address + (bi->size ? bi->size : 1) <= cur) ++bi;
    if (bi < blocks + block_count && bi->address < e) {
      hole_b = std::max(bi->address, cur);
      hole_e = bi->address + (bi->size ? bi->size : 1);
    }
    while (xi < excluded + excluded_count && xi->end <= cur) ++xi;
    if (xi < excluded + excluded_count && xi->begin < hole_b) {
      hole_b = std::max(xi->begin, cur);
      hole_e = xi->end;
    }
    if (hole_b > cur) {
      RawRoot piece = root;
      piece.begin = cur;
      piece.size = std::min(hole_b, e) - cur;
      out.push_back(piece);
    }
    cur = std::max(cur, hole_e);
  }
}

}  // namespace

void add_root_pieces(const RawRoot& root, const MmapBuffer<Mapping>& maps, const GraphBlock* blocks,
                     std::size_t block_count, const Range* excluded, std::size_t excluded_count,
                     MmapBuffer<RawRoot>& out) noexcept {
  std::uintptr_t cur = root.begin;
  const std::uintptr_t end = root.begin + root.size;
  while (cur < end) {
    const Mapping* m = find_mapping(maps, cur);
    if (m == nullptr) {
      // Skip to the next mapping start after cur.
      const Mapping* next = std::upper_bound(maps.begin(), maps.end(), cur,
                                             [](std::uintptr_t a, const Mapping& x) { return a < x.start; });
      if (next == maps.end()) return;
      cur = next->start;
      continue;
    }
    const std::uintptr_t piece_end = std::min(end, m->end);
    if (m->readable) emit_minus(root, cur, piece_end, blocks, block_count, excluded, excluded_count, out);
    cur = piece_end;
  }
}

}  // namespace syncscope::retain::internal
