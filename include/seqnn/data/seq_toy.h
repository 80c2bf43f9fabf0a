// seqnn/data/seq_toy.h: small synthetic N vs M tasks that a correct encoder-decoder learns
// exactly, so a model, a search or the training loop can be checked end to end in seconds.
//   copy     "cabd" -> "cabd"
//   reverse  "cabd" -> "dbac"
//   sort     "cabd" -> "abcd"
// Sources are random strings over the first `alphabet` lowercase letters, of a length drawn
// uniformly in [min_length, max_length]; a pure function of the options (seed), and the three
// splits never share a source string.
#pragma once

#include <cstdint>
#include <string>

#include "seqnn/data/dataset.h"

namespace seqnn::data {

struct SeqToyOptions {
  std::string task = "reverse";  // copy / reverse / sort
  int64_t alphabet = 10;         // 2..26
  int64_t min_length = 3, max_length = 8;
  int64_t train_size = 3000, valid_size = 400, test_size = 1000;
  uint64_t seed = 2024;
};

// Error naming the option when out of range, or when the splits cannot be filled with distinct
// strings.
Dataset make_seq_toy(const SeqToyOptions& options);

}  // namespace seqnn::data
