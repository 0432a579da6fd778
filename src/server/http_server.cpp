// HttpServer on Boost.Beast. One Session per TCP connection, its handlers serialised on a
// strand; requests are read header first (answering Expect: 100-continue), then the body, both
// within HttpOptions::request_timeout_s. While a request is answered a read stays pending on the
// socket, so a client that goes away is noticed at once (and bytes of a pipelined next request
// are kept for it).
#include <array>
#include <utility>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "core/error.h"
#include "server/api_error.h"
#include "server/http.h"

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace tritium::server {

namespace {
std::string lower(beast::string_view s);
}

const char* status_reason(int status) {
  static thread_local std::string s;
  s = std::string(http::obsolete_reason(http::status(unsigned(status))));
  return s.c_str();
}

namespace {
double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
std::string lower(beast::string_view s) {
  std::string r(s.data(), s.size());
  for (auto& c : r) c = char(std::tolower(static_cast<unsigned char>(c)));
  return r;
}
}  // namespace

class Session;

struct HttpServer::Impl {
  HttpOptions opts;
  Handler handler;
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::vector<std::thread> threads;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::mutex mu;
  std::vector<std::weak_ptr<Session>> sessions;
  std::atomic<int64_t> open{0};
  uint16_t bound_port = 0;

  Impl(HttpOptions o, Handler h) : opts(std::move(o)), handler(std::move(h)), ioc(std::max(1, opts.threads)) {}
  void do_accept();
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& s, HttpServer::Impl& srv) : stream_(std::move(s)), srv_(srv), timer_(stream_.get_executor()) {
    ++srv_.open;
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  ~Session() { --srv_.open; }

  void start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
  }
  void close_now() {
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->mark_gone(); });
  }
  template <class F>
  void on_strand(F&& f) {
    net::post(stream_.get_executor(), std::forward<F>(f));
  }

  // ---- called on the strand for exchange `id`
  void do_send(uint64_t id, int status, const std::string& ctype, std::string body, const Headers& extra) {
    if (!current(id) || mode_ != Mode::None) return;
    mode_ = Mode::Full;
    if (gone_) return finish_exchange();
    auto res = std::make_shared<http::response<http::string_body>>(http::status(unsigned(status)), 11);
    set_common(*res, ctype, extra);
    res->keep_alive(keep_alive_ && !closing_);
    res->body() = std::move(body);
    res->prepare_payload();
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, size_t) {
      if (ec) self->mark_gone();
      self->finish_exchange();
    });
  }
  void do_start_stream(uint64_t id, int status, const std::string& ctype, const Headers& extra) {
    if (!current(id) || mode_ != Mode::None) return;
    mode_ = Mode::Stream;
    if (gone_) return;
    head_ = http::response<http::empty_body>(http::status(unsigned(status)), 11);
    set_common(head_, ctype, extra);
    head_.set(http::field::cache_control, "no-cache");
    head_.keep_alive(keep_alive_ && !closing_);
    head_.chunked(true);
    head_sr_.emplace(head_);
    writing_ = true;
    http::async_write_header(stream_, *head_sr_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->writing_ = false;
      if (ec) self->mark_gone();
      self->pump();
    });
  }
  void do_write(uint64_t id, std::string data) {
    if (!current(id) || mode_ != Mode::Stream || gone_) return;
    queue_.push_back(std::move(data));
    pump();
  }
  void do_end(uint64_t id) {
    if (!current(id) || mode_ != Mode::Stream) return;
    end_ = true;
    pump();
  }
  void do_on_disconnect(uint64_t id, std::function<void()> fn) {
    if (!current(id)) return;
    if (gone_) fn();
    else on_gone_.push_back(std::move(fn));
  }
  bool gone() const { return gone_; }

 private:
  enum class Mode { None, Full, Stream };
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpServer::Impl& srv_;
  net::steady_timer timer_;
  std::string remote_;
  bool timed_out_ = false;
  uint64_t exchange_ = 0;
  bool in_exchange_ = false, keep_alive_ = false, closing_ = false;
  std::atomic<bool> gone_{false};
  bool watching_ = false, read_after_watch_ = false;
  std::array<char, 4096> watch_buf_{};
  std::vector<std::function<void()>> on_gone_;
  Headers cors_;
  Mode mode_ = Mode::None;
  http::response<http::empty_body> head_;
  std::optional<http::response_serializer<http::empty_body>> head_sr_;
  std::deque<std::string> queue_;
  std::string chunk_;
  bool writing_ = false, end_ = false, last_sent_ = false;

  bool current(uint64_t id) const { return in_exchange_ && id == exchange_; }

  template <class Msg>
  void set_common(Msg& m, const std::string& ctype, const Headers& extra) {
    m.set(http::field::server, "tritium");
    if (!ctype.empty()) m.set(http::field::content_type, ctype);
    for (auto& [k, v] : srv_.opts.extra_headers) m.set(k, v);
    for (auto& [k, v] : cors_) m.set(k, v);
    for (auto& [k, v] : extra) m.set(k, v);
  }

  void arm_timer() {
    timed_out_ = false;
    timer_.expires_after(std::chrono::milliseconds(int64_t(srv_.opts.request_timeout_s * 1000)));
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return;  // cancelled: the request arrived
      self->timed_out_ = true;
      beast::error_code e;
      self->stream_.socket().cancel(e);
    });
  }

  void do_read() {
    if (closing_ || gone_) return;
    parser_.emplace();
    parser_->body_limit(srv_.opts.max_body_bytes);
    parser_->header_limit(64 * 1024);
    arm_timer();
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  // A transport-level error answer, then close.
  void fail(int status, const std::string& msg) {
    ++exchange_;
    in_exchange_ = true;
    keep_alive_ = false;
    closing_ = true;
    mode_ = Mode::None;
    do_send(exchange_, status, "application/json", error_json(status, msg), {});
  }

  bool read_error(beast::error_code ec) {
    if (!ec) return false;
    timer_.cancel();
    const bool started = parser_ && parser_->got_some();
    if (ec == net::error::operation_aborted && timed_out_) {
      if (started)
        fail(408, str_cat("the request did not arrive within ", srv_.opts.request_timeout_s,
                          " s (the server's --request-timeout)"));
      else
        shutdown();
    } else if (ec == http::error::body_limit) {
      fail(413, str_cat("the request body is larger than the server's limit of ", srv_.opts.max_body_bytes,
                        " bytes (--max-body-bytes)"));
    } else if (ec == http::error::header_limit) {
      fail(431, "the request's header is larger than 65536 bytes");
    } else if (ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
               ec == net::error::operation_aborted || ec == http::error::partial_message) {
      shutdown();
    } else {
      fail(400, "malformed HTTP request: " + ec.message());
    }
    return true;
  }

  void on_header(beast::error_code ec) {
    if (read_error(ec)) return;
    auto& req = parser_->get();
    if (req[http::field::expect].size() && lower(req[http::field::expect]) == "100-continue") {
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
      http::async_write(stream_, *cont, [self = shared_from_this(), cont](beast::error_code ec, size_t) {
        if (ec) return self->shutdown();
        self->read_body();
      });
      return;
    }
    read_body();
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->on_read(ec);
    });
  }

  void on_read(beast::error_code ec) {
    if (read_error(ec)) return;
    timer_.cancel();
    auto& req = parser_->get();
    HttpRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    size_t q = r.target.find('?');
    r.path = r.target.substr(0, q);
    for (auto& f : req) {
      std::string k = lower(f.name_string());
      auto it = r.headers.find(k);
      if (it == r.headers.end()) r.headers[k] = std::string(f.value());
      else it->second += ", " + std::string(f.value());
    }
    r.body = std::move(req.body());
    r.remote = remote_;
    r.received_at = now_s();
    keep_alive_ = req.keep_alive();
    ++exchange_;
    in_exchange_ = true;
    mode_ = Mode::None;
    end_ = last_sent_ = false;
    queue_.clear();
    cors_ = srv_.opts.cors ? srv_.opts.cors(r) : Headers{};
    start_watch();
    auto ex = make_exchange();
    try {
      srv_.handler(r, ex);
    } catch (const std::exception& e) {
      do_send(exchange_, 500, "application/json", error_json(500, std::string("internal error: ") + e.what()), {});
    }
  }

  std::shared_ptr<Responder> make_exchange();

  void start_watch() {
    if (watching_ || gone_ || closing_) return;
    watching_ = true;
    stream_.socket().async_read_some(net::buffer(watch_buf_), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->on_watch(ec, n);
    });
  }

  void on_watch(beast::error_code ec, size_t n) {
    watching_ = false;
    if (n > 0) {
      auto b = buffer_.prepare(n);
      std::memcpy(b.data(), watch_buf_.data(), n);
      buffer_.commit(n);
    }
    if (ec && ec != net::error::operation_aborted) return mark_gone();
    if (read_after_watch_) {
      read_after_watch_ = false;
      return do_read();
    }
    // Bytes of a pipelined request wait in buffer_ (up to a bound) for the next read.
    if (in_exchange_ && !ec && buffer_.size() < (size_t(1) << 20)) start_watch();
  }

  void mark_gone() {
    if (gone_) return;
    gone_ = true;
    closing_ = true;
    timer_.cancel();
    beast::error_code e;
    stream_.socket().shutdown(tcp::socket::shutdown_both, e);
    stream_.socket().close(e);
    auto fns = std::move(on_gone_);
    on_gone_.clear();
    for (auto& f : fns) f();
  }

  void pump() {
    if (writing_ || mode_ != Mode::Stream) return;
    if (gone_) {
      if (end_) finish_exchange();
      return;
    }
    if (!queue_.empty()) {
      chunk_.clear();
      for (auto& s : queue_) chunk_ += s;
      queue_.clear();
      writing_ = true;
      net::async_write(stream_, http::make_chunk(net::const_buffer(chunk_.data(), chunk_.size())),
                       [self = shared_from_this()](beast::error_code ec, size_t) {
                         self->writing_ = false;
                         if (ec) self->mark_gone();
                         self->pump();
                       });
    } else if (end_ && !last_sent_) {
      last_sent_ = true;
      writing_ = true;
      net::async_write(stream_, http::make_chunk_last(), [self = shared_from_this()](beast::error_code ec, size_t) {
        self->writing_ = false;
        if (ec) self->mark_gone();
        self->finish_exchange();
      });
    }
  }

  void finish_exchange() {
    if (!in_exchange_) return;
    in_exchange_ = false;
    on_gone_.clear();
    head_sr_.reset();
    if (gone_) return;
    if (!keep_alive_ || closing_) return shutdown();
    if (watching_) {
      read_after_watch_ = true;
      beast::error_code e;
      stream_.socket().cancel(e);
    } else {
      do_read();
    }
  }

  void shutdown() {
    closing_ = true;
    timer_.cancel();
    beast::error_code e;
    stream_.socket().shutdown(tcp::socket::shutdown_send, e);
    stream_.socket().close(e);
    gone_ = true;
  }
};

namespace {
class Exchange : public Responder {
 public:
  Exchange(std::shared_ptr<Session> s, uint64_t id) : s_(std::move(s)), id_(id) {}
  void send(int status, const std::string& ctype, std::string body, Headers extra) override {
    s_->on_strand([s = s_, id = id_, status, ctype, body = std::move(body), extra = std::move(extra)]() mutable {
      s->do_send(id, status, ctype, std::move(body), extra);
    });
  }
  void start_stream(int status, const std::string& ctype, Headers extra) override {
    s_->on_strand([s = s_, id = id_, status, ctype, extra = std::move(extra)] { s->do_start_stream(id, status, ctype, extra); });
  }
  void write(std::string data) override {
    s_->on_strand([s = s_, id = id_, data = std::move(data)]() mutable { s->do_write(id, std::move(data)); });
  }
  void end_stream() override {
    s_->on_strand([s = s_, id = id_] { s->do_end(id); });
  }
  void on_disconnect(std::function<void()> fn) override {
    s_->on_strand([s = s_, id = id_, fn = std::move(fn)]() mutable { s->do_on_disconnect(id, std::move(fn)); });
  }
  void post(std::function<void()> fn) override { s_->on_strand(std::move(fn)); }
  bool disconnected() const override { return s_->gone(); }

 private:
  std::shared_ptr<Session> s_;
  uint64_t id_;
};
}  // namespace

std::shared_ptr<Responder> Session::make_exchange() { return std::make_shared<Exchange>(shared_from_this(), exchange_); }

void HttpServer::Impl::do_accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (!acceptor.is_open()) return;
    if (!ec) {
      beast::error_code e;
      socket.set_option(tcp::no_delay(true), e);
      auto s = std::make_shared<Session>(std::move(socket), *this);
      {
        std::lock_guard<std::mutex> lk(mu);
        std::erase_if(sessions, [](auto& w) { return w.expired(); });
        sessions.push_back(s);
      }
      s->start();
    }
    do_accept();
  });
}

HttpServer::HttpServer(HttpOptions opts, Handler handler)
    : impl_(std::make_shared<Impl>(std::move(opts), std::move(handler))) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  Impl& I = *impl_;
  beast::error_code ec;
  tcp::endpoint ep;
  auto addr = net::ip::make_address(I.opts.host, ec);
  if (!ec) {
    ep = tcp::endpoint(addr, I.opts.port);
  } else {
    tcp::resolver res(I.ioc);
    auto r = res.resolve(I.opts.host, std::to_string(I.opts.port), ec);
    if (ec || r.empty()) throw Error(str_cat("--host ", I.opts.host, ": cannot resolve it (", ec.message(), ")"));
    ep = r.begin()->endpoint();
  }
  I.acceptor.open(ep.protocol(), ec);
  if (!ec) I.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) I.acceptor.bind(ep, ec);
  if (!ec) I.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) throw Error(str_cat("cannot listen on ", I.opts.host, ":", I.opts.port, ": ", ec.message()));
  I.bound_port = I.acceptor.local_endpoint().port();
  I.work.emplace(net::make_work_guard(I.ioc));
  I.do_accept();
  for (int i = 0; i < std::max(1, I.opts.threads); ++i) I.threads.emplace_back([&I] { I.ioc.run(); });
}

uint16_t HttpServer::port() const { return impl_->bound_port; }

void HttpServer::stop_accepting() {
  net::post(impl_->ioc, [I = impl_] {
    beast::error_code e;
    I->acceptor.close(e);
  });
}

void HttpServer::stop() {
  Impl& I = *impl_;
  if (I.threads.empty()) return;
  stop_accepting();
  {
    std::lock_guard<std::mutex> lk(I.mu);
    for (auto& w : I.sessions)
      if (auto s = w.lock()) s->close_now();
  }
  // Let the closes run, then stop the threads.
  for (int i = 0; i < 200 && I.open.load() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  I.work.reset();
  I.ioc.stop();
  for (auto& t : I.threads) t.join();
  I.threads.clear();
}

int64_t HttpServer::open_connections() const { return impl_->open.load(); }

}  // namespace tritium::server
