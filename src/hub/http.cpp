// libcurl is opened with dlopen: curl.h supplies the types and option constants at build time
// (libcurl4-openssl-dev), and the handful of functions used are looked up at run time. Linking it
// would make every tritium command need libcurl.so.4 (and its TLS stack) to start.
#include "hub/http.h"

#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "core/error.h"

#if __has_include(<curl/curl.h>)
#include <curl/curl.h>
#define TRITIUM_HAVE_CURL_H 1
#endif

namespace tritium::hub {

std::string HttpResponse::header(const std::string& name) const {
  std::string k = name;
  std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  auto it = headers.find(k);
  return it == headers.end() ? "" : it->second;
}

#ifdef TRITIUM_HAVE_CURL_H

namespace {

struct Curl {
  void* lib = nullptr;
  std::string error;
  CURLcode (*global_init)(long) = nullptr;
  CURL* (*easy_init)() = nullptr;
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...) = nullptr;
  CURLcode (*easy_perform)(CURL*) = nullptr;
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...) = nullptr;
  void (*easy_cleanup)(CURL*) = nullptr;
  const char* (*easy_strerror)(CURLcode) = nullptr;
  curl_slist* (*slist_append)(curl_slist*, const char*) = nullptr;
  void (*slist_free_all)(curl_slist*) = nullptr;

  Curl() {
    for (const char* name : {"libcurl.so.4", "libcurl-gnutls.so.4", "libcurl-nss.so.4", "libcurl.so"}) {
      lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (lib) break;
    }
    if (!lib) {
      error = "libcurl.so.4 is not installed (downloads need it: apt-get install libcurl4 on Debian/Ubuntu)";
      return;
    }
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      if (!fn && error.empty()) error = str_cat("libcurl lacks ", name);
    };
    sym(global_init, "curl_global_init");
    sym(easy_init, "curl_easy_init");
    sym(easy_setopt, "curl_easy_setopt");
    sym(easy_perform, "curl_easy_perform");
    sym(easy_getinfo, "curl_easy_getinfo");
    sym(easy_cleanup, "curl_easy_cleanup");
    sym(easy_strerror, "curl_easy_strerror");
    sym(slist_append, "curl_slist_append");
    sym(slist_free_all, "curl_slist_free_all");
    if (error.empty() && global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) error = "curl_global_init failed";
  }
};

Curl& curl() {
  static Curl c;  // thread-safe initialisation: curl_global_init runs once
  return c;
}

struct Transfer {
  const HttpRequest* req;
  HttpResponse* resp;
  bool aborted = false;
  long status() const { return resp->status; }
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a redirect): start over
    t->resp->headers.clear();
    size_t sp = line.find(' ');
    t->resp->status = sp == std::string::npos ? 0 : std::atol(line.c_str() + sp + 1);
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string k = line.substr(0, colon), v = line.substr(colon + 1);
    std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(v.begin());
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.pop_back();
    t->resp->headers[k] = v;
  }
  return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  // Redirect bodies and error pages are kept in body; a 2xx body goes to the sink when there is one.
  if (t->req->sink && t->status() >= 200 && t->status() < 300) {
    if (!t->req->sink(t->status(), data, len)) {
      t->aborted = true;
      return 0;
    }
    return len;
  }
  if (t->resp->body.size() < (size_t(16) << 20)) t->resp->body.append(data, len);
  return len;
}

}  // namespace

bool http_available(std::string* why) {
  Curl& c = curl();
  if (why) *why = c.error;
  return c.error.empty();
}

HttpResponse http_request(const HttpRequest& req) {
  Curl& c = curl();
  if (!c.error.empty()) throw HttpError(c.error);
  CURL* h = c.easy_init();
  if (!h) throw HttpError("curl_easy_init failed");
  HttpResponse resp;
  Transfer t{&req, &resp};
  curl_slist* hdrs = nullptr;
  for (auto& x : req.headers) hdrs = c.slist_append(hdrs, x.c_str());
  c.easy_setopt(h, CURLOPT_URL, req.url.c_str());
  c.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  c.easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
  c.easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);  // credentials stay with the first host
  c.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  c.easy_setopt(h, CURLOPT_USERAGENT, "tritium/0.1");
  c.easy_setopt(h, CURLOPT_CONNECTTIMEOUT, req.connect_timeout_s);
  c.easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  c.easy_setopt(h, CURLOPT_LOW_SPEED_TIME, req.stall_timeout_s);
  if (hdrs) c.easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  if (req.head) c.easy_setopt(h, CURLOPT_NOBODY, 1L);
  c.easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  c.easy_setopt(h, CURLOPT_HEADERDATA, &t);
  c.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  c.easy_setopt(h, CURLOPT_WRITEDATA, &t);
  CURLcode rc = c.easy_perform(h);
  char* eff = nullptr;
  if (c.easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff) resp.url = eff;
  long code = 0;
  if (c.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code) resp.status = code;
  c.easy_cleanup(h);
  if (hdrs) c.slist_free_all(hdrs);
  if (t.aborted) {
    HttpError e(str_cat(req.url, ": transfer stopped"), true);
    e.response = std::move(resp);
    throw e;
  }
  if (rc != CURLE_OK) throw HttpError(str_cat(req.url, ": ", c.easy_strerror(rc)));
  return resp;
}

#else  // built without curl.h

bool http_available(std::string* why) {
  if (why) *why = "this tritium was built without curl.h (install libcurl4-openssl-dev and rebuild)";
  return false;
}

HttpResponse http_request(const HttpRequest&) {
  throw HttpError("this tritium was built without curl.h (install libcurl4-openssl-dev and rebuild)");
}

#endif

}  // namespace tritium::hub
