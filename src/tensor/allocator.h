// tensor/allocator.h (internal): where Storage gets its memory. A small size-bucketed cache in
// front of aligned_alloc/free.
//
// Why: a training step allocates and frees the same sizes again and again (per decoder step:
// gate buffers, weight-gradient GEMM outputs, gradients of the encoder states). Blocks of a
// few hundred KB sit above glibc's mmap/trim thresholds, so each allocation came back as fresh
// pages from the kernel and each touch of them page-faulted (on the seq2seq benchmark, 10-30%
// of a train step and most of a beam search went to page faults and first-touch memsets).
// Freed blocks of >= 16 KiB are kept per exact (4 KiB-rounded) size and handed out again;
// smaller ones go straight to malloc, which serves them well.
// Bound: at most allocator_cache_limit() bytes are held (default 1 GiB; the environment
// variable SEQNN_ALLOCATOR_CACHE_MB, read once, overrides it, 0 turns the cache off). When a
// freed block would exceed it, held blocks of other sizes are freed first (the sizes a loop no
// longer asks for), then of its own size; a block larger than the limit is freed. (256 MiB
// without the eviction: a GRU 100x64x512 training step's working set did not fit once earlier
// shapes had filled the cache.) Sanitizer builds default to 0 (ASan must see every free).
// Blocks of >= 4 MiB (the saved gates, gate gradients and packed weights of a recurrent layer,
// activations of long batches) start on a 2 MiB boundary and are advised MADV_HUGEPAGE: where
// transparent huge pages are "madvise" (Debian's default), that is the only way to get them. A
// GEMM that packs a transposed operand reads one short run per row, rows 8 KiB apart, so each
// row was a TLB miss on 4 KiB pages; and a fresh block faults in 2 MiB at a time instead of 4
// KiB (bench_rnn, LSTM 100x64x512x512 forward+backward 278 -> 262 ms, BiLSTM 185 -> 178 ms,
// medians of 3 interleaved runs; forward shapes unchanged). SEQNN_HUGEPAGES=0 turns it off.
// Contents of a reused block are unspecified, as for any fresh allocation.
// Thread-safe (one mutex; blocks may be freed on another thread than the one that took them).
#pragma once

#include <cstddef>

namespace seqnn::detail {

// 64-byte-aligned memory of at least `bytes` bytes; storage_free must get the same `bytes`.
void* storage_alloc(size_t bytes);
void storage_free(void* p, size_t bytes);

// SEQNN_HUGEPAGES (read once, at the first large allocation): null or "1" -> true, "0" -> false,
// anything else a seqnn::Error naming the variable and the value.
bool huge_pages_setting(const char* value);

size_t allocator_cache_limit();
void set_allocator_cache_limit(size_t bytes);  // frees what is held above the new limit
size_t allocator_cached_bytes();               // held now, not in use
void allocator_empty_cache();                  // frees every held block

}  // namespace seqnn::detail
