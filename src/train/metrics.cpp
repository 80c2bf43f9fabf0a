// src/train/metrics.cpp: accuracy, per-label and CoNLL slot P/R/F1, confusion matrix.
#include "seqnn/train/metrics.h"

#include <algorithm>

#include "seqnn/error.h"

namespace seqnn::train {

PRF prf(int64_t tp, int64_t predicted, int64_t gold) {
  PRF r;
  r.precision = predicted ? static_cast<double>(tp) / static_cast<double>(predicted) : 0.0;
  r.recall = gold ? static_cast<double>(tp) / static_cast<double>(gold) : 0.0;
  r.f1 = (r.precision + r.recall) > 0 ? 2 * r.precision * r.recall / (r.precision + r.recall) : 0.0;
  r.support = gold;
  return r;
}

// ==================================================================== BIO chunks
std::vector<Chunk> bio_chunks(const std::vector<std::string>& tags) {
  std::vector<Chunk> out;
  std::string cur;  // type of the open chunk, "" when none
  int64_t begin = 0;
  auto close = [&](int64_t end) {
    if (!cur.empty()) out.push_back({cur, begin, end});
    cur.clear();
  };
  for (int64_t i = 0; i < static_cast<int64_t>(tags.size()); ++i) {
    const std::string& t = tags[i];
    const bool b = t.rfind("B-", 0) == 0, in = t.rfind("I-", 0) == 0;
    const std::string type = (b || in) ? t.substr(2) : "";
    if (b || (in && type != cur)) {  // B-X, or an I-X that cannot continue: a new chunk
      close(i);
      cur = type;
      begin = i;
    } else if (!in) {  // O (or anything else)
      close(i);
    }
  }
  close(static_cast<int64_t>(tags.size()));
  return out;
}

// ==================================================================== accumulator
MetricAccumulator::MetricAccumulator(std::vector<std::string> labels, bool tagging)
    : labels_(std::move(labels)), tagging_(tagging),
      confusion_(labels_.size(), std::vector<int64_t>(labels_.size(), 0)) {}

void MetricAccumulator::add(const std::vector<int64_t>& gold, const std::vector<int64_t>& pred) {
  check(gold.size() == pred.size(), "metrics", "gold (", gold.size(), ") and predicted (", pred.size(),
        ") lengths differ");
  const int64_t C = static_cast<int64_t>(labels_.size());
  bool all = true;
  for (size_t i = 0; i < gold.size(); ++i) {
    check(gold[i] >= 0 && gold[i] < C && pred[i] >= 0 && pred[i] < C, "metrics", "label id out of range [0,", C, ")");
    confusion_[gold[i]][pred[i]] += 1;
    tokens_ += 1;
    correct_ += gold[i] == pred[i];
    all = all && gold[i] == pred[i];
  }
  sequences_ += 1;
  sequences_correct_ += all;
  if (!tagging_) return;
  auto names = [&](const std::vector<int64_t>& ids) {
    std::vector<std::string> t;
    for (int64_t i : ids) t.push_back(labels_[i]);
    return t;
  };
  auto g = bio_chunks(names(gold)), p = bio_chunks(names(pred));
  std::sort(g.begin(), g.end());
  std::sort(p.begin(), p.end());
  for (const auto& c : g) chunk_gold_[c.type] += 1;
  for (const auto& c : p) {
    chunk_pred_[c.type] += 1;
    if (std::binary_search(g.begin(), g.end(), c)) chunk_tp_[c.type] += 1;
  }
}

void MetricAccumulator::add_loss(double loss_sum, int64_t count) {
  loss_sum_ += loss_sum;
  loss_count_ += count;
}

double MetricAccumulator::accuracy() const { return tokens_ ? static_cast<double>(correct_) / tokens_ : 0.0; }
double MetricAccumulator::sequence_accuracy() const {
  return sequences_ ? static_cast<double>(sequences_correct_) / sequences_ : 0.0;
}

PRF MetricAccumulator::slot() const {
  int64_t tp = 0, p = 0, g = 0;
  for (const auto& [k, v] : chunk_tp_) tp += v;
  for (const auto& [k, v] : chunk_pred_) p += v;
  for (const auto& [k, v] : chunk_gold_) g += v;
  return prf(tp, p, g);
}

std::map<std::string, PRF> MetricAccumulator::per_slot() const {
  std::map<std::string, PRF> out;
  auto get = [](const std::map<std::string, int64_t>& m, const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? int64_t{0} : it->second;
  };
  for (const auto& l : labels_)
    if (l.rfind("B-", 0) == 0) {
      const std::string t = l.substr(2);
      out[t] = prf(get(chunk_tp_, t), get(chunk_pred_, t), get(chunk_gold_, t));
    }
  return out;
}

std::map<std::string, PRF> MetricAccumulator::per_label() const {
  std::map<std::string, PRF> out;
  const size_t C = labels_.size();
  for (size_t c = 0; c < C; ++c) {
    int64_t tp = confusion_[c][c], pred = 0, gold = 0;
    for (size_t r = 0; r < C; ++r) {
      pred += confusion_[r][c];
      gold += confusion_[c][r];
    }
    out[labels_[c]] = prf(tp, pred, gold);
  }
  return out;
}

namespace {
nlohmann::json prf_json(const PRF& p) {
  return {{"precision", p.precision}, {"recall", p.recall}, {"f1", p.f1}, {"support", p.support}};
}
}  // namespace

nlohmann::json MetricAccumulator::to_json() const {
  nlohmann::json j;
  j["loss"] = loss();
  j["accuracy"] = accuracy();
  j["sequence_accuracy"] = sequence_accuracy();
  if (tagging_) {
    PRF s = slot();
    j["slot_f1"] = s.f1;
    j["slot_precision"] = s.precision;
    j["slot_recall"] = s.recall;
    for (const auto& [k, v] : per_slot()) j["per_slot"][k] = prf_json(v);
  }
  for (const auto& [k, v] : per_label()) j["per_label"][k] = prf_json(v);
  j["confusion"] = {{"labels", labels_}, {"matrix", confusion_}};
  return j;
}

}  // namespace seqnn::train
