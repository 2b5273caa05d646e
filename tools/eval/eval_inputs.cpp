#include "eval_inputs.hpp"

#include <cmath>
#include <string>

#include "error.hpp"

namespace tessera::tools {

std::vector<float> tensorValues(const model::SafetensorsFile& st, const char* name) {
  const model::SafeTensor* t = st.find(name);
  if (!t) fail(ErrorCode::InvalidArgument, std::string("the input has no tensor `") + name + "`");
  return model::toFloat32(*t);
}

std::vector<int64_t> classLabels(const model::SafeTensor& t) {
  if (model::isIntegerDType(t.dtype)) return model::toInt64(t);
  std::vector<int64_t> labels;
  for (float v : model::toFloat32(t)) {
    if (v != std::floor(v)) fail(ErrorCode::InvalidArgument, "`class_labels` must be whole numbers");
    // Beyond 2^53 a float is no longer one integer; beyond 2^63 the cast is undefined.
    if (std::fabs(v) > 9007199254740992.0f)
      fail(ErrorCode::InvalidArgument, "`class_labels` holds " + std::to_string(v) + ", too large to be a class");
    labels.push_back(int64_t(v));
  }
  return labels;
}

}  // namespace tessera::tools
