// tests/test_pipeline_attention.cpp: the attention encoders of the pipeline (transformer,
// window_attention): no padding leaks, the window really restricts, attention maps; the SVG
// pictures (parsed back: well-formed, L*L cells, no NaN); an end-to-end Transformer tagger on the
// default task; `seqnn attention` exit codes and output.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/check.h"
#include "common/subprocess.h"
#include "seqnn/models/sequence_model.h"
#include "seqnn/ops.h"
#include "seqnn/random.h"
#include "seqnn/threads.h"
#include "seqnn/train/config.h"
#include "seqnn/train/plots.h"
#include "seqnn/train/trainer.h"

using namespace seqnn;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// ==================================================================== helpers
using testutil::Proc;
Proc run(const std::string& cmd) { return testutil::run_command(cmd); }
std::string quote(const fs::path& p) { return testutil::shell_quote(p); }
std::string cli() { return SEQNN_CLI; }
std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// model.encoder with every default filled in, then the overrides.
json encoder_config(const std::string& type, const json& over) {
  json e = train::default_config()["model"]["encoder"];
  e["type"] = type;
  for (auto it = over.begin(); it != over.end(); ++it) e[it.key()] = it.value();
  return e;
}

// A minimal XML reader: every element closed in order, attribute values quoted, no stray '<' or
// '&' in text. Returns "" when well-formed, else what is wrong; counts elements by tag and class.
struct XmlCheck {
  std::string error;
  std::map<std::string, int> tags, classes;
};
XmlCheck parse_xml(const std::string& s) {
  XmlCheck r;
  std::vector<std::string> stack;
  size_t i = 0;
  auto fail = [&](const std::string& what) {
    if (r.error.empty()) r.error = what + " at " + std::to_string(i);
  };
  auto check_text = [&](const std::string& t) {
    for (size_t k = 0; k < t.size(); ++k)
      if (t[k] == '&') {
        size_t semi = t.find(';', k);
        const std::string ent = semi == std::string::npos ? "" : t.substr(k, semi - k + 1);
        if (ent != "&amp;" && ent != "&lt;" && ent != "&gt;" && ent != "&quot;" && ent != "&apos;") fail("bad entity");
      }
  };
  while (i < s.size() && r.error.empty()) {
    size_t lt = s.find('<', i);
    check_text(s.substr(i, lt == std::string::npos ? std::string::npos : lt - i));
    if (lt == std::string::npos) break;
    i = lt;
    if (s.compare(i, 2, "<?") == 0) {
      size_t e = s.find("?>", i);
      if (e == std::string::npos) fail("unclosed <?");
      i = e + 2;
      continue;
    }
    size_t gt = i + 1;
    char quote_ch = 0;
    for (; gt < s.size(); ++gt) {
      if (quote_ch) {
        if (s[gt] == quote_ch) quote_ch = 0;
        else if (s[gt] == '<') fail("'<' inside an attribute");
      } else if (s[gt] == '"' || s[gt] == '\'') {
        quote_ch = s[gt];
      } else if (s[gt] == '>') {
        break;
      } else if (s[gt] == '<') {
        fail("'<' inside a tag");
      }
    }
    if (gt >= s.size()) {
      fail("unclosed tag");
      break;
    }
    std::string tag = s.substr(i + 1, gt - i - 1);
    i = gt + 1;
    if (!tag.empty() && tag[0] == '/') {
      const std::string name = tag.substr(1);
      if (stack.empty() || stack.back() != name) fail("</" + name + "> does not close <" + (stack.empty() ? "" : stack.back()) + ">");
      else stack.pop_back();
      continue;
    }
    const bool self = !tag.empty() && tag.back() == '/';
    if (self) tag.pop_back();
    const std::string name = tag.substr(0, tag.find_first_of(" \n\t"));
    if (name.empty()) fail("empty tag name");
    r.tags[name] += 1;
    const size_t c = tag.find("class=\"");
    if (c != std::string::npos) r.classes[tag.substr(c + 7, tag.find('"', c + 7) - c - 7)] += 1;
    if (!self) stack.push_back(name);
  }
  if (r.error.empty() && !stack.empty()) r.error = "unclosed <" + stack.back() + ">";
  return r;
}

bool has_nan_text(const std::string& s) {
  for (const char* bad : {"nan", "NaN", "inf", "Inf"})
    if (s.find(bad) != std::string::npos) return true;
  return false;
}

// Random (B,T,I) input with zeros past each length.
Tensor random_input(int64_t B, int64_t T, int64_t I, const std::vector<int64_t>& len, uint64_t seed, double pad = 0) {
  Generator g(seed);
  std::vector<float> v(static_cast<size_t>(B * T * I));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t k = 0; k < I; ++k) v[(b * T + t) * I + k] = t < len[b] ? static_cast<float>(g.normal()) : static_cast<float>(pad);
  return from_vector(v, {B, T, I});
}

}  // namespace

// ==================================================================== no padding leaks
TEST(AttentionEncoders, PaddingNeverLeaks) {
  const int64_t B = 3, T = 6;
  const std::vector<int64_t> len = {6, 2, 4};
  for (const char* type : {"transformer", "window_attention"})
    for (const char* kind : {"tagger", "classifier"})
      for (const char* pos : {"sinusoidal", "learned", "rotary", "none", "lstm"})
        for (bool features : {false, true}) {
          SCOPED_TRACE(std::string(type) + " " + kind + " " + pos + (features ? " features" : " ids"));
          models::ModelConfig mc;
          mc.kind = kind;
          if (features) mc.feature_dim = 5;
          else mc.vocab_size = 20;
          mc.num_labels = 4;
          mc.embedding_dim = 6;
          mc.pooling = "attention";
          // d_model 8 != embedding_dim 6: the input projection is in the path too
          // "lstm": the BiLSTM with its self-attention layer (the default model)
          const bool rnn = std::string(pos) == "lstm";
          if (rnn && std::string(type) == "window_attention") continue;
          mc.encoder = encoder_config(rnn ? "lstm" : type, {{"d_model", 8}, {"hidden_size", 4}, {"attention_heads", 2}, {"nhead", 2}, {"dim_feedforward", 12}, {"num_layers", 2},
                                             {"dropout", 0.0}, {"window", 1}, {"positional", rnn ? "none" : pos},
                                             {"norm_first", std::string(pos) == "learned"}});
          auto once = [&](double pad) {
            manual_seed(3);
            auto m = models::make_model(mc);
            Generator g(5);
            Tensor inputs;
            if (features) {
              inputs = random_input(B, T, 5, len, 11, pad);
            } else {
              std::vector<int64_t> ids(B * T);
              for (int64_t b = 0; b < B; ++b)
                for (int64_t t = 0; t < T; ++t) ids[b * T + t] = t < len[b] ? g.randint(2, 20) : static_cast<int64_t>(pad);
              inputs = from_vector(ids, {B, T});
            }
            Tensor labels;
            if (m->is_tagger()) {
              std::vector<int64_t> y(B * T);
              for (int64_t b = 0; b < B; ++b)
                for (int64_t t = 0; t < T; ++t) y[b * T + t] = t < len[b] ? (b + t) % 4 : -100;
              labels = from_vector(y, {B, T});
            } else {
              labels = from_vector(std::vector<int64_t>{0, 3, 1}, {B});
            }
            Tensor logits = m->forward_batch(inputs, from_vector(len, {B}));
            Tensor loss = m->loss(logits, labels);
            loss.backward();
            std::vector<std::vector<float>> out;
            auto lv = logits.to_vector<float>();
            if (m->is_tagger()) {
              std::vector<float> valid;
              for (int64_t b = 0; b < B; ++b)
                for (int64_t t = 0; t < len[b]; ++t)
                  for (int c = 0; c < 4; ++c) valid.push_back(lv[(b * T + t) * 4 + c]);
              out.push_back(valid);
            } else {
              out.push_back(lv);
            }
            out.push_back({static_cast<float>(loss.item())});
            for (const auto& [name, p] : m->named_parameters())
              out.push_back(p.grad().defined() ? p.grad().to_vector<float>() : std::vector<float>{});
            return out;
          };
          auto a = once(0.0), b = once(features ? 37.5 : 13.0);  // pads hold garbage
          ASSERT_EQ(a.size(), b.size());
          for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "entry " << i;
          for (float v : a[0]) ASSERT_TRUE(std::isfinite(v));
        }
}

// ==================================================================== the window restricts
// max |a - b| over positions t of batch row 0: (T) vector.
std::vector<double> position_diffs(const Tensor& a, const Tensor& b) {
  const int64_t T = a.size(1), H = a.size(2);
  const auto va = a.to_vector<float>(), vb = b.to_vector<float>();
  std::vector<double> d(static_cast<size_t>(T), 0.0);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h) d[t] = std::max(d[t], std::abs(double(va[t * H + h]) - double(vb[t * H + h])));
  return d;
}

TEST(AttentionEncoders, WindowRestrictsTheReceptiveField) {
  const int64_t T = 9, I = 8, k = 1, changed = 0;
  const std::vector<int64_t> len = {T};
  Tensor x = random_input(1, T, I, len, 21);
  auto xv = x.to_vector<float>();
  for (int64_t i = 0; i < I; ++i) xv[changed * I + i] += 3.0f;  // change position 0 only
  Tensor x2 = from_vector(xv, {1, T, I});
  Tensor lengths = from_vector(len, {1});
  for (int64_t layers : {1, 2}) {
    for (const char* type : {"window_attention", "transformer"})
    for (const char* pos : {"sinusoidal", "rotary"}) {
      SCOPED_TRACE(std::string(type) + " " + pos + " layers " + std::to_string(layers));
      manual_seed(4);
      auto enc = models::make_encoder(
          encoder_config(type, {{"nhead", 2}, {"dim_feedforward", 16}, {"num_layers", layers}, {"window", k}, {"dropout", 0.0},
                                {"positional", pos}}), I);
      enc->eval();
      NoGradGuard ng;
      const auto d = position_diffs(enc->encode(x, lengths), enc->encode(x2, lengths));
      for (int64_t t = 0; t < T; ++t) {
        const bool reach = std::string(type) == "transformer" || t - changed <= layers * k;
        if (reach) EXPECT_GT(d[t], 1e-4) << "position " << t << " should see the change";
        else EXPECT_EQ(d[t], 0.0) << "position " << t << " is " << t - changed << " > " << layers * k << " away";
      }
    }
  }
}

// ==================================================================== attention maps
TEST(AttentionEncoders, MapsPerLayerAndHeadOnlyWhenAsked) {
  const int64_t B = 2, T = 5, I = 8, N = 2;
  const std::vector<int64_t> len = {5, 3};
  Tensor x = random_input(B, T, I, len, 2);
  Tensor lengths = from_vector(len, {B});
  for (const char* type : {"transformer", "window_attention"}) {
    SCOPED_TRACE(type);
    manual_seed(1);
    auto enc = models::make_encoder(encoder_config(type, {{"nhead", N}, {"num_layers", 3}, {"window", 1}}), I);
    EXPECT_TRUE(enc->has_attention());
    enc->train();
    enc->set_record_attention(true);
    enc->encode(x, lengths);
    EXPECT_TRUE(enc->attention_maps().empty()) << "training: no maps";
    enc->eval();
    enc->set_record_attention(false);
    enc->encode(x, lengths);
    EXPECT_TRUE(enc->attention_maps().empty()) << "not asked: no maps";
    enc->set_record_attention(true);
    NoGradGuard ng;
    enc->encode(x, lengths);
    const auto maps = enc->attention_maps();
    ASSERT_EQ(maps.size(), 3u);
    for (const auto& w : maps) {
      ASSERT_EQ(w.shape(), (Shape{B, N, T, T}));
      const auto v = w.to_vector<float>();
      for (int64_t b = 0; b < B; ++b)
        for (int64_t n = 0; n < N; ++n)
          for (int64_t i = 0; i < len[b]; ++i) {
            double s = 0;
            for (int64_t j = 0; j < T; ++j) {
              const float p = v[((b * N + n) * T + i) * T + j];
              const bool allowed = j < len[b] && (std::string(type) == "transformer" || std::abs(i - j) <= 1);
              if (!allowed) EXPECT_EQ(p, 0.0f) << "b " << b << " i " << i << " j " << j;
              s += p;
            }
            EXPECT_NEAR(s, 1.0, 1e-5);
          }
    }
  }
  // the recurrent encoders: a self-attention layer over the states unless attention_heads is 0
  auto plain = models::make_encoder(encoder_config("lstm", {{"hidden_size", 4}, {"attention_heads", 0}}), I);
  EXPECT_FALSE(plain->has_attention());
  auto lstm = models::make_encoder(encoder_config("lstm", {{"hidden_size", 4}, {"attention_heads", 2}}), I);
  ASSERT_TRUE(lstm->has_attention());
  lstm->eval();
  lstm->set_record_attention(true);
  NoGradGuard ng;
  lstm->encode(x, lengths);
  ASSERT_EQ(lstm->attention_maps().size(), 1u);
  EXPECT_EQ(lstm->attention_maps()[0].shape(), (Shape{B, 2, T, T}));
  testutil::expect_error([&] { models::make_encoder(encoder_config("gru", {{"hidden_size", 4}, {"attention_heads", 3}}), I); },
                         "model.encoder.attention_heads", "divide");
}

TEST(AttentionEncoders, BadConfigNamesTheField) {
  testutil::expect_error([&] { models::make_encoder(encoder_config("transformer", {{"nhead", 5}}), 8); }, "model.encoder.nhead",
                         "divide");
  testutil::expect_error([&] { models::make_encoder(encoder_config("transformer", {{"positional", "relative"}}), 8); },
                         "model.encoder.positional", "relative");
  // rotary turns pairs of each head's dimensions: 6 / 2 heads = 3 is odd
  testutil::expect_error([&] { models::make_encoder(encoder_config("transformer", {{"positional", "rotary"}, {"nhead", 2}}), 6); },
                         "model.encoder.positional", "even head size");
  EXPECT_NE(models::make_encoder(encoder_config("transformer", {{"positional", "rotary"}, {"nhead", 2}}), 8)->describe().find("rotary positions"),
            std::string::npos);
  testutil::expect_error([&] { models::make_encoder(encoder_config("window_attention", {{"window", 0}}), 8); },
                         "model.encoder.window", ">= 1");
  testutil::expect_error([&] { models::make_encoder(encoder_config("transformer", {{"activation", "tanh"}}), 8); },
                         "model.encoder.activation", "tanh");
}

// ==================================================================== SVG
TEST(Plots, HeatmapSvgIsWellFormed) {
  const std::vector<std::string> tok = {"leave", "<Taipei>", "on", "A&B", "2nd"};
  const int64_t L = 5;
  std::vector<train::Heatmap> panels;
  for (int p = 0; p < 3; ++p) {
    train::Heatmap h{"layer 1, head " + std::to_string(p + 1), tok, tok, {}};
    for (int64_t i = 0; i < L * L; ++i) h.values.push_back((i * (p + 1)) % 7 / 7.0);
    panels.push_back(h);
  }
  panels[1].values[3] = std::nan("");  // drawn as 0, never written as "nan"
  panels[2].values[4] = INFINITY;
  const std::string svg = train::heatmap_svg(panels, 2, "attention: \"leave <Taipei>\"");
  XmlCheck x = parse_xml(svg);
  EXPECT_EQ(x.error, "");
  EXPECT_EQ(x.tags["svg"], 1);
  EXPECT_EQ(x.classes["cell"], 3 * L * L);
  EXPECT_EQ(x.classes["panel"], 3);
  EXPECT_EQ(x.classes["colorbar"], 1);
  EXPECT_FALSE(has_nan_text(svg));
  EXPECT_NE(svg.find("&lt;Taipei&gt;"), std::string::npos);
  EXPECT_NE(svg.find("layer 1, head 3"), std::string::npos);
  testutil::expect_error([&] { train::heatmap_svg({train::Heatmap{"x", tok, tok, {1.0}}}, 1, "t"); }, "heatmap_svg", "1 values");

  // terminal version: title, one line per character of the longest column token (max 12), a row
  // per query token with L cells, the scale
  train::Heatmap h{"mean", {"a", "bb"}, {"a", "bb"}, {0.0, 1.0, 0.5, 0.25}};
  const std::string t = train::heatmap_text(h);
  EXPECT_EQ(t, "mean\n    a  b \n       b \n a [ ][@]\nbb [+][:]\nscale: ' ' 0 .. '@' 1 (\" .:-=+*#%@\")\n");
}

TEST(Plots, CurvesSvgIsWellFormed) {
  std::vector<std::pair<int64_t, double>> steps;
  for (int64_t s = 1; s <= 50; ++s) steps.emplace_back(s, 2.0 / s);
  steps.emplace_back(51, std::nan(""));
  std::vector<json> evals = {{{"epoch", 1}, {"step", 25}, {"loss", 0.4}, {"accuracy", 0.8}, {"slot_f1", 0.7}},
                             {{"epoch", 2}, {"step", 50}, {"loss", 0.2}, {"accuracy", 0.9}, {"slot_f1", 0.85}}};
  const std::string svg = train::curves_svg(steps, evals, "booking: lstm");
  XmlCheck x = parse_xml(svg);
  EXPECT_EQ(x.error, "");
  for (const char* c : {"train-loss", "train-loss-smoothed", "valid-loss", "valid-accuracy", "valid-f1"})
    EXPECT_EQ(x.classes[c], 1) << c;
  EXPECT_FALSE(has_nan_text(svg));
  EXPECT_NE(svg.find("slot F1"), std::string::npos);
  // no evaluations yet, no steps: still a valid picture
  EXPECT_EQ(parse_xml(train::curves_svg({}, {}, "empty")).error, "");
  EXPECT_EQ(train::slug("Leave Taipei, on  November 2nd!"), "leave_taipei_on_november_2nd");
  EXPECT_EQ(train::slug("???"), "input");
}

// ==================================================================== end to end
TEST(AttentionTrain, TransformerTaggerReachesSlotF1) {
  fs::path dir = testutil::scratch_dir("pipeline_attention", "e2e");
  // post-norm, 2 layers, 4 heads, d_model 64: test slot F1 0.9605 after 16 epochs (about 20 s on one
  // thread; the default 5 epochs are not enough for a Transformer here, see the README's table)
  json cfg = {{"data", {{"train_size", 3000}, {"valid_size", 200}, {"test_size", 400}}},
              {"model", {{"encoder", {{"type", "transformer"}, {"num_layers", 2}, {"nhead", 4}, {"dim_feedforward", 128}, {"dropout", 0.1}}}}},
              {"train", {{"epochs", 16}, {"checkpoint_every", 0}, {"early_stopping_patience", 0}}}};
  // one thread: small batches gain nothing from two, and a busy machine makes OpenMP barriers slow
  const int threads = num_threads();
  set_num_threads(1);
  train::TrainOptions o;
  o.config = train::resolve_config(cfg);
  o.run_dir = dir / "run";
  std::ostringstream log;
  o.log = &log;
  const auto t0 = std::chrono::steady_clock::now();
  json s = train::run_training(o);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  set_num_threads(threads);
  std::cout << log.str() << "test.slot_f1 " << s["test.slot_f1"] << " in " << secs << " s\n";
  EXPECT_GE(s["test.slot_f1"].get<double>(), 0.95);
  EXPECT_EQ(s["encoder"], "transformer");
  // pictures: curves after every evaluation, the two Taipei maps at the end
  XmlCheck curves = parse_xml(read_file(o.run_dir / "curves.svg"));
  EXPECT_EQ(curves.error, "");
  EXPECT_EQ(curves.classes["valid-f1"], 1);
  ASSERT_EQ(s["attention_maps"].size(), 2u);
  for (const auto& f : s["attention_maps"]) {
    const std::string svg = read_file(f.get<std::string>());
    XmlCheck x = parse_xml(svg);
    EXPECT_EQ(x.error, "") << f;
    const int64_t L = 5, layers = o.config["model"]["encoder"]["num_layers"], heads = o.config["model"]["encoder"]["nhead"];
    EXPECT_EQ(x.classes["cell"], layers * heads * L * L) << f;
    EXPECT_FALSE(has_nan_text(svg));
  }
  EXPECT_TRUE(fs::exists(o.run_dir / "attention" / "leave_taipei_on_november_2nd.svg"));
  train::LoadedModel m = train::load_model(o.run_dir);
  EXPECT_EQ(train::format_prediction(m, "leave Taipei on November 2nd"), "leave/O Taipei/B-origin on/O November/B-date 2nd/I-date");
  EXPECT_EQ(train::format_prediction(m, "arrive Taipei on November 2nd"), "arrive/O Taipei/B-dest on/O November/B-date 2nd/I-date");
}

// ==================================================================== seqnn attention
TEST(AttentionCli, ExitCodesAndOutput) {
  fs::path dir = testutil::scratch_dir("pipeline_attention", "cli");
  json cfg = {{"data", {{"train_size", 300}, {"valid_size", 100}, {"test_size", 100}}},
              {"model", {{"embedding_dim", 16}, {"encoder", {{"type", "window_attention"}, {"nhead", 2}, {"num_layers", 2}, {"window", 2}, {"dim_feedforward", 32}}}}},
              {"train", {{"epochs", 1}, {"checkpoint_every", 0}}}};
  std::ofstream(dir / "cfg.json") << cfg.dump();
  Proc t = run(cli() + " train --no-progress --config " + quote(dir / "cfg.json") + " --run-dir " + quote(dir / "run"));
  ASSERT_EQ(t.rc, 0) << t.out;
  EXPECT_NE(t.out.find("attention maps (every layer and head):\n  " + (dir / "run" / "attention" / "arrive_taipei_on_november_2nd.svg").string()),
            std::string::npos) << t.out;
  EXPECT_NE(t.out.find("training curves: " + (dir / "run" / "curves.svg").string()), std::string::npos) << t.out;

  // default: last layer, the mean over heads in the terminal; the SVG holds the mean and each head
  Proc a = run(cli() + " attention " + quote(dir / "run") + " 'leave Taipei on November 2nd'");
  ASSERT_EQ(a.rc, 0) << a.out;
  EXPECT_EQ(a.out.rfind("leave/", 0), 0u) << a.out;
  EXPECT_NE(a.out.find("layer 2, mean of 2 heads\n"), std::string::npos) << a.out;
  EXPECT_NE(a.out.find("\n   leave ["), std::string::npos) << a.out;     // row labels
  EXPECT_NE(a.out.find("\nNovember ["), std::string::npos) << a.out;
  EXPECT_NE(a.out.find("scale: ' ' 0 .. '@' "), std::string::npos) << a.out;
  const fs::path def = dir / "run" / "attention" / "leave_taipei_on_november_2nd_layer2.svg";
  EXPECT_NE(a.out.find("written: " + def.string()), std::string::npos) << a.out;
  XmlCheck x = parse_xml(read_file(def));
  EXPECT_EQ(x.error, "");
  EXPECT_EQ(x.classes["cell"], 3 * 5 * 5);  // mean + 2 heads
  // one head, one layer, a chosen file: one panel
  Proc h = run(cli() + " attention " + quote(dir / "run" / "best.safetensors") + " 'arrive Oslo' --layer 1 --head 2 --out " +
               quote(dir / "one.svg"));
  ASSERT_EQ(h.rc, 0) << h.out;
  EXPECT_NE(h.out.find("layer 1, head 2\n"), std::string::npos) << h.out;
  x = parse_xml(read_file(dir / "one.svg"));
  EXPECT_EQ(x.error, "");
  EXPECT_EQ(x.classes["cell"], 2 * 2);
  // usage errors: 2; runtime errors: 1, one line
  EXPECT_EQ(run(cli() + " attention --help").rc, 0);
  EXPECT_EQ(run(cli() + " attention " + quote(dir / "run")).rc, 2);  // no sentence
  Proc bad_layer = run(cli() + " attention " + quote(dir / "run") + " 'fly to Rome' --layer 3");
  EXPECT_EQ(bad_layer.rc, 2) << bad_layer.out;
  EXPECT_NE(bad_layer.out.find("--layer must be in [1, 2], got 3"), std::string::npos) << bad_layer.out;
  EXPECT_EQ(run(cli() + " attention " + quote(dir / "run") + " 'fly to Rome' --head 3").rc, 2);
  Proc empty = run(cli() + " attention " + quote(dir / "run") + " '  '");
  EXPECT_EQ(empty.rc, 1);
  EXPECT_NE(empty.out.find("empty sentence"), std::string::npos);
  Proc missing = run(cli() + " attention " + quote(dir / "nothing.safetensors") + " 'fly'");
  EXPECT_EQ(missing.rc, 1);
  EXPECT_EQ(std::count(missing.out.begin(), missing.out.end(), '\n'), 1) << missing.out;

  // a model without attention: a clear error
  json lc = {{"data", {{"train_size", 100}, {"valid_size", 50}, {"test_size", 50}}},
             {"model", {{"embedding_dim", 8}, {"encoder", {{"type", "lstm"}, {"hidden_size", 8}, {"attention_heads", 0}}}}},
             {"train", {{"epochs", 1}, {"checkpoint_every", 0}}}};
  std::ofstream(dir / "lstm.json") << lc.dump();
  Proc lt = run(cli() + " train --no-progress --config " + quote(dir / "lstm.json") + " --run-dir " + quote(dir / "lstm"));
  ASSERT_EQ(lt.rc, 0) << lt.out;
  EXPECT_EQ(lt.out.find("attention maps"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "lstm" / "attention"));
  EXPECT_TRUE(fs::exists(dir / "lstm" / "curves.svg"));
  Proc none = run(cli() + " attention " + quote(dir / "lstm") + " 'fly to Rome'");
  EXPECT_EQ(none.rc, 1);
  EXPECT_NE(none.out.find("has no attention layers"), std::string::npos) << none.out;
}
