// HTTP(S) requests through libcurl, opened with dlopen at run time (libcurl.so.4, as the CUDA
// backend opens libcuda): the binary starts on machines without libcurl, and only downloads
// need it. Requests follow redirects and never send credentials to another host.
#pragma once
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace tritium::hub {

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // of the final response; names lower-case
  std::string body;                             // unless streamed
  std::string url;                              // after redirects
  std::string header(const std::string& name) const;
};

struct HttpRequest {
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  bool head = false;
  // Streams the body (of a 2xx response) here instead of into HttpResponse::body; returning
  // false aborts the transfer (HttpError with aborted set).
  // status: the response's (200, or 206 for a range).
  std::function<bool(long status, const char* data, size_t n)> sink;
  long connect_timeout_s = 15;
  long stall_timeout_s = 60;  // abort when under 1 byte/s for this long
};

struct HttpError : std::runtime_error {
  HttpError(const std::string& m, bool aborted_ = false) : std::runtime_error(m), aborted(aborted_) {}
  bool aborted;           // the sink stopped the transfer
  HttpResponse response;  // what had arrived (status and headers) when it stopped
};

// Whether libcurl can be loaded here (and why not, in *why).
bool http_available(std::string* why = nullptr);
// Performs the request; throws HttpError when no response arrives (DNS, connection, TLS, a cut
// transfer, libcurl missing). HTTP error statuses are returned, not thrown.
HttpResponse http_request(const HttpRequest& req);

}  // namespace tritium::hub
