#include "strict_json.hpp"

#include <set>
#include <vector>

namespace tessera::model {
namespace {

// A SAX pass that builds nothing: it only watches keys per object and the nesting depth.
class StrictChecker : public nlohmann::json_sax<Json> {
 public:
  explicit StrictChecker(int maxDepth) : maxDepth_(maxDepth) {}
  std::string problem;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return open(true); }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(false); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    if (!keys_.back().insert(k).second) {
      problem = "the key \"" + k.substr(0, 80) + "\" appears twice in one object";
      return false;
    }
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) override {
    problem = "not valid JSON at byte " + std::to_string(position) + " (" + e.what() + ")";
    return false;
  }

 private:
  bool open(bool) {
    if (int(keys_.size()) >= maxDepth_) {
      problem = "nested deeper than " + std::to_string(maxDepth_) + " levels";
      return false;
    }
    keys_.emplace_back();
    return true;
  }
  bool close() {
    keys_.pop_back();
    return true;
  }
  int maxDepth_;
  std::vector<std::set<std::string>> keys_;
};

}  // namespace

Json parseJsonStrict(std::string_view text, ErrorCode code, const std::string& what, int maxDepth) {
  StrictChecker checker(maxDepth);
  bool ok = false;
  try {
    ok = Json::sax_parse(text.begin(), text.end(), &checker);
  } catch (const Json::exception& e) {
    throw Error(code, what + ": not valid JSON (" + e.what() + ")");
  }
  if (!ok) throw Error(code, what + ": " + (checker.problem.empty() ? "not valid JSON" : checker.problem));
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    throw Error(code, what + ": not valid JSON (" + e.what() + ")");
  }
}

std::string jsonTypeName(const Json& v) {
  if (v.is_number_integer()) return "integer";
  if (v.is_number_float()) return "number";
  return v.type_name();
}

std::string jsonShort(const Json& v) {
  std::string s = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

bool isUnsignedInteger(const Json& v) {
  return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
}

}  // namespace tessera::model
