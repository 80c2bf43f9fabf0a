// tensor/allocator.cpp: the caching allocator behind Storage (see tensor/allocator.h).
#include "tensor/allocator.h"

#include <sys/mman.h>

#include <cstdlib>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "seqnn/error.h"

namespace seqnn::detail {

namespace {

constexpr size_t kAlign = 64;
constexpr size_t kMinCached = 16 << 10;  // below: plain malloc
constexpr size_t kPage = 4 << 10;
constexpr size_t kHuge = 2 << 20, kHugeMin = 4 << 20;

#if defined(__SANITIZE_ADDRESS__)
constexpr size_t kDefaultLimitMb = 0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr size_t kDefaultLimitMb = 0;
#else
constexpr size_t kDefaultLimitMb = 1024;
#endif
#else
constexpr size_t kDefaultLimitMb = 1024;
#endif

size_t rounded(size_t bytes) {
  if (bytes < kMinCached) return bytes == 0 ? kAlign : (bytes + kAlign - 1) / kAlign * kAlign;
  return (bytes + kPage - 1) / kPage * kPage;
}

size_t read_env_limit() {
  size_t mb = kDefaultLimitMb;
  if (const char* s = std::getenv("SEQNN_ALLOCATOR_CACHE_MB")) {
    char* end = nullptr;
    const long long v = std::strtoll(s, &end, 10);
    if (end == s || *end != '\0' || v < 0 || v > (1LL << 30))
      throw Error(std::string("SEQNN_ALLOCATOR_CACHE_MB: expected an integer >= 0, got '") + s + "'");
    mb = static_cast<size_t>(v);
  }
  return mb << 20;
}

bool huge_pages_enabled() {
  static const bool on = huge_pages_setting(std::getenv("SEQNN_HUGEPAGES"));
  return on;
}

struct Cache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free;  // rounded size -> blocks (LIFO)
  size_t held = 0;
  size_t limit = read_env_limit();

  // Frees held blocks until at most `target` bytes are held, blocks of size `keep` last (caller
  // holds mu).
  void trim_to(size_t target, size_t keep = 0) {
    for (int pass = 0; pass < 2 && held > target; ++pass)
      for (auto it = free.begin(); it != free.end() && held > target;) {
        if (pass == 0 && it->first == keep) {
          ++it;
          continue;
        }
        auto& v = it->second;
        while (!v.empty() && held > target) {
          std::free(v.back());
          v.pop_back();
          held -= it->first;
        }
        it = v.empty() ? free.erase(it) : std::next(it);
      }
  }
};

// Never destroyed: Storages may be freed during static destruction.
Cache& cache() {
  static Cache* c = new Cache();
  return *c;
}

}  // namespace

void* storage_alloc(size_t bytes) {
  const size_t n = rounded(bytes);
  if (n >= kMinCached) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free.find(n);
    if (it != c.free.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.held -= n;
      return p;
    }
  }
  void* p = nullptr;
  if (n >= kHugeMin && huge_pages_enabled()) {
    // posix_memalign: aligned_alloc wants the size to be a multiple of the alignment
    if (posix_memalign(&p, kHuge, n) != 0) p = nullptr;
    if (p) madvise(p, n, MADV_HUGEPAGE);
  } else {
    p = std::aligned_alloc(kAlign, n);
  }
  if (!p) fail("Storage", "cannot allocate ", bytes, " bytes");
  return p;
}

void storage_free(void* p, size_t bytes) {
  if (!p) return;
  const size_t n = rounded(bytes);
  if (n >= kMinCached) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    if (n <= c.limit) {
      // Full: blocks of other sizes go first. A loop that moved on to new shapes (the next
      // benchmark, a longer batch) would otherwise find the cache full of sizes it no longer
      // asks for and page-fault on every fresh block (a GRU 100x64x512 training step: 162 ms
      // alone, 302 ms after other shapes had filled the cache).
      if (c.held + n > c.limit) c.trim_to(c.limit - n, n);
      c.free[n].push_back(p);
      c.held += n;
      return;
    }
  }
  std::free(p);
}

bool huge_pages_setting(const char* value) {
  if (value == nullptr || std::string_view(value) == "1") return true;
  if (std::string_view(value) == "0") return false;
  throw Error(std::string("SEQNN_HUGEPAGES: expected 0 or 1, got '") + value + "'");
}

size_t allocator_cache_limit() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.limit;
}

void set_allocator_cache_limit(size_t bytes) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.limit = bytes;
  c.trim_to(bytes);
}

size_t allocator_cached_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.held;
}

void allocator_empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.trim_to(0);
}

}  // namespace seqnn::detail
