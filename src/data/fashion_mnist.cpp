// src/data/fashion_mnist.cpp: Fashion-MNIST from Debian's gzip IDX files, as rows or patches.
#include "seqnn/data/fashion_mnist.h"

#include <filesystem>

#include "seqnn/error.h"
#include "seqnn/io/idx.h"

namespace seqnn::data {

namespace fs = std::filesystem;

const std::vector<std::string>& fashion_mnist_labels() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

// ==================================================================== views
// rows:    x[r][c]                           = pixel(r, c) / 255
// patches: x[pr*(cols/p)+pc][i*p+j]          = pixel(pr*p + i, pc*p + j) / 255
Example image_to_example(const uint8_t* pixels, int64_t rows, int64_t cols, const std::string& view,
                         int64_t patch_size) {
  check(rows > 0 && cols > 0, "fashion_mnist", "empty image (", rows, "x", cols, ")");
  Example e;
  e.features.resize(static_cast<size_t>(rows * cols));
  constexpr float kScale = 1.0f / 255.0f;
  if (view == "rows") {
    e.feature_dim = cols;
    for (int64_t i = 0; i < rows * cols; ++i) e.features[i] = static_cast<float>(pixels[i]) * kScale;
    return e;
  }
  check(view == "patches", "fashion_mnist", "data.view must be rows or patches, got \"", view, "\"");
  const int64_t p = patch_size;
  check(p >= 1 && rows % p == 0 && cols % p == 0, "fashion_mnist", "data.patch_size ", p, " must divide the ", rows,
        "x", cols, " image");
  e.feature_dim = p * p;
  const int64_t pcols = cols / p;
  float* out = e.features.data();
  for (int64_t pr = 0; pr < rows / p; ++pr)
    for (int64_t pc = 0; pc < pcols; ++pc)
      for (int64_t i = 0; i < p; ++i)
        for (int64_t j = 0; j < p; ++j) *out++ = static_cast<float>(pixels[(pr * p + i) * cols + pc * p + j]) * kScale;
  return e;
}

// ==================================================================== files
namespace {
fs::path find_file(const fs::path& dir, const std::string& stem) {
  for (const char* ext : {".gz", ""}) {
    fs::path p = dir / (stem + ext);
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return p;
  }
  fail("fashion_mnist", "missing ", (dir / (stem + ".gz")).string(), " (nor ", stem,
       " uncompressed): install Debian's dataset-fashion-mnist package (apt-get install dataset-fashion-mnist) or "
       "set data.fashion_dir");
}

struct ImageSet {
  io::IdxArray images, labels;
  int64_t n = 0, rows = 0, cols = 0;
};

ImageSet load_set(const fs::path& dir, const std::string& prefix) {
  ImageSet s;
  const fs::path ip = find_file(dir, prefix + "-images-idx3-ubyte");
  const fs::path lp = find_file(dir, prefix + "-labels-idx1-ubyte");
  s.images = io::load_idx(ip);
  s.labels = io::load_idx(lp);
  check(s.images.type == io::IdxType::U8 && s.images.shape.size() == 3, "fashion_mnist", ip.string(),
        ": expected a (N,rows,cols) u8 array, got ", s.images.shape, " ", io::idx_type_name(s.images.type));
  check(s.labels.type == io::IdxType::U8 && s.labels.shape.size() == 1, "fashion_mnist", lp.string(),
        ": expected a (N) u8 array, got ", s.labels.shape, " ", io::idx_type_name(s.labels.type));
  s.n = s.images.shape[0];
  s.rows = s.images.shape[1];
  s.cols = s.images.shape[2];
  check(s.labels.shape[0] == s.n, "fashion_mnist", lp.string(), " holds ", s.labels.shape[0], " labels but ",
        ip.string(), " holds ", s.n, " images");
  check(s.n > 0 && s.rows > 0 && s.cols > 0, "fashion_mnist", ip.string(), ": no images (", s.images.shape, ")");
  const uint8_t* lab = s.labels.u8();
  const auto nclass = static_cast<uint8_t>(fashion_mnist_labels().size());
  for (int64_t i = 0; i < s.n; ++i)
    check(lab[i] < nclass, "fashion_mnist", lp.string(), ": label ", int(lab[i]), " of item ", i, " is not in [0,",
          int(nclass), ")");
  return s;
}

void append(std::vector<Example>& out, const ImageSet& s, int64_t begin, int64_t end, const FashionMnistOptions& o) {
  out.reserve(out.size() + static_cast<size_t>(end - begin));
  const uint8_t* px = s.images.u8();
  const uint8_t* lab = s.labels.u8();
  for (int64_t i = begin; i < end; ++i) {
    Example e = image_to_example(px + i * s.rows * s.cols, s.rows, s.cols, o.view, o.patch_size);
    e.label = fashion_mnist_labels()[lab[i]];
    out.push_back(std::move(e));
  }
}
}  // namespace

Dataset make_fashion_mnist(const FashionMnistOptions& o) {
  check(o.view == "rows" || o.view == "patches", "fashion_mnist", "data.view must be rows or patches, got \"", o.view,
        "\"");
  check(o.valid_size >= 0 && o.max_train >= 0 && o.max_test >= 0, "fashion_mnist",
        "data.fashion_valid, data.max_train and data.max_test must be >= 0");
  const fs::path dir = o.dir;
  ImageSet tr = load_set(dir, "train"), te = load_set(dir, "t10k");
  check(tr.rows == te.rows && tr.cols == te.cols, "fashion_mnist", "training images are ", tr.rows, "x", tr.cols,
        " but test images ", te.rows, "x", te.cols);
  if (o.view == "patches")
    check(o.patch_size >= 1 && tr.rows % o.patch_size == 0 && tr.cols % o.patch_size == 0, "fashion_mnist",
          "data.patch_size ", o.patch_size, " must divide the ", tr.rows, "x", tr.cols, " image");
  check(o.valid_size < tr.n, "fashion_mnist", "data.fashion_valid ", o.valid_size, " leaves no training images (",
        tr.n, " in the file)");
  Dataset d;
  d.name = "fashion_mnist";
  d.kind = TaskKind::Classification;
  d.labels = fashion_mnist_labels();
  const int64_t train_end = tr.n - o.valid_size;
  append(d.train, tr, 0, o.max_train > 0 ? std::min(o.max_train, train_end) : train_end, o);
  append(d.valid, tr, train_end, tr.n, o);
  append(d.test, te, 0, o.max_test > 0 ? std::min(o.max_test, te.n) : te.n, o);
  d.feature_dim = d.train.front().feature_dim;
  return d;
}

}  // namespace seqnn::data
