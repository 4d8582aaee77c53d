// describe_module (src/prof/shape_unwind/module_tables.h) against the
// loader's own copy of the module as the oracle: the sparse index it builds
// from the file is every kIndexStride-th start of the search table mapped in
// the image, whatever the size of the buffer the table is read through. And
// it accepts only the very file mapped at the image.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <link.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "prof/shape_unwind/module_tables.h"
#include "support/forked_child.h"

namespace syncscope::prof::internal {
namespace {

__attribute__((noinline)) int function_in_this_executable() { return 7; }

// This executable's image (its ELF header, mapped) and .eh_frame_hdr.
struct OwnImage {
  const void* image = nullptr;
  const std::uint8_t* eh_frame_hdr = nullptr;
};
OwnImage own_image() {
  OwnImage own;
  dl_find_object found{};
  if (_dl_find_object(reinterpret_cast<void*>(&function_in_this_executable), &found) == 0) {
    own.image = found.dlfo_map_start;
    own.eh_frame_hdr = static_cast<const std::uint8_t*>(found.dlfo_eh_frame);
  }
  return own;
}

// The search table's entries as the loader mapped them.
const SearchEntry* mapped_table(const OwnImage& own, const ModuleTables& tables) {
  return reinterpret_cast<const SearchEntry*>(own.eh_frame_hdr + (tables.table_vaddr - tables.hdr_vaddr));
}

// Read in stretches of one stride, of an odd number of strides, of the
// registry's size, and of more than the whole table: the same index, entry
// for entry the mapped table's every kIndexStride-th start.
TEST(ModuleTables, SparseIndex_IsEveryStrideOfTheMappedTable_ForAnyReadBuffer) {
  const OwnImage own = own_image();
  ASSERT_NE(own.image, nullptr);
  for (const std::size_t buffer_entries :
       {std::size_t{kIndexStride}, std::size_t{3 * kIndexStride}, kTableReadEntries, std::size_t{1} << 17}) {
    std::vector<SearchEntry> buffer(buffer_entries);
    std::vector<std::int32_t> index(1 << 16, -1);
    const std::optional<ModuleTables> tables =
        describe_module("/proc/self/exe", own.image, index.data(), 1 << 16, buffer);
    ASSERT_TRUE(tables.has_value()) << buffer_entries << " entries a read";
    // The case the stretches are for: more than one read at the registry's size.
    ASSERT_GT(tables->fde_count, kTableReadEntries);
    ASSERT_EQ(tables->index_count, index_entries(tables->fde_count));
    EXPECT_EQ(tables->index, index.data());
    const SearchEntry* table = mapped_table(own, *tables);
    int mismatches = 0;
    for (std::uint32_t i = 0; i < tables->index_count; ++i) {
      if (index[i] != table[std::size_t{i} * kIndexStride].start) ++mismatches;
    }
    EXPECT_EQ(mismatches, 0) << buffer_entries << " entries a read";
    EXPECT_EQ(index[tables->index_count], -1) << "written past the index";
    // And a lookup through it finds this function's FDE.
    ModuleFileSource file;
    ASSERT_TRUE(file.open("/proc/self/exe", &*tables));
    const std::uint64_t bias = reinterpret_cast<std::uintptr_t>(own.image) - tables->segments[0].vaddr;
    const std::uint64_t pc = reinterpret_cast<std::uintptr_t>(&function_in_this_executable) - bias;
    const std::optional<std::uint64_t> fde = find_fde(*tables, file, pc);
    ASSERT_TRUE(fde.has_value());
    const auto* last = std::upper_bound(
        table, table + tables->fde_count, static_cast<std::int32_t>(pc - tables->hdr_vaddr),
        [](std::int32_t k, const SearchEntry& e) { return k < e.start; });
    ASSERT_NE(last, table);
    EXPECT_EQ(*fde, tables->hdr_vaddr + static_cast<std::uint64_t>(std::int64_t{(last - 1)->fde}));
  }
  // A buffer that holds no whole number of strides is refused, not overrun.
  std::vector<std::int32_t> index(1 << 16);
  std::vector<SearchEntry> odd(kIndexStride + 1);
  EXPECT_FALSE(describe_module("/proc/self/exe", own.image, index.data(), 1 << 16, odd).has_value());
  EXPECT_FALSE(describe_module("/proc/self/exe", own.image, index.data(), 1 << 16, {}).has_value());
}

// Counts the reads that reach the file.
class CountingSource final : public TableSource {
 public:
  explicit CountingSource(const TableSource& inner) : inner_(inner) {}
  bool read(std::uint64_t vaddr, void* out, std::size_t n) const noexcept override {
    ++reads;
    return inner_.read(vaddr, out, n);
  }
  mutable int reads = 0;

 private:
  const TableSource& inner_;
};

// find_fde through one StrideMemo, as a walk uses it, over every function of
// this executable in table order and then in a scattered order: the same
// FDE as the mapped table names, and one read per change of stretch only.
TEST(ModuleTables, StrideMemo_SameFdeAsTheMappedTable_OneReadPerStretch) {
  const OwnImage own = own_image();
  ASSERT_NE(own.image, nullptr);
  std::vector<SearchEntry> buffer(kTableReadEntries);
  std::vector<std::int32_t> index(1 << 16);
  const std::optional<ModuleTables> tables =
      describe_module("/proc/self/exe", own.image, index.data(), 1 << 16, buffer);
  ASSERT_TRUE(tables.has_value());
  ModuleFileSource file;
  ASSERT_TRUE(file.open("/proc/self/exe", &*tables));
  const SearchEntry* table = mapped_table(own, *tables);
  const auto pc_of = [&](std::uint32_t i) {  // one byte into the i-th function
    return tables->hdr_vaddr + static_cast<std::uint64_t>(std::int64_t{table[i].start}) + 1;
  };
  const auto expected = [&](std::uint32_t i) {
    return tables->hdr_vaddr + static_cast<std::uint64_t>(std::int64_t{table[i].fde});
  };
  for (const bool scattered : {false, true}) {
    StrideMemo memo;
    CountingSource counted(file);
    int wrong = 0;
    int stretch_changes = 0;
    std::uint32_t last_stride = UINT32_MAX;
    for (std::uint32_t k = 0; k < tables->fde_count; ++k) {
      // Consecutive functions share a start (aliases) rarely; skip those.
      const std::uint32_t i = scattered ? static_cast<std::uint32_t>((std::uint64_t{k} * 7919) % tables->fde_count) : k;
      if (i + 1 < tables->fde_count && table[i + 1].start == table[i].start) continue;
      const std::optional<std::uint64_t> with_memo = find_fde(*tables, counted, pc_of(i), &memo);
      const std::optional<std::uint64_t> without = find_fde(*tables, file, pc_of(i));
      if (!with_memo || !without || *with_memo != expected(i) || *without != expected(i)) ++wrong;
      if (i / kIndexStride != last_stride) ++stretch_changes, last_stride = i / kIndexStride;
    }
    EXPECT_EQ(wrong, 0) << (scattered ? "scattered" : "in order");
    EXPECT_EQ(counted.reads, stretch_changes) << (scattered ? "scattered" : "in order");
    if (!scattered) {
      EXPECT_EQ(counted.reads, static_cast<int>(tables->index_count));
    }
  }
}

// describe_module accepts only the very file mapped at the image: never
// another module's, a device, a FIFO (whose open must not wait for a
// writer: in a forked child with a deadline), a truncated copy, or a
// table that does not fit the index memory given.
TEST(ShapeWalk, ModuleFiles_OnlyTheMappedImageIsAccepted) {
  const void* image = own_image().image;
  ASSERT_NE(image, nullptr);
  Dl_info libc{};
  ASSERT_NE(dladdr(reinterpret_cast<void*>(&qsort), &libc), 0);
  std::vector<std::int32_t> index(1 << 16);
  std::vector<SearchEntry> buffer(kTableReadEntries);
  const auto describe = [&](const char* path, std::uint32_t capacity) {
    return describe_module(path, image, index.data(), capacity, buffer);
  };
  const std::optional<ModuleTables> own = describe("/proc/self/exe", 1 << 16);
  ASSERT_TRUE(own.has_value());
  EXPECT_GT(own->build_id_size, 0u);
  EXPECT_EQ(own->index_count, index_entries(own->fde_count));
  EXPECT_FALSE(describe("/proc/self/exe", own->index_count - 1).has_value()) << "index memory too small";
  EXPECT_FALSE(describe(libc.dli_fname, 1 << 16).has_value()) << "another module's file";
  EXPECT_FALSE(describe("/dev/null", 1 << 16).has_value());
  EXPECT_FALSE(describe("/nonexistent/module.so", 1 << 16).has_value());

  char dir[] = "/tmp/shape-walk-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string truncated = std::string(dir) + "/truncated";
  {
    std::ifstream in("/proc/self/exe", std::ios::binary);
    std::vector<char> head(8192);
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    std::ofstream(truncated, std::ios::binary).write(head.data(), in.gcount());
  }
  EXPECT_FALSE(describe(truncated.c_str(), 1 << 16).has_value()) << "a truncated copy";
  const std::string fifo = std::string(dir) + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const auto outcome = test_support::run_in_child(
      [&] { return describe(fifo.c_str(), 1 << 16).has_value() ? 1 : 0; }, std::chrono::seconds(10));
  EXPECT_TRUE(outcome.exited_with(0)) << outcome.describe() << " (1: a FIFO was accepted)";
  std::remove(fifo.c_str());
  std::remove(truncated.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace syncscope::prof::internal
