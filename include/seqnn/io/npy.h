// seqnn/io/npy.h: read and write NumPy's .npy format (versions 1.0 and 2.0).
//
// Layout: "\x93NUMPY", major, minor, header length (u16 LE for 1.0, u32 LE for 2.0), then a
// Python dict literal  {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }  padded with
// spaces and a final '\n' to a multiple of 64 bytes, then the raw data.
//
// Reading accepts descr '<f4', '<f8', '<i8', '<i4' (-> I64), '|u1' (-> I64), '|b1' (-> Bool) and
// '<f2' (-> F32). fortran_order True is supported: the data is transposed into seqnn's row-major
// layout. Big-endian data and any other descr throw Error. The header dict is parsed by a small
// strict parser (exactly the three keys, Python literals only), and the data size must match
// the shape exactly. Errors read "npy: <file>: <what is wrong>".
// Writing produces F32, F64, I64 and Bool arrays (version 1.0, or 2.0 when the header needs it),
// written atomically.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "seqnn/tensor.h"

namespace seqnn::io {

Tensor load_npy(const std::filesystem::path& path);
Tensor read_npy(std::string_view bytes, const std::string& source = "<memory>");

void save_npy(const std::filesystem::path& path, const Tensor& tensor);
std::string write_npy(const Tensor& tensor);

}  // namespace seqnn::io
