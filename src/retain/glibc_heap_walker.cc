// The glibc heap walk (see glibc_heap_walker.h for the contract). Reads go
// through MemoryImage::view; nothing here calls malloc.
#include "retain/glibc_heap_walker.h"

#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "prof/sampled_prefix.h"

namespace syncscope::retain::internal {
namespace {

constexpr std::size_t kMaxArenas = 4096;            // glibc caps arenas at 8 x cores
constexpr std::size_t kMaxHeapsPerArena = 1 << 16;  // heaps of one arena (64 MiB each)
constexpr std::size_t kMaxListLength = 1 << 24;     // fastbin/tcache chain: loop guard
constexpr std::size_t kMinEmptyBins = 32;           // main_arena signature: self-pointing bins
constexpr std::size_t kMaxMmappedChunks = 1 << 20;  // room reserved up front: `out` must not move

std::uintptr_t load(const std::byte* p) noexcept {
  std::uintptr_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The program's block in an in-use chunk whose user part is [user, user +
// usable) and starts with the words w0, w1: all of it, or what follows a
// sampled block's prefix (prof/sampled_prefix.h: the magic, then a valid tag
// whose offset leaves a block). A free chunk never starts with the magic
// (glibc writes its list pointers there).
GraphBlock in_use_block(std::uintptr_t user, std::uintptr_t usable, std::uintptr_t w0, std::uintptr_t w1) noexcept {
  namespace prof = syncscope::prof::internal;
  if (w0 == prof::kSampledPrefixMagic && prof::valid_sampled_tag(w1) && prof::sampled_offset(w1) < usable) {
    const std::uintptr_t offset = prof::sampled_offset(w1);
    return GraphBlock{user + offset, usable - offset, 0};
  }
  return GraphBlock{user, usable, 0};
}

bool contains(std::span<const Range> sorted, std::uintptr_t addr, const Range** hit) noexcept {
  const Range* it = std::upper_bound(sorted.data(), sorted.data() + sorted.size(), addr,
                                     [](std::uintptr_t a, const Range& r) { return a < r.begin; });
  if (it == sorted.data()) return false;
  --it;
  if (addr >= it->end) return false;
  *hit = it;
  return true;
}

}  // namespace

struct GlibcHeapWalker::Walk {
  GlibcHeapWalker& self;
  const GlibcLayout& L;
  const MemoryImage& image;
  MmapBuffer<GraphBlock>& out;
  HeapWalkResult& result;
  std::uintptr_t tcache_key = 0;

  bool fail(const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3))) {
    result.status = WalkStatus::kNotRecognised;
    int n = std::snprintf(result.message, sizeof result.message, "heap layout not recognised (%s): ",
                          L.name);
    if (n < 0) n = 0;
    va_list args;
    va_start(args, fmt);
    std::vsnprintf(result.message + n, sizeof result.message - static_cast<std::size_t>(n), fmt, args);
    va_end(args);
    return false;
  }

  // The word at addr; false (without failing the walk) when unreadable.
  bool peek(std::uintptr_t addr, std::uintptr_t& v) const noexcept { return image.read_word(addr, v); }

  // --- main arena -----------------------------------------------------------

  // Everything a malloc_state at m must satisfy to be taken for main_arena.
  bool looks_like_main_arena(std::uintptr_t m) const noexcept {
    const std::byte* a = image.view(m, L.arena_size);
    if (a == nullptr || m % alignof(std::uintptr_t) != 0) return false;
    int mutex;
    std::memcpy(&mutex, a + L.arena_mutex, sizeof mutex);
    if (mutex < 0 || mutex > 2) return false;
    const std::uintptr_t top = load(a + L.arena_top);
    const Mapping* heap = image.region_of(top);
    if (top == 0 || top % L.alignment != 0 || heap == nullptr || !heap->writable || !heap->anonymous)
      return false;
    std::size_t empty = 0;
    for (std::size_t i = 0; i < L.bin_words / 2; ++i) {
      const std::uintptr_t header = m + L.arena_bins + 16 * i - 16;
      const std::uintptr_t fd = load(a + L.arena_bins + 16 * i), bk = load(a + L.arena_bins + 16 * i + 8);
      if (fd == header && bk == header) {
        ++empty;
      } else if (image.view(fd, 2 * L.chunk_header) == nullptr || image.view(bk, 2 * L.chunk_header) == nullptr) {
        return false;  // a non-empty bin links readable chunks
      }
    }
    if (empty < kMinEmptyBins) return false;
    std::uintptr_t next = load(a + L.arena_next);
    for (std::size_t hops = 0; hops < kMaxArenas; ++hops) {  // the arena list closes on main_arena
      if (next == m) return true;
      if (!peek(next + L.arena_next, next)) return false;
    }
    return false;
  }

  // main_arena: the cached address when it still validates, else a search of
  // `ranges` for an empty bin (fd == bk == its own header) and, around it,
  // a malloc_state that validates.
  bool find_main_arena(std::span<const Range> ranges, std::uintptr_t& m) const noexcept {
    if (self.main_arena_ != 0 && looks_like_main_arena(self.main_arena_)) {
      m = self.main_arena_;
      return true;
    }
    for (const Range& r : ranges) {
      const std::uintptr_t begin = (r.begin + 7) & ~std::uintptr_t{7};
      if (r.end < begin + 16) continue;
      const std::byte* base = image.view(begin, r.end - begin);
      if (base == nullptr) continue;
      for (std::uintptr_t x = begin + 16; x + 16 <= r.end; x += 8) {
        const std::uintptr_t fd = load(base + (x - begin));
        if (fd != x - 16 || load(base + (x - begin) + 8) != x - 16) continue;
        for (std::size_t bin = 0; bin < L.bin_words / 2; ++bin) {  // x is bins[2 * bin]
          if (x < L.arena_bins + 16 * bin) break;
          const std::uintptr_t candidate = x - L.arena_bins - 16 * bin;
          if (looks_like_main_arena(candidate)) {
            m = candidate;
            return true;
          }
        }
        x += 16 * (L.bin_words / 2);  // this run of bins belongs to no arena: skip past it
      }
    }
    return false;
  }

  // --- lists of free chunks that look in use ----------------------------------

  bool collect_fastbins(std::uintptr_t arena, std::size_t arena_index) noexcept {
    // A list cannot hold more chunks than the arena has room for: a longer
    // one loops.
    std::uintptr_t system_mem = 0;
    peek(arena + L.arena_system_mem, system_mem);
    const std::size_t max_length = std::min<std::size_t>(kMaxListLength, system_mem / L.min_chunk + 1);
    for (std::size_t i = 0; i < L.fastbin_count; ++i) {
      std::uintptr_t p;
      if (!peek(arena + L.arena_fastbins + 8 * i, p)) return fail("arena #%zu unreadable", arena_index);
      for (std::size_t n = 0; p != 0; ++n) {
        std::uintptr_t raw, stored;
        if (n >= max_length || p % L.alignment != 0 || !peek(p + 8, raw) || !peek(p + 16, stored))
          return fail("arena #%zu fastbin %zu: entry %zu is not a chunk", arena_index, i, n);
        if ((raw & ~std::uintptr_t{7}) != L.min_chunk + L.alignment * i)
          return fail("arena #%zu fastbin %zu: entry %zu has size %#lx", arena_index, i, n,
                      static_cast<unsigned long>(raw & ~std::uintptr_t{7}));
        if (!self.free_chunks_.push_back(p)) return fail("out of scanner memory");
        ++result.stats.fastbin_chunks;
        p = ((p + 16) >> 12) ^ stored;  // safe-linking: PROTECT_PTR(&p->fd, next)
      }
    }
    return true;
  }

  // The length of the chain of tcache entries from `e` for bin `bin` when it
  // is one: each chunk the bin's size, all with one key, NULL-terminated
  // within `limit` entries. -1 when it is not a tcache chain.
  long tcache_chain(std::uintptr_t e, std::size_t bin, std::size_t limit, std::uintptr_t& key) const noexcept {
    long length = 0;
    for (; e != 0; ++length) {
      std::uintptr_t raw, next, entry_key;
      if (static_cast<std::size_t>(length) >= limit || e % L.alignment != 0 || !peek(e - 8, raw) ||
          !peek(e, next) || !peek(e + L.tcache_key_offset, entry_key))
        return -1;
      if ((raw & ~std::uintptr_t{7}) != L.min_chunk + L.alignment * bin) return -1;
      if (key != 0 && entry_key != key) return -1;
      key = entry_key;
      e = (e >> 12) ^ next;  // PROTECT_PTR(&e->next, next)
    }
    return length;
  }

  // Every candidate tcache_perthread_struct that validates: its cached
  // chunks are free and it is glibc's own, not a block. A thread stopped
  // inside tcache_put/tcache_get may have linked or unlinked one entry
  // without updating the count yet: a chain one longer or shorter than its
  // count still validates.
  bool collect_tcaches() noexcept {
    for (const std::uintptr_t chunk : self.tcache_structs_) {
      const std::uintptr_t user = chunk + L.chunk_header;
      const std::byte* t = image.view(user, L.tcache_entries + 8 * L.tcache_bins);
      if (t == nullptr) continue;
      std::uintptr_t key = tcache_key;
      std::size_t total = 0;
      bool ok = true;
      for (std::size_t i = 0; ok && i < L.tcache_bins; ++i) {
        std::uint16_t count;
        std::memcpy(&count, t + 2 * i, sizeof count);
        const long length = tcache_chain(load(t + L.tcache_entries + 8 * i), i, count + std::size_t{1}, key);
        ok = length >= 0 && length + 1 >= count && length <= count + 1L;
        total += static_cast<std::size_t>(length > 0 ? length : 0);
      }
      if (!ok || total == 0) continue;
      tcache_key = key;
      result.stats.tcache_key_known = true;
      if (!self.free_chunks_.push_back(chunk)) return fail("out of scanner memory");
      for (std::size_t i = 0; i < L.tcache_bins; ++i) {
        for (std::uintptr_t e = load(t + L.tcache_entries + 8 * i); e != 0;) {
          std::uintptr_t next = 0;
          peek(e, next);
          if (!self.free_chunks_.push_back(e - L.chunk_header)) return fail("out of scanner memory");
          ++result.stats.tcache_chunks;
          e = (e >> 12) ^ next;
        }
      }
    }
    return true;
  }

  // --- chunks -----------------------------------------------------------------

  // Walks the chunks of [begin, end): `top` (0 when this heap has none) ends
  // the walk; so does a zero-size fencepost. `main` selects the arena bit.
  bool walk_chunks(std::uintptr_t begin, std::uintptr_t end, std::uintptr_t top, bool main,
                   std::size_t arena_index) noexcept {
    const std::byte* base = image.view(begin, end - begin);
    if (base == nullptr) return fail("arena #%zu: heap at +0 is not readable", arena_index);
    const auto at = [&](std::uintptr_t addr) { return load(base + (addr - begin)); };
    std::uintptr_t p = begin;
    if ((at(p + 8) & L.prev_inuse) == 0) return fail("arena #%zu: first chunk lacks PREV_INUSE", arena_index);
    while (true) {
      if (p + L.chunk_header > end)
        return fail("arena #%zu: chunk at heap+%#lx runs past its heap", arena_index,
                    static_cast<unsigned long>(p - begin));
      const std::uintptr_t raw = at(p + 8);
      const std::uintptr_t size = raw & ~std::uintptr_t{7};
      if (p == top) {
        if (size < L.min_chunk || p + size > end) return fail("arena #%zu: top chunk runs past its heap", arena_index);
        result.stats.top_bytes += size;
        break;
      }
      if (size == 0) break;  // fencepost: end of an old heap
      if (size == L.chunk_header) {  // fencepost pair before a gap
        p += size;
        continue;
      }
      // An old heap's top chunk of 48 bytes when glibc moved its arena to a
      // new heap (sysmalloc): too small to free, it was written as one
      // 32-byte chunk without the arena bit, then the zero-size fencepost in
      // the heap's last 16 bytes. Not a block.
      if (!main && size == 2 * L.chunk_header && p + size + L.chunk_header == end &&
          (at(p + size + 8) & ~std::uintptr_t{7}) == 0)
        break;
      if (size < L.min_chunk || size % L.alignment != 0 || p + size + 2 * L.chunk_header > end ||
          (raw & L.is_mmapped) != 0)
        return fail("arena #%zu: chunk at heap+%#lx has header %#lx", arena_index,
                    static_cast<unsigned long>(p - begin), static_cast<unsigned long>(raw));
      const std::uintptr_t next = p + size;
      ++result.stats.chunks;
      if ((at(next + 8) & L.prev_inuse) != 0) {
        // In-use chunks carry their arena's bit (free remainders need not).
        if (((raw & L.non_main_arena) != 0) == main)
          return fail("arena #%zu: chunk at heap+%#lx has the wrong arena bit (header %#lx)", arena_index,
                      static_cast<unsigned long>(p - begin), static_cast<unsigned long>(raw));
        const std::uintptr_t user = p + L.chunk_header;
        if (!out.push_back(in_use_block(user, size - 8, at(user), at(user + 8)))) return fail("out of scanner memory");
        if (size == L.tcache_struct_chunk && !self.tcache_structs_.push_back(p))
          return fail("out of scanner memory");
      } else if (at(next) != size) {
        return fail("arena #%zu: free chunk at heap+%#lx: footer %#lx, size %#lx", arena_index,
                    static_cast<unsigned long>(p - begin), static_cast<unsigned long>(at(next)),
                    static_cast<unsigned long>(size));
      } else {
        ++result.stats.free_chunks;
        result.stats.free_bytes += size;
      }
      p = next;
    }
    result.stats.heap_bytes += end - begin;
    ++result.stats.heaps;
    return self.arena_heaps_.push_back(Range{begin, end}) || fail("out of scanner memory");
  }

  // The main arena's chunks run from the first sbrk'd byte to the end of
  // its top chunk (the program break). The kernel's "[heap]" mapping may
  // start earlier (merged with the executable's .bss), so the start comes
  // from malloc's own count: system_mem bytes below the break.
  bool walk_main_heap(std::uintptr_t m) noexcept {
    std::uintptr_t top = 0, top_raw = 0, system_mem = 0;
    if (!peek(m + L.arena_top, top) || !peek(top + 8, top_raw) || !peek(m + L.arena_system_mem, system_mem))
      return fail("main arena's top chunk is not mapped");
    const std::uintptr_t end = top + (top_raw & ~std::uintptr_t{7});
    // The break's region may be several adjacent mappings (the kernel splits
    // it, e.g. after fork): view() accepts that.
    if (system_mem > end || system_mem < L.min_chunk || image.view(end - system_mem, system_mem) == nullptr)
      return fail("main arena's %#lx bytes below its top end are not mapped memory (non-contiguous sbrk?)",
                  static_cast<unsigned long>(system_mem));
    const std::uintptr_t begin = (end - system_mem + L.alignment - 1) & ~(L.alignment - 1);
    return walk_chunks(begin, end, top, true, 0);
  }

  bool walk_arena_heaps(std::uintptr_t arena, std::size_t arena_index) noexcept {
    std::uintptr_t top = 0;
    peek(arena + L.arena_top, top);
    std::uintptr_t h = top & ~(L.heap_max - 1);
    for (std::size_t n = 0; h != 0; ++n) {
      const std::byte* info = image.view(h, L.heap_info_size);
      if (n >= kMaxHeapsPerArena || info == nullptr)
        return fail("arena #%zu: heap #%zu has no readable heap_info", arena_index, n);
      const std::uintptr_t owner = load(info + L.heap_ar_ptr), size = load(info + L.heap_size);
      if (owner != arena || size > L.heap_max || size < L.heap_info_size)
        return fail("arena #%zu: heap #%zu's heap_info names another arena or size %#lx", arena_index, n,
                    static_cast<unsigned long>(size));
      std::uintptr_t first = h + L.heap_info_size;
      if (owner == first) {  // the arena's first heap holds the malloc_state
        first += L.arena_size;
        const std::uintptr_t misalign = (first + L.chunk_header) & (L.alignment - 1);
        if (misalign != 0) first += L.alignment - misalign;
      }
      const bool has_top = top >= h && top < h + size;
      if (!walk_chunks(first, h + size, has_top ? top : 0, false, arena_index)) return false;
      self.arena_heaps_.back() = Range{h, h + L.heap_max};  // the whole reservation is the arena's
      h = load(info + L.heap_prev);
      if (n + 1 > result.stats.max_heaps_per_arena) result.stats.max_heaps_per_arena = n + 1;
    }
    return true;
  }

  // --- mmapped chunks -----------------------------------------------------------

  // The chunk whose mapping starts at page `pos`, or 0: prev_size 0 and
  // size|IS_MMAPPED covering whole pages. memalign keeps that header and
  // puts the aligned chunk after a lead of zeros, with prev_size = the lead
  // and the rest of the mapping as its size: that inner chunk wins.
  std::uintptr_t mmapped_chunk_at(std::uintptr_t pos, std::uintptr_t end, std::size_t page,
                                  std::uintptr_t& size) const noexcept {
    const std::byte* p = image.view(pos, page);
    if (p == nullptr) return 0;
    const std::uintptr_t raw = load(p + 8);
    size = raw & ~std::uintptr_t{7};
    if (load(p) != 0 || (raw & 7) != L.is_mmapped || size < page || size % page != 0 || pos + size > end)
      return 0;
    // memalign: the user pointer is aligned to a power of two A and at least
    // MINSIZE past the outer chunk; try each A in turn.
    const std::uintptr_t outer = size;
    for (std::uintptr_t align = 2 * L.alignment; align < outer; align *= 2) {
      std::uintptr_t user = (pos + L.chunk_header + L.min_chunk + align - 1) & ~(align - 1);
      const std::uintptr_t lead = user - L.chunk_header - pos;
      std::uintptr_t prev = 0, inner = 0;
      if (lead + L.chunk_header >= outer || !peek(pos + lead, prev) || !peek(pos + lead + 8, inner)) break;
      if (prev == lead && inner == ((outer - lead) | L.is_mmapped)) {
        size = outer - lead;
        return pos + lead;
      }
    }
    return pos;
  }

  // Pages of our own scratch buffers are no chunks; the buffers must not
  // move while the regions listed before them are read.
  bool own_memory(std::uintptr_t pos, std::uintptr_t& skip_to) const noexcept {
    const auto inside = [&](const void* data, std::size_t bytes) {
      const auto b = reinterpret_cast<std::uintptr_t>(data);
      if (pos < b || pos >= b + bytes) return false;
      skip_to = b + bytes;
      return true;
    };
    return inside(out.data(), out.mapped_bytes()) ||
           inside(self.residency_.data(), self.residency_.mapped_bytes()) ||
           inside(self.free_chunks_.data(), self.free_chunks_.mapped_bytes()) ||
           inside(self.arena_heaps_.data(), self.arena_heaps_.mapped_bytes()) ||
           inside(self.tcache_structs_.data(), self.tcache_structs_.mapped_bytes()) ||
           inside(self.arenas_.data(), self.arenas_.mapped_bytes());
  }

  bool collect_mmapped(std::span<const Range> not_mmapped) noexcept {
    const std::size_t page = static_cast<std::size_t>(::getpagesize());
    const std::span<const Range> heaps(self.arena_heaps_.data(), self.arena_heaps_.size());
    std::size_t most_pages = 0;
    for (const Mapping& m : image.regions()) most_pages = std::max(most_pages, (m.end - m.start) / page);
    if (!self.residency_.reserve(most_pages) || !out.reserve(out.size() + kMaxMmappedChunks))
      return fail("out of scanner memory");
    for (const Mapping& m : image.regions()) {
      if (!m.readable || !m.writable || !m.anonymous || m.brk_heap) continue;
      // A live region that vanished since the maps were read (our own
      // buffers before a move) fails here and is skipped, never read.
      if (!image.resident(m.start, m.end - m.start, self.residency_.data())) continue;
      std::uintptr_t pos = m.start;
      while (pos < m.end) {
        const Range* skip;
        std::uintptr_t skip_to = 0;
        if (contains(heaps, pos, &skip) || contains(not_mmapped, pos, &skip)) skip_to = skip->end;
        if (skip_to != 0 || (image.is_this_process() && own_memory(pos, skip_to))) {
          pos = (skip_to + page - 1) & ~(page - 1);
          continue;
        }
        std::uintptr_t size = 0;
        const std::uintptr_t chunk =
            self.residency_[(pos - m.start) / page] == 0 ? 0 : mmapped_chunk_at(pos, m.end, page, size);
        if (chunk == 0) {
          pos += page;
          continue;
        }
        if (out.size() == out.capacity()) return fail("more than %zu mmapped chunks", kMaxMmappedChunks);
        std::uintptr_t w0 = 0, w1 = 0;
        const std::uintptr_t user = chunk + L.chunk_header;
        peek(user, w0);
        peek(user + 8, w1);
        out.push_back(in_use_block(user, size - L.chunk_header, w0, w1));
        ++result.stats.mmapped_chunks;
        pos = chunk + size;
      }
    }
    return true;
  }

  // --- result -----------------------------------------------------------------

  // Sorts the blocks and drops those that are free chunks on a fastbin or
  // tcache list (a block past a sampled prefix is never one: its address
  // less 16 falls inside its own chunk, never at a chunk's start). (The tcache key alone is not a test: an in-use block's
  // uninitialised second word can hold a stale key.)
  void finish() noexcept {
    std::sort(out.begin(), out.end(),
              [](const GraphBlock& a, const GraphBlock& b) { return a.address < b.address; });
    std::sort(self.free_chunks_.begin(), self.free_chunks_.end());
    std::size_t kept = 0;
    for (std::size_t i = 0; i < out.size(); ++i) {
      const GraphBlock& b = out[i];
      if (std::binary_search(self.free_chunks_.begin(), self.free_chunks_.end(), b.address - L.chunk_header)) {
        ++result.stats.free_chunks;
        result.stats.free_bytes += b.size + 8;  // the chunk: usable size + its size field
        continue;
      }
      out[kept++] = b;
      result.stats.in_use_bytes += b.size;
    }
    out.resize_uninitialized(kept);
    result.stats.in_use_blocks = kept;
  }
};

HeapWalkResult GlibcHeapWalker::list_arenas(const MemoryImage& image, std::span<const Range> arena_search) noexcept {
  HeapWalkResult result;
  MmapBuffer<GraphBlock> unused;
  Walk w{*this, layout_, image, unused, result};
  arenas_.clear();
  std::uintptr_t main = 0;
  if (!w.find_main_arena(arena_search, main)) {
    w.fail("no malloc_state of glibc's main arena in libc's data");
    return result;
  }
  main_arena_ = main;
  std::uintptr_t a = main;
  do {
    int mutex = 0;
    const std::byte* state = image.view(a, layout_.arena_size);
    if (state == nullptr || !arenas_.push_back(a)) {
      w.fail("arena #%zu is not readable", arenas_.size());
      return result;
    }
    std::memcpy(&mutex, state + layout_.arena_mutex, sizeof mutex);
    if (mutex != 0) {
      result.status = WalkStatus::kBusy;
      std::snprintf(result.message, sizeof result.message,
                    "arena #%zu is locked: a stopped thread is inside malloc or free", arenas_.size() - 1);
      return result;
    }
    a = load(state + layout_.arena_next);
  } while (a != main && arenas_.size() < kMaxArenas);
  result.stats.arenas = arenas_.size();
  return result;
}

HeapWalkResult GlibcHeapWalker::walk(const MemoryImage& image, std::span<const Range> arena_search,
                                     std::span<const Range> not_mmapped,
                                     MmapBuffer<GraphBlock>& out) noexcept {
  out.clear();
  HeapWalkResult result = list_arenas(image, arena_search);
  if (result.status != WalkStatus::kOk) return result;
  Walk w{*this, layout_, image, out, result};
  free_chunks_.clear();
  tcache_structs_.clear();
  arena_heaps_.clear();
  const std::uintptr_t main = main_arena_;
  bool ok = w.walk_main_heap(main);
  for (std::size_t i = 0; ok && i < arenas_.size(); ++i) {
    ok = w.collect_fastbins(arenas_[i], i) && (i == 0 || w.walk_arena_heaps(arenas_[i], i));
  }
  if (ok) {
    std::sort(arena_heaps_.begin(), arena_heaps_.end(),
              [](const Range& x, const Range& y) { return x.begin < y.begin; });
    ok = w.collect_tcaches() && w.collect_mmapped(not_mmapped);
  }
  if (!ok) {
    out.clear();
    return result;
  }
  w.finish();
  return result;
}

}  // namespace syncscope::retain::internal
