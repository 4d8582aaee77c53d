// A growable array of trivially copyable values backed by mmap/mremap, never
// by malloc: the retention scanner uses it while the live-block table is
// frozen and the world is stopped, when any call into the hooked allocator
// would deadlock (DESIGN §3: "no allocation while threads are paused").
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace syncscope::retain::internal {

template <class T>
class MmapBuffer {
  static_assert(std::is_trivially_copyable_v<T>, "MmapBuffer stores raw bytes");

 public:
  MmapBuffer() = default;
  MmapBuffer(const MmapBuffer&) = delete;
  MmapBuffer& operator=(const MmapBuffer&) = delete;
  MmapBuffer(MmapBuffer&& o) noexcept { swap(o); }
  MmapBuffer& operator=(MmapBuffer&& o) noexcept {
    release();
    swap(o);
    return *this;
  }
  ~MmapBuffer() { release(); }

  // Ensures room for `n` elements. false when the kernel refuses the mapping.
  // Pages are reserved lazily (MAP_NORESERVE): reserving more than needed
  // costs address space, not memory.
  bool reserve(std::size_t n) noexcept {
    if (n <= capacity_) return true;
    const std::size_t bytes = round_up(n * sizeof(T));
    void* p;
    if (data_ == nullptr) {
      p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
    } else {
      p = ::mremap(data_, mapped_, bytes, MREMAP_MAYMOVE);
    }
    if (p == MAP_FAILED) return false;
    data_ = static_cast<T*>(p);
    mapped_ = bytes;
    capacity_ = bytes / sizeof(T);
    return true;
  }

  // Appends; false (value dropped) when the buffer cannot grow.
  bool push_back(const T& v) noexcept {
    if (size_ == capacity_ && !reserve(capacity_ < 1024 ? 1024 : capacity_ * 2)) return false;
    data_[size_++] = v;
    return true;
  }
  void resize_uninitialized(std::size_t n) noexcept { size_ = n; }  // PRECONDITION: n <= capacity()
  void clear() noexcept { size_ = 0; }

  T* data() noexcept { return data_; }
  const T* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t mapped_bytes() const noexcept { return mapped_; }
  T& operator[](std::size_t i) noexcept { return data_[i]; }
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }
  T& back() noexcept { return data_[size_ - 1]; }  // PRECONDITION: size() > 0
  T* begin() noexcept { return data_; }
  T* end() noexcept { return data_ + size_; }
  const T* begin() const noexcept { return data_; }
  const T* end() const noexcept { return data_ + size_; }

  void release() noexcept {
    if (data_ != nullptr) ::munmap(data_, mapped_);
    data_ = nullptr;
    size_ = capacity_ = mapped_ = 0;
  }

 private:
  static std::size_t round_up(std::size_t bytes) {
    constexpr std::size_t kPage = 4096;
    return (bytes + kPage - 1) / kPage * kPage;
  }
  void swap(MmapBuffer& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(capacity_, o.capacity_);
    std::swap(mapped_, o.mapped_);
  }

  T* data_ = nullptr;          // [capacity_] elements, [size_] in use
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
  std::size_t mapped_ = 0;     // bytes mapped at data_
};

}  // namespace syncscope::retain::internal
