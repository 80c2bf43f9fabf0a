// src/data/seq_toy.cpp: copy / reverse / sort, the toy N vs M tasks.
#include "seqnn/data/seq_toy.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "seqnn/error.h"
#include "seqnn/random.h"

namespace seqnn::data {

Dataset make_seq_toy(const SeqToyOptions& o) {
  constexpr const char* op = "seq_toy";
  check(o.task == "copy" || o.task == "reverse" || o.task == "sort", op, "task must be copy, reverse or sort, got \"",
        o.task, "\"");
  check(o.alphabet >= 2 && o.alphabet <= 26, op, "alphabet must be in [2, 26], got ", o.alphabet);
  check(o.min_length >= 1 && o.max_length >= o.min_length && o.max_length <= 200, op,
        "lengths must satisfy 1 <= min_length <= max_length <= 200, got [", o.min_length, ", ", o.max_length, "]");
  check(o.train_size >= 1 && o.valid_size >= 0 && o.test_size >= 0, op, "sizes must be train >= 1, valid >= 0, test >= 0");
  // distinct strings available: sum over lengths of alphabet^length (capped to avoid overflow)
  double available = 0;
  for (int64_t l = o.min_length; l <= o.max_length; ++l) available += std::pow(static_cast<double>(o.alphabet), static_cast<double>(l));
  const double wanted = static_cast<double>(o.train_size + o.valid_size + o.test_size);
  check(available >= 2 * wanted, op, "only ", available, " distinct sources of length ", o.min_length, "..", o.max_length,
        " over ", o.alphabet, " letters for ", wanted, " examples; widen the alphabet or the lengths");

  Dataset d;
  d.name = "seq_toy";
  d.kind = TaskKind::Sequence;
  Generator g(o.seed);
  std::unordered_set<std::string> seen;
  auto make = [&](int64_t n, std::vector<Example>& out) {
    while (static_cast<int64_t>(out.size()) < n) {
      const int64_t len = o.min_length + static_cast<int64_t>(g.uniform() * static_cast<double>(o.max_length - o.min_length + 1));
      std::string s;
      for (int64_t i = 0; i < std::min(len, o.max_length); ++i)
        s += static_cast<char>('a' + std::min<int64_t>(o.alphabet - 1, static_cast<int64_t>(g.uniform() * static_cast<double>(o.alphabet))));
      if (!seen.insert(s).second) continue;
      Example e;
      e.source = s;
      e.target = s;
      if (o.task == "reverse") std::reverse(e.target.begin(), e.target.end());
      if (o.task == "sort") std::sort(e.target.begin(), e.target.end());
      e.group = o.task;
      out.push_back(std::move(e));
    }
  };
  make(o.train_size, d.train);
  make(o.valid_size, d.valid);
  make(o.test_size, d.test);
  return d;
}

}  // namespace seqnn::data
