#pragma once
// JSON parsing for untrusted text: nlohmann's parser, plus the checks it does not make.
// A repeated object key is refused (nlohmann keeps the last one silently, which would let a
// file say two different things), and so is nesting deeper than a limit (the DOM is destroyed
// and printed recursively, so unbounded depth is a stack overflow waiting for an input).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "error.hpp"

namespace tessera::model {

using Json = nlohmann::json;

// Throws Error(code, "<what>: ...") naming the byte offset of a syntax error, the repeated key,
// or the depth.
Json parseJsonStrict(std::string_view text, ErrorCode code, const std::string& what, int maxDepth = 16);

// Helpers for error messages and type checks.
std::string jsonTypeName(const Json& v);  // "integer", "number", "string", "array", ...
std::string jsonShort(const Json& v);     // the value as JSON, cut to 80 characters
bool isUnsignedInteger(const Json& v);    // a JSON integer >= 0

}  // namespace tessera::model
