// Errors in the OpenAI shape: {"error": {"message", "type", "param", "code"}}, with the HTTP
// status they are sent with. Handlers throw ApiError; the router turns it into the response.
#pragma once
#include <stdexcept>
#include <string>

namespace tritium::server {

struct ApiError : std::runtime_error {
  int status;
  std::string type, param, code;
  ApiError(int status, std::string message, std::string param = "", std::string code = "", std::string type = "");
};

// The OpenAI `type` for a status: invalid_request_error (4xx), authentication_error (401),
// rate_limit_error (429), server_error (5xx).
const char* error_type_for(int status);
// {"error": {...}} as JSON text; empty param / code are null.
std::string error_json(int status, const std::string& message, const std::string& param = "",
                       const std::string& code = "", const std::string& type = "");
inline std::string error_json(const ApiError& e) { return error_json(e.status, e.what(), e.param, e.code, e.type); }

// 400 invalid_request_error naming the field.
inline ApiError bad_field(const std::string& param, const std::string& message) { return ApiError(400, message, param); }

}  // namespace tritium::server
