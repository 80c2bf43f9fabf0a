#include "common/torch_oracle.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

namespace seqnn::testutil {

namespace {
nlohmann::json number_json(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}
double number_from(const nlohmann::json& j) {
  if (j.is_string()) {
    const std::string s = j.get<std::string>();
    if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
    throw Error("oracle: bad number '" + s + "'");
  }
  return j.get<double>();
}
}  // namespace

nlohmann::json tensor_to_json(const Tensor& t) {
  nlohmann::json j;
  j["shape"] = t.shape();
  j["dtype"] = dtype_name(t.dtype());
  j["requires_grad"] = t.requires_grad();
  nlohmann::json data = nlohmann::json::array();
  if (t.dtype() == DType::I64) {
    for (int64_t v : t.to_vector<int64_t>()) data.push_back(v);
  } else if (t.dtype() == DType::Bool) {
    for (bool v : t.to_vector<bool>()) data.push_back(v);
  } else {
    for (double v : t.to_vector<double>()) data.push_back(number_json(v));
  }
  j["data"] = std::move(data);
  return j;
}

Tensor tensor_from_json(const nlohmann::json& j) {
  const Shape shape = j.at("shape").get<Shape>();
  const std::string dt = j.at("dtype").get<std::string>();
  const auto& data = j.at("data");
  if (dt == "int64") {
    std::vector<int64_t> v;
    for (const auto& x : data) v.push_back(x.get<int64_t>());
    return from_vector(v, shape);
  }
  if (dt == "bool") {
    std::vector<bool> v;
    for (const auto& x : data) v.push_back(x.get<bool>());
    return from_vector(v, shape);
  }
  std::vector<double> v;
  for (const auto& x : data) v.push_back(number_from(x));
  Tensor t = from_vector(v, shape);
  return dt == "float32" ? t.to(DType::F32) : t;
}

std::vector<OracleResult> run_torch(const std::vector<OracleCase>& cases) {
  nlohmann::json req = nlohmann::json::array();
  for (const auto& c : cases) {
    nlohmann::json jc;
    jc["code"] = c.code;
    jc["args"] = c.args;
    jc["inputs"] = nlohmann::json::object();
    for (const auto& [name, t] : c.inputs) jc["inputs"][name] = tensor_to_json(t);
    jc["state"] = nlohmann::json::array();
    for (const auto& [name, t] : c.state) jc["state"].push_back({name, tensor_to_json(t)});
    jc["grad_outs"] = nlohmann::json::array();
    for (const auto& g : c.grad_outs) jc["grad_outs"].push_back(tensor_to_json(g));
    req.push_back(std::move(jc));
  }
  char in_path[] = "/tmp/seqnn_oracle_in_XXXXXX";
  char out_path[] = "/tmp/seqnn_oracle_out_XXXXXX";
  int fi = mkstemp(in_path), fo = mkstemp(out_path);
  if (fi < 0 || fo < 0) throw Error("oracle: cannot create temp files");
  close(fi);
  close(fo);
  {
    std::ofstream f(in_path);
    f << req.dump();
  }
  const std::string cmd = std::string("OMP_NUM_THREADS=1 ") + SEQNN_PYTHON + " " + SEQNN_SOURCE_DIR +
                          "/tests/parity/oracle.py " + in_path + " " + out_path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string log;
  char buf[4096];
  while (p && fgets(buf, sizeof buf, p)) log += buf;
  const int rc = p ? pclose(p) : -1;
  std::ifstream f(out_path);
  std::stringstream ss;
  ss << f.rdbuf();
  std::remove(in_path);
  std::remove(out_path);
  if (rc != 0) {
    ADD_FAILURE() << "PyTorch oracle failed (rc " << rc << "):\n" << log;
    throw Error("oracle: python failed");
  }
  const auto res = nlohmann::json::parse(ss.str());
  std::vector<OracleResult> out;
  for (const auto& jr : res) {
    OracleResult r;
    for (const auto& t : jr.at("outs")) r.outs.push_back(tensor_from_json(t));
    // A null gradient (torch's .grad None: no output depends on the input) stays undefined.
    for (const auto& [k, v] : jr.at("grads").items()) r.grads[k] = v.is_null() ? Tensor() : tensor_from_json(v);
    for (const auto& [k, v] : jr.at("extra").items()) r.extra[k] = tensor_from_json(v);
    out.push_back(std::move(r));
  }
  return out;
}

void expect_close(const Tensor& actual, const Tensor& expected, double tol, const std::string& what, double floor) {
  ASSERT_TRUE(actual.defined()) << what << ": seqnn result undefined";
  ASSERT_TRUE(expected.defined()) << what << ": reference result undefined";
  ASSERT_EQ(actual.shape(), expected.shape()) << what << ": shape " << shape_str(actual.shape()) << " vs reference "
                                              << shape_str(expected.shape());
  const std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  double scale = floor, worst = 0;
  size_t worst_i = 0;
  for (double v : e)
    if (std::isfinite(v)) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(e[i]) || !std::isfinite(a[i])) {
      const bool same = (std::isnan(e[i]) && std::isnan(a[i])) || a[i] == e[i];
      EXPECT_TRUE(same) << what << ": element " << i << " is " << a[i] << ", reference " << e[i];
      continue;
    }
    const double d = std::fabs(a[i] - e[i]);
    if (d > worst) {
      worst = d;
      worst_i = i;
    }
  }
  EXPECT_LE(worst, tol * scale) << what << ": max abs diff " << worst << " at element " << worst_i << " (seqnn "
                                << a[worst_i] << ", torch " << e[worst_i] << "), scale " << scale << ", tol " << tol;
}

}  // namespace seqnn::testutil
