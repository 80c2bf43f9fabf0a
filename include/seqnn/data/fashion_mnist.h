// seqnn/data/fashion_mnist.h: Fashion-MNIST as a set of vectors (seed 004, images as sequences).
//
// The images come from Debian's dataset-fashion-mnist package (gzip IDX files in
// /usr/share/datasets/fashion-mnist). Each 28x28 image becomes a sequence, pixels scaled to [0,1]:
//   view "rows"     28 vectors of 28 values (row r = pixels (r, 0..27)), for an RNN
//   view "patches"  (28/p)^2 vectors of p*p values: non-overlapping p x p patches in row-major
//                   patch order, each patch row-major (ViT style; p = 4 gives 49 vectors of 16)
// Splits: valid = the LAST valid_size images of the training file, train = the ones before it,
// test = the official t10k file. Labels are the 10 class names (T-shirt/top, Trouser, ...).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "seqnn/data/dataset.h"

namespace seqnn::data {

struct FashionMnistOptions {
  std::string dir = "/usr/share/datasets/fashion-mnist";
  std::string view = "rows";     // rows / patches
  int64_t patch_size = 4;        // patches: must divide 28
  int64_t valid_size = 5000;     // taken from the end of the training file
  int64_t max_train = 0;         // > 0: keep only the first max_train training images
  int64_t max_test = 0;          // > 0: keep only the first max_test test images
};

const std::vector<std::string>& fashion_mnist_labels();

// One image (rows*cols u8 pixels, row-major) as a sequence in the given view. Errors name the
// view / patch size when they do not fit the image.
Example image_to_example(const uint8_t* pixels, int64_t rows, int64_t cols, const std::string& view,
                         int64_t patch_size);

// Loads the four files under options.dir (train-images-idx3-ubyte[.gz], ...): a missing or
// corrupt file is an Error naming it; image/label counts and shapes are checked.
Dataset make_fashion_mnist(const FashionMnistOptions& options);

}  // namespace seqnn::data
