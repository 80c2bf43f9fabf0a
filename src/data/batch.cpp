// src/data/batch.cpp: encoding, padding (collate) and the length-bucketing batcher.
#include "seqnn/data/batch.h"

#include <algorithm>
#include <numeric>
#include <unordered_map>

#include "seqnn/error.h"
#include "seqnn/random.h"

namespace seqnn::data {

uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b) {
  // splitmix64 over the three words: well-spread seeds for nearby (epoch, batch) pairs.
  auto mix = [](uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  return mix(mix(mix(seed) ^ a) ^ (b * 0x632be59bd9b4e019ULL));
}

// ==================================================================== encode
std::vector<Encoded> encode(const std::vector<Example>& examples, const Vocab& vocab,
                            const std::vector<std::string>& labels, TaskKind kind, int64_t feature_dim) {
  std::unordered_map<std::string, int64_t> label_id;
  for (size_t i = 0; i < labels.size(); ++i) label_id[labels[i]] = static_cast<int64_t>(i);
  auto lookup = [&](const std::string& l, size_t ex) {
    auto it = label_id.find(l);
    check(it != label_id.end(), "data.encode", "example ", ex, ": unknown label \"", l, "\"");
    return it->second;
  };
  std::vector<Encoded> out;
  out.reserve(examples.size());
  for (size_t i = 0; i < examples.size(); ++i) {
    const Example& e = examples[i];
    Encoded x;
    if (feature_dim > 0) {
      check(e.feature_dim == feature_dim && e.features.size() % feature_dim == 0, "data.encode", "example ", i,
            ": features must be a multiple of feature_dim=", feature_dim);
      x.features = e.features;
      x.length = static_cast<int64_t>(e.features.size()) / feature_dim;
    } else {
      x.ids = vocab.encode(e.tokens);
      x.length = static_cast<int64_t>(e.tokens.size());
    }
    check(x.length > 0, "data.encode", "example ", i, " is empty");
    if (kind == TaskKind::Tagging) {
      check(static_cast<int64_t>(e.tags.size()) == x.length, "data.encode", "example ", i, " has ", e.tags.size(),
            " tags for ", x.length, " positions");
      for (const auto& t : e.tags) x.tags.push_back(lookup(t, i));
    } else {
      x.label = lookup(e.label, i);
    }
    out.push_back(std::move(x));
  }
  return out;
}

// ==================================================================== collate
int64_t Batch::max_length() const {
  int64_t T = 0;
  if (lengths.defined())
    for (int64_t l : lengths.to_vector<int64_t>()) T = std::max(T, l);
  return T;
}

Batch collate(const std::vector<Encoded>& data, const std::vector<int64_t>& index, TaskKind kind,
              int64_t feature_dim) {
  check(!index.empty(), "data.collate", "empty batch");
  const int64_t B = static_cast<int64_t>(index.size());
  int64_t T = 0;
  for (int64_t i : index) {
    check(i >= 0 && i < static_cast<int64_t>(data.size()), "data.collate", "index ", i, " out of range");
    T = std::max(T, data[i].length);
  }
  Batch b;
  b.index = index;
  std::vector<int64_t> lengths(B);
  for (int64_t r = 0; r < B; ++r) lengths[r] = data[index[r]].length;
  b.lengths = from_vector(lengths, {B});
  if (feature_dim > 0) {
    std::vector<float> f(static_cast<size_t>(B * T * feature_dim), 0.0f);
    for (int64_t r = 0; r < B; ++r)
      std::copy(data[index[r]].features.begin(), data[index[r]].features.end(), f.begin() + r * T * feature_dim);
    b.features = from_vector(f, {B, T, feature_dim});
  } else {
    std::vector<int64_t> ids(static_cast<size_t>(B * T), Vocab::kPad);
    for (int64_t r = 0; r < B; ++r) std::copy(data[index[r]].ids.begin(), data[index[r]].ids.end(), ids.begin() + r * T);
    b.ids = from_vector(ids, {B, T});
  }
  if (kind == TaskKind::Tagging) {
    std::vector<int64_t> tags(static_cast<size_t>(B * T), kIgnore);
    for (int64_t r = 0; r < B; ++r)
      std::copy(data[index[r]].tags.begin(), data[index[r]].tags.end(), tags.begin() + r * T);
    b.labels = from_vector(tags, {B, T});
  } else {
    std::vector<int64_t> y(B);
    for (int64_t r = 0; r < B; ++r) y[r] = data[index[r]].label;
    b.labels = from_vector(y, {B});
  }
  return b;
}

// ==================================================================== Batcher
Batcher::Batcher(int64_t num_examples, std::vector<int64_t> lengths, int64_t batch_size, int64_t bucket_batches)
    : n_(num_examples), lengths_(std::move(lengths)), batch_size_(batch_size), bucket_batches_(bucket_batches) {
  check(batch_size >= 1, "Batcher", "batch_size must be >= 1, got ", batch_size);
  check(bucket_batches >= 1, "Batcher", "bucket_batches must be >= 1, got ", bucket_batches);
  check(static_cast<int64_t>(lengths_.size()) == n_, "Batcher", "lengths (", lengths_.size(), ") must be (", n_, ")");
}

int64_t Batcher::num_batches() const { return (n_ + batch_size_ - 1) / batch_size_; }

namespace {
// Fisher-Yates with seqnn's portable generator (std::shuffle differs between libraries).
template <class V>
void shuffle_with(V& v, Generator& g) {
  for (int64_t i = static_cast<int64_t>(v.size()) - 1; i > 0; --i) std::swap(v[i], v[g.randint(0, i + 1)]);
}
}  // namespace

std::vector<std::vector<int64_t>> Batcher::epoch(uint64_t seed, int64_t epoch) const {
  Generator g(mix_seed(seed, 0xba7c4e5ULL, static_cast<uint64_t>(epoch)));
  std::vector<int64_t> order(n_);
  std::iota(order.begin(), order.end(), 0);
  shuffle_with(order, g);
  std::vector<std::vector<int64_t>> batches;
  const int64_t pool = batch_size_ * bucket_batches_;
  for (int64_t p = 0; p < n_; p += pool) {
    auto first = order.begin() + p, last = order.begin() + std::min(n_, p + pool);
    std::stable_sort(first, last, [&](int64_t a, int64_t b) { return lengths_[a] < lengths_[b]; });
    for (auto it = first; it < last; it += std::min<int64_t>(batch_size_, last - it))
      batches.emplace_back(it, it + std::min<int64_t>(batch_size_, last - it));
  }
  shuffle_with(batches, g);
  return batches;
}

std::vector<std::vector<int64_t>> Batcher::sequential() const {
  std::vector<int64_t> order(n_);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return lengths_[a] < lengths_[b]; });
  std::vector<std::vector<int64_t>> batches;
  for (int64_t p = 0; p < n_; p += batch_size_)
    batches.emplace_back(order.begin() + p, order.begin() + std::min(n_, p + batch_size_));
  return batches;
}

}  // namespace seqnn::data
