// src/train/plots.cpp: SVG heatmaps and training curves, and the terminal heatmap.
#include "seqnn/train/plots.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "seqnn/error.h"

namespace seqnn::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// ==================================================================== helpers
std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&apos;"; break;
      default: o += (static_cast<unsigned char>(c) < 0x20 ? ' ' : c);
    }
  }
  return o;
}

// Finite numbers only (never "nan"/"inf" in an SVG), 2 decimals.
std::string num(double v) {
  if (!std::isfinite(v)) v = 0;
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

std::string label(double v) {
  if (!std::isfinite(v)) v = 0;
  char b[32];
  std::snprintf(b, sizeof b, "%.3g", v);
  return b;
}

// viridis, 5 stops, linear in between: t in [0,1] -> "#rrggbb"
std::string viridis(double t) {
  static const double stops[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  if (!std::isfinite(t)) t = 0;
  t = std::clamp(t, 0.0, 1.0) * 4.0;
  const int i = std::min(3, static_cast<int>(t));
  const double f = t - i;
  char b[8];
  int c[3];
  for (int k = 0; k < 3; ++k) c[k] = static_cast<int>(std::lround(stops[i][k] + f * (stops[i + 1][k] - stops[i][k])));
  std::snprintf(b, sizeof b, "#%02x%02x%02x", c[0], c[1], c[2]);
  return b;
}

double finite_or_zero(double v) { return std::isfinite(v) ? v : 0.0; }

// About n "nice" ticks (1, 2, 5 x 10^k) covering [lo, hi].
std::vector<double> ticks(double lo, double hi, int n = 5) {
  if (!(hi > lo)) hi = lo + 1;
  const double raw = (hi - lo) / n, p = std::pow(10.0, std::floor(std::log10(raw)));
  double step = p;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= raw) {
      step = m * p;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) t.push_back(std::abs(v) < 1e-12 ? 0 : v);
  return t;
}

}  // namespace

std::string slug(const std::string& text) {
  std::string o;
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) o += static_cast<char>(std::tolower(u));
    else if (!o.empty() && o.back() != '_') o += '_';
    if (o.size() >= 60) break;
  }
  while (!o.empty() && o.back() == '_') o.pop_back();
  return o.empty() ? "input" : o;
}

void write_text_atomic(const fs::path& path, const std::string& content) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    check(static_cast<bool>(out), "plots", "cannot write ", tmp.string());
    out << content;
    out.flush();
    check(static_cast<bool>(out), "plots", "write failed: ", tmp.string());
  }
  fs::rename(tmp, path);
}

// ==================================================================== heatmaps
// A title that fits in `width` px at 16 px bold (~9 px per character; UTF-8 continuation bytes
// take no width): cut with "..." rather than run past the right edge.
static std::string fit_title(const std::string& title, double width) {
  const size_t max_chars = static_cast<size_t>(std::max(10.0, (width - 20) / 9));
  size_t chars = 0, i = 0;
  for (; i < title.size(); ++i) {
    if ((static_cast<unsigned char>(title[i]) & 0xC0) == 0x80) continue;
    if (++chars > max_chars - 3) break;
  }
  if (i >= title.size()) return title;
  size_t chars_total = 0;
  for (unsigned char c : title) chars_total += (c & 0xC0) != 0x80;
  return chars_total <= max_chars ? title : title.substr(0, i) + "...";
}

std::string heatmap_svg(const std::vector<Heatmap>& panels, int64_t columns, const std::string& title) {
  check(!panels.empty(), "heatmap_svg", "no panels");
  check(columns >= 1, "heatmap_svg", "columns must be >= 1, got ", columns);
  double vmax = 0;
  size_t max_label = 1, max_rows = 1, max_cols = 1;
  for (const auto& p : panels) {
    check(p.values.size() == p.rows.size() * p.cols.size(), "heatmap_svg", "panel \"", p.title, "\" holds ",
          p.values.size(), " values for ", p.rows.size(), "x", p.cols.size(), " cells");
    for (double v : p.values) vmax = std::max(vmax, finite_or_zero(v));
    for (const auto& s : p.rows) max_label = std::max(max_label, s.size());
    for (const auto& s : p.cols) max_label = std::max(max_label, s.size());
    max_rows = std::max(max_rows, p.rows.size());
    max_cols = std::max(max_cols, p.cols.size());
  }
  if (vmax <= 0) vmax = 1;
  const double cell = 26, label_w = 7.0 * static_cast<double>(std::min<size_t>(max_label, 24)) + 10;
  const double pw = label_w + cell * static_cast<double>(max_cols) + 24;  // panel width
  const double ph = 28 + label_w + cell * static_cast<double>(max_rows) + 16;  // title, column labels, cells
  const int64_t n = static_cast<int64_t>(panels.size()), cols = std::min(columns, n), rows = (n + cols - 1) / cols;
  const double bar_w = 70, top = 34;
  const double W = static_cast<double>(cols) * pw + bar_w + 10, H = top + static_cast<double>(rows) * ph + 10;
  const std::string shown_title = fit_title(title, W);
  std::ostringstream os;
  os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
     << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << num(W) << "\" height=\"" << num(H) << "\" viewBox=\"0 0 "
     << num(W) << " " << num(H) << "\" font-family=\"sans-serif\">\n"
     << "<rect x=\"0\" y=\"0\" width=\"" << num(W) << "\" height=\"" << num(H) << "\" fill=\"white\"/>\n"
     << "<text x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">" << esc(shown_title) << "</text>\n";
  for (int64_t k = 0; k < n; ++k) {
    const Heatmap& p = panels[static_cast<size_t>(k)];
    const double ox = static_cast<double>(k % cols) * pw, oy = top + static_cast<double>(k / cols) * ph;
    const double gx = ox + label_w, gy = oy + 24 + label_w;  // grid origin
    os << "<g class=\"panel\">\n<text x=\"" << num(ox + 10) << "\" y=\"" << num(oy + 16) << "\" font-size=\"13\">"
       << esc(p.title) << "</text>\n";
    for (size_t c = 0; c < p.cols.size(); ++c) {  // key tokens, rotated
      const double x = gx + cell * (static_cast<double>(c) + 0.5), y = gy - 6;
      os << "<text x=\"" << num(x) << "\" y=\"" << num(y) << "\" font-size=\"11\" transform=\"rotate(-60 " << num(x) << " "
         << num(y) << ")\">" << esc(p.cols[c]) << "</text>\n";
    }
    for (size_t r = 0; r < p.rows.size(); ++r)  // query tokens
      os << "<text x=\"" << num(gx - 6) << "\" y=\"" << num(gy + cell * (static_cast<double>(r) + 0.5) + 4)
         << "\" font-size=\"11\" text-anchor=\"end\">" << esc(p.rows[r]) << "</text>\n";
    for (size_t r = 0; r < p.rows.size(); ++r)
      for (size_t c = 0; c < p.cols.size(); ++c) {
        const double v = finite_or_zero(p.values[r * p.cols.size() + c]);
        os << "<rect class=\"cell\" x=\"" << num(gx + cell * static_cast<double>(c)) << "\" y=\""
           << num(gy + cell * static_cast<double>(r)) << "\" width=\"" << num(cell) << "\" height=\"" << num(cell)
           << "\" fill=\"" << viridis(v / vmax) << "\"><title>" << esc(p.rows[r]) << " -> " << esc(p.cols[c]) << ": "
           << label(v) << "</title></rect>\n";
      }
    os << "</g>\n";
  }
  // the colour bar: 0 at the bottom, vmax at the top
  const double bx = static_cast<double>(cols) * pw + 10, by = top + 30, bh = std::min(200.0, H - by - 20);
  const int steps = 20;
  os << "<g class=\"colorbar\">\n<text x=\"" << num(bx) << "\" y=\"" << num(by - 10) << "\" font-size=\"11\">weight</text>\n";
  for (int i = 0; i < steps; ++i) {
    const double t = 1.0 - (i + 0.5) / steps;
    os << "<rect x=\"" << num(bx) << "\" y=\"" << num(by + bh * i / steps) << "\" width=\"14\" height=\"" << num(bh / steps + 0.5)
       << "\" fill=\"" << viridis(t) << "\"/>\n";
  }
  os << "<text x=\"" << num(bx + 18) << "\" y=\"" << num(by + 8) << "\" font-size=\"10\">" << label(vmax) << "</text>\n"
     << "<text x=\"" << num(bx + 18) << "\" y=\"" << num(by + bh) << "\" font-size=\"10\">0</text>\n</g>\n</svg>\n";
  return os.str();
}

std::string heatmap_text(const Heatmap& h) {
  check(h.values.size() == h.rows.size() * h.cols.size(), "heatmap_text", "holds ", h.values.size(), " values for ",
        h.rows.size(), "x", h.cols.size(), " cells");
  static const char shades[] = " .:-=+*#%@";
  double vmax = 0;
  for (double v : h.values) vmax = std::max(vmax, finite_or_zero(v));
  if (vmax <= 0) vmax = 1;
  size_t lw = 1, ch = 1;
  for (const auto& s : h.rows) lw = std::max(lw, std::min<size_t>(s.size(), 16));
  for (const auto& s : h.cols) ch = std::max(ch, std::min<size_t>(s.size(), 12));
  std::ostringstream os;
  os << h.title << "\n";
  for (size_t line = 0; line < ch; ++line) {  // column tokens, one character per line
    os << std::string(lw + 1, ' ');
    for (const auto& s : h.cols) os << ' ' << (line < s.size() && line < 12 ? s[line] : ' ') << ' ';
    os << "\n";
  }
  for (size_t r = 0; r < h.rows.size(); ++r) {
    std::string name = h.rows[r].substr(0, 16);
    os << std::string(lw - name.size(), ' ') << name << " ";
    for (size_t c = 0; c < h.cols.size(); ++c) {
      const double t = finite_or_zero(h.values[r * h.cols.size() + c]) / vmax;
      const char s = shades[std::clamp(static_cast<int>(std::lround(t * 9)), 0, 9)];
      os << '[' << s << ']';
    }
    os << "\n";
  }
  os << "scale: ' ' 0 .. '@' " << label(vmax) << " (\"" << shades << "\")\n";
  return os.str();
}

// ==================================================================== curves
std::string curves_svg(const std::vector<std::pair<int64_t, double>>& step_loss, const std::vector<json>& evals,
                       const std::string& title) {
  // the right panel ends at left2 + pw = 910; 30 more keep its last tick label inside
  const double W = 940, H = 360, pw = 400, ph = 260, top = 50, left1 = 60, left2 = 510;
  const std::string shown_title = fit_title(title, W);
  std::ostringstream os;
  os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << num(W)
     << "\" height=\"" << num(H) << "\" viewBox=\"0 0 " << num(W) << " " << num(H) << "\" font-family=\"sans-serif\">\n"
     << "<rect x=\"0\" y=\"0\" width=\"" << num(W) << "\" height=\"" << num(H) << "\" fill=\"white\"/>\n"
     << "<text x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">" << esc(shown_title) << "</text>\n";

  // axes with ticks; returns the x, y maps
  auto axes = [&](double ox, double x0, double x1, double y0, double y1, const std::string& xl, const std::string& name) {
    os << "<g class=\"axes\">\n<text x=\"" << num(ox) << "\" y=\"" << num(top - 8) << "\" font-size=\"13\">" << esc(name)
       << "</text>\n<rect x=\"" << num(ox) << "\" y=\"" << num(top) << "\" width=\"" << num(pw) << "\" height=\"" << num(ph)
       << "\" fill=\"none\" stroke=\"#888\"/>\n";
    for (double t : ticks(x0, x1)) {
      const double x = ox + (t - x0) / (x1 - x0) * pw;
      os << "<line x1=\"" << num(x) << "\" y1=\"" << num(top + ph) << "\" x2=\"" << num(x) << "\" y2=\"" << num(top + ph + 4)
         << "\" stroke=\"#888\"/><text x=\"" << num(x) << "\" y=\"" << num(top + ph + 16)
         << "\" font-size=\"10\" text-anchor=\"middle\">" << label(t) << "</text>\n";
    }
    for (double t : ticks(y0, y1)) {
      const double y = top + ph - (t - y0) / (y1 - y0) * ph;
      os << "<line x1=\"" << num(ox - 4) << "\" y1=\"" << num(y) << "\" x2=\"" << num(ox + pw) << "\" y2=\"" << num(y)
         << "\" stroke=\"#eee\"/><text x=\"" << num(ox - 6) << "\" y=\"" << num(y + 3)
         << "\" font-size=\"10\" text-anchor=\"end\">" << label(t) << "</text>\n";
    }
    os << "<text x=\"" << num(ox + pw / 2) << "\" y=\"" << num(top + ph + 32) << "\" font-size=\"11\" text-anchor=\"middle\">"
       << esc(xl) << "</text>\n</g>\n";
  };
  auto polyline = [&](const std::vector<std::pair<double, double>>& pts, const std::string& colour, double width,
                      double opacity, const std::string& cls) {
    if (pts.empty()) return;
    os << "<polyline class=\"" << cls << "\" fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"" << num(width)
       << "\" stroke-opacity=\"" << num(opacity) << "\" points=\"";
    for (const auto& [x, y] : pts) os << num(x) << "," << num(y) << " ";
    os << "\"/>\n";
  };
  auto legend = [&](double x, double y, const std::string& colour, const std::string& text) {
    os << "<rect x=\"" << num(x) << "\" y=\"" << num(y - 8) << "\" width=\"14\" height=\"4\" fill=\"" << colour
       << "\"/><text x=\"" << num(x + 18) << "\" y=\"" << num(y - 3) << "\" font-size=\"10\">" << esc(text) << "</text>\n";
  };

  // ---- left: losses against steps
  double xmax = 1, ymax = 0;
  for (const auto& [s, l] : step_loss) {
    xmax = std::max(xmax, static_cast<double>(s));
    ymax = std::max(ymax, finite_or_zero(l));
  }
  for (const auto& e : evals) {
    xmax = std::max(xmax, e.value("step", 0.0));
    if (e.contains("loss") && e["loss"].is_number()) ymax = std::max(ymax, finite_or_zero(e["loss"].get<double>()));
  }
  if (ymax <= 0) ymax = 1;
  axes(left1, 0, xmax, 0, ymax, "step", "loss");
  auto X1 = [&](double s) { return left1 + s / xmax * pw; };
  auto Y1 = [&](double l) { return top + ph - std::clamp(finite_or_zero(l) / ymax, 0.0, 1.0) * ph; };
  std::vector<std::pair<double, double>> raw, ema;
  double e = 0;
  bool first = true;
  for (const auto& [s, l] : step_loss) {
    const double v = finite_or_zero(l);
    e = first ? v : 0.9 * e + 0.1 * v;  // EMA, alpha 0.1
    first = false;
    raw.emplace_back(X1(static_cast<double>(s)), Y1(v));
    ema.emplace_back(X1(static_cast<double>(s)), Y1(e));
  }
  polyline(raw, "#1f77b4", 1, 0.25, "train-loss");
  polyline(ema, "#1f77b4", 2, 1, "train-loss-smoothed");
  std::vector<std::pair<double, double>> vl;
  for (const auto& ev : evals)
    if (ev.contains("loss") && ev["loss"].is_number()) vl.emplace_back(X1(ev.value("step", 0.0)), Y1(ev["loss"].get<double>()));
  polyline(vl, "#d62728", 1.5, 1, "valid-loss");
  for (const auto& [x, y] : vl)
    os << "<circle cx=\"" << num(x) << "\" cy=\"" << num(y) << "\" r=\"3\" fill=\"#d62728\"/>\n";
  legend(left1 + pw - 150, top + 16, "#1f77b4", "train loss (EMA 0.1)");
  legend(left1 + pw - 150, top + 30, "#d62728", "validation loss");

  // ---- right: validation accuracy and F1 against epochs
  double emax = 1;
  for (const auto& ev : evals) emax = std::max(emax, ev.value("epoch", 0.0));
  // sequence tasks report percentages: drawn on the same 0..1 scale
  const bool seq = std::any_of(evals.begin(), evals.end(), [](const json& ev) { return ev.contains("chrf"); });
  axes(left2, 0, emax, 0, 1, "epoch", seq ? "validation chrF / exact match / CER (/100)" : "validation accuracy / F1");
  auto X2 = [&](double ep) { return left2 + ep / emax * pw; };
  auto Y2 = [&](double v) { return top + ph - std::clamp(finite_or_zero(v), 0.0, 1.0) * ph; };
  std::vector<std::pair<double, double>> acc, f1;
  std::string f1_name = "F1";
  for (const auto& ev : evals) {
    const double ep = ev.value("epoch", 0.0);
    if (ev.contains("accuracy") && ev["accuracy"].is_number()) acc.emplace_back(X2(ep), Y2(ev["accuracy"].get<double>()));
    if (ev.contains("slot_f1") && ev["slot_f1"].is_number()) {
      f1.emplace_back(X2(ep), Y2(ev["slot_f1"].get<double>()));
      f1_name = "slot F1";
    } else if (ev.contains("per_label") && ev["per_label"].is_object() && !ev["per_label"].empty()) {
      double s = 0;
      for (const auto& [k, v] : ev["per_label"].items()) s += v.value("f1", 0.0);
      f1.emplace_back(X2(ep), Y2(s / static_cast<double>(ev["per_label"].size())));
      f1_name = "macro F1";
    }
  }
  std::vector<std::pair<double, double>> cer;
  if (seq) {
    acc.clear();
    f1.clear();
    for (const auto& ev : evals) {
      const double ep = ev.value("epoch", 0.0);
      if (ev.contains("exact_match") && ev["exact_match"].is_number()) acc.emplace_back(X2(ep), Y2(ev["exact_match"].get<double>() / 100));
      if (ev.contains("chrf") && ev["chrf"].is_number()) f1.emplace_back(X2(ep), Y2(ev["chrf"].get<double>() / 100));
      if (ev.contains("cer") && ev["cer"].is_number()) cer.emplace_back(X2(ep), Y2(ev["cer"].get<double>() / 100));
    }
    f1_name = "chrF";
    polyline(cer, "#ff7f0e", 2, 1, "valid-cer");
    for (const auto& [x, y] : cer) os << "<circle cx=\"" << num(x) << "\" cy=\"" << num(y) << "\" r=\"3\" fill=\"#ff7f0e\"/>\n";
    legend(left2 + pw - 130, top + ph - 44, "#ff7f0e", "CER");
  }
  polyline(acc, "#2ca02c", 2, 1, "valid-accuracy");
  polyline(f1, "#9467bd", 2, 1, "valid-f1");
  for (const auto& [x, y] : acc) os << "<circle cx=\"" << num(x) << "\" cy=\"" << num(y) << "\" r=\"3\" fill=\"#2ca02c\"/>\n";
  for (const auto& [x, y] : f1) os << "<circle cx=\"" << num(x) << "\" cy=\"" << num(y) << "\" r=\"3\" fill=\"#9467bd\"/>\n";
  legend(left2 + pw - 130, top + ph - 30, "#2ca02c", seq ? "exact match" : "accuracy");
  legend(left2 + pw - 130, top + ph - 16, "#9467bd", f1_name);
  os << "</svg>\n";
  return os.str();
}

void write_curves(const fs::path& run_dir, const std::string& title) {
  std::vector<std::pair<int64_t, double>> steps;
  {
    std::ifstream in(run_dir / "train_loss.tsv");
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      int64_t s;
      double l;
      if (ls >> s >> l) steps.emplace_back(s, l);
    }
  }
  std::vector<json> evals;
  {
    std::ifstream in(run_dir / "metrics.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      json j = json::parse(line, nullptr, false);
      if (!j.is_discarded() && j.is_object()) evals.push_back(std::move(j));
    }
  }
  write_text_atomic(run_dir / "curves.svg", curves_svg(steps, evals, title));
}

}  // namespace seqnn::train
