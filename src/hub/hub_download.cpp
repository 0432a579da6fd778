// Downloads from the hub: the revision's file list (GET /api/models/ORG/NAME/revision/REV?blobs=true),
// then every missing blob fetched as byte ranges of GET /ORG/NAME/resolve/COMMIT/PATH (redirects
// followed), several in flight. A blob is written at blobs/<id>.incomplete, the ranges already
// written are recorded in blobs/<id>.incomplete.parts (so a later run fetches only the rest), and
// it is renamed to blobs/<id> and linked into the snapshot only once complete and, for LFS files,
// its sha256 equals the id.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"
#include "hub/http.h"
#include "hub/hub.h"
#include "hub/hub_internal.h"
#include "hub/sha256.h"

namespace tritium::hub {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string env_or(const char* k, const std::string& dflt) {
  const char* v = std::getenv(k);
  return v && *v ? v : dflt;
}

std::string endpoint() {
  std::string e = env_or("HF_ENDPOINT", "https://huggingface.co");
  while (!e.empty() && e.back() == '/') e.pop_back();
  return e;
}

std::vector<std::string> auth_headers() {
  std::string t = env_or("HF_TOKEN", env_or("HUGGING_FACE_HUB_TOKEN", ""));
  if (t.empty()) return {};
  return {"Authorization: Bearer " + t};
}

std::string url_escape(const std::string& s, bool keep_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string r;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) r += char(c);
    else {
      r += '%';
      r += hex[c >> 4];
      r += hex[c & 15];
    }
  }
  return r;
}

std::string human_bytes(double b) {
  const char* u[] = {"B", "KB", "MB", "GB", "TB"};
  int i = 0;
  while (b >= 1000 && i < 4) {
    b /= 1000;
    ++i;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, i ? "%.1f %s" : "%.0f %s", b, u[i]);
  return buf;
}

// A hub error status as a message a user can act on.
[[noreturn]] void hub_error(long status, const RepoRef& r, const std::string& what, const std::string& body) {
  const bool token = !auth_headers().empty();
  if (status == 401)
    throw Error(str_cat(r.repo_id, ": ", what, ": 401 unauthorized: the repository is gated or private; ",
                        token ? "HF_TOKEN was sent but does not grant access" : "set HF_TOKEN to a token with access",
                        " (", endpoint(), ")"));
  if (status == 403)
    throw Error(str_cat(r.repo_id, ": ", what, ": 403 forbidden: request access to this gated model on its hub page ",
                        "with the account HF_TOKEN belongs to"));
  if (status == 404)
    throw Error(str_cat(r.repo_id, ": ", what, ": 404 not found: no such repository, revision '", r.revision,
                        "' or file on ", endpoint()));
  std::string snippet = body.substr(0, 200);
  throw Error(str_cat(r.repo_id, ": ", what, ": the hub answered HTTP ", status, snippet.empty() ? "" : ": ", snippet));
}

struct RemoteFile {
  std::string path;
  int64_t size = -1;
  std::string id;  // blob name: the LFS sha256, else the git blob id
  bool lfs = false;
};

struct Listing {
  std::string commit;
  std::vector<RemoteFile> files;
};

Listing list_files(const RepoRef& r) {
  HttpRequest q;
  q.url = str_cat(endpoint(), "/api/models/", r.repo_id, "/revision/", url_escape(r.revision, false), "?blobs=true");
  q.headers = auth_headers();
  HttpResponse resp = http_request(q);
  if (resp.status != 200) hub_error(resp.status, r, "listing its files", resp.body);
  json j;
  try {
    j = json::parse(resp.body);
  } catch (const json::exception& e) {
    throw Error(str_cat(r.repo_id, ": the hub's file list is not JSON (", e.what(), ")"));
  }
  Listing l;
  if (!j.is_object() || !j.contains("sha") || !j["sha"].is_string() || !j.contains("siblings") ||
      !j["siblings"].is_array())
    throw Error(str_cat(r.repo_id, ": the hub's file list lacks 'sha' or 'siblings'"));
  l.commit = j["sha"].get<std::string>();
  if (!is_commit_hash(l.commit)) throw Error(str_cat(r.repo_id, ": the hub's commit '", l.commit, "' is not a commit hash"));
  for (auto& s : j["siblings"]) {
    if (!s.is_object() || !s.contains("rfilename") || !s["rfilename"].is_string()) continue;
    RemoteFile f;
    f.path = s["rfilename"].get<std::string>();
    if (f.path.empty() || f.path[0] == '/' || f.path.find("..") != std::string::npos)
      throw Error(str_cat(r.repo_id, ": the hub lists a file outside the repository: '", f.path, "'"));
    if (s.contains("size") && s["size"].is_number_integer()) f.size = s["size"].get<int64_t>();
    if (s.contains("blobId") && s["blobId"].is_string()) f.id = s["blobId"].get<std::string>();
    if (s.contains("lfs") && s["lfs"].is_object()) {
      const json& lf = s["lfs"];
      if (lf.contains("sha256") && lf["sha256"].is_string()) {
        f.id = lf["sha256"].get<std::string>();
        f.lfs = true;
      }
      if (lf.contains("size") && lf["size"].is_number_integer()) f.size = lf["size"].get<int64_t>();
    }
    if (f.id.empty() || f.id.find('/') != std::string::npos || f.size < 0)
      throw Error(str_cat(r.repo_id, ": the hub's entry for '", f.path, "' lacks a blob id or size"));
    l.files.push_back(std::move(f));
  }
  return l;
}

// A progress bar on a terminal (redrawn at most 10 times a second), a line per file otherwise.
class Progress {
 public:
  Progress(bool on, int64_t total, size_t files) : on_(on), tty_(isatty(2)), total_(total), files_(files) {
    start_ = std::chrono::steady_clock::now();
  }
  void add(int64_t n) {
    done_ += n;
    if (!on_ || !tty_) return;
    std::lock_guard<std::mutex> lk(mu_);
    auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    draw(now);
  }
  void file_done(const std::string& name, int64_t bytes) {
    std::lock_guard<std::mutex> lk(mu_);
    ++files_done_;
    if (!on_) return;
    if (tty_) {
      draw(std::chrono::steady_clock::now());
    } else {
      std::fprintf(stderr, "downloaded %s (%s) [%zu/%zu]\n", name.c_str(), human_bytes(double(bytes)).c_str(),
                   files_done_, files_);
    }
  }
  void finish() {
    if (on_ && tty_) {
      std::lock_guard<std::mutex> lk(mu_);
      draw(std::chrono::steady_clock::now());
      std::fprintf(stderr, "\n");
    }
  }

 private:
  void draw(std::chrono::steady_clock::time_point now) {
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double frac = total_ > 0 ? double(done_) / double(total_) : 1.0;
    const double rate = secs > 0 ? double(done_) / secs : 0;
    const int width = 30, fill = int(frac * width);
    std::fprintf(stderr, "\rdownloading [%-*s] %3.0f%% %s / %s  %s/s  %zu/%zu files ", width,
                 std::string(size_t(std::clamp(fill, 0, width)), '#').c_str(), frac * 100,
                 human_bytes(double(done_)).c_str(), human_bytes(double(total_)).c_str(), human_bytes(rate).c_str(),
                 files_done_, files_);
  }
  bool on_, tty_;
  int64_t total_;
  size_t files_, files_done_ = 0;
  std::atomic<int64_t> done_{0};
  std::mutex mu_;
  std::chrono::steady_clock::time_point start_, last_{};
};

// One blob being written: its .incomplete file, which ranges are done, the lock held on it.
struct Job {
  RemoteFile file;
  std::string blob, incomplete, parts;
  int fd = -1, parts_fd = -1, lock_fd = -1;
  int64_t chunk = 0, chunks = 0;
  std::vector<bool> done;
  int64_t remaining = 0;  // chunks not done
  std::mutex mu;
};

bool write_all(int fd, const char* p, size_t n, off_t off) {
  while (n) {
    ssize_t w = pwrite(fd, p, n, off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= size_t(w);
    off += w;
  }
  return true;
}

void discard_partial(Job& j);

[[noreturn]] void write_failed(Job& j, int err) {
  const bool full = err == ENOSPC || err == EDQUOT || err == EFBIG;
  if (full) discard_partial(j);
  throw Error(str_cat(j.incomplete, ": ", full ? "disk full" : "write failed", " (", std::strerror(err), ") while downloading ",
                      j.file.path, full ? "; the partial file was removed: free some space and run again" : ""));
}

void close_job(Job& j) {
  for (int* fd : {&j.fd, &j.parts_fd, &j.lock_fd})
    if (*fd >= 0) {
      ::close(*fd);
      *fd = -1;
    }
}

void discard_partial(Job& j) {
  std::error_code ec;
  fs::remove(j.incomplete, ec);
  fs::remove(j.parts, ec);
}

// Opens (or resumes) the blob's partial file, waiting while another process writes it; false
// when that process completed it meanwhile.
bool open_job(Job& j, const std::string& lock_dir) {
  fs::create_directories(lock_dir);
  const std::string lock = lock_dir + "/" + j.file.id + ".lock";
  j.lock_fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (j.lock_fd < 0) throw Error(str_cat(lock, ": cannot create (", std::strerror(errno), ")"));
  if (flock(j.lock_fd, LOCK_EX | LOCK_NB) != 0) {
    std::fprintf(stderr, "waiting for another process downloading %s ...\n", j.file.path.c_str());
    flock(j.lock_fd, LOCK_EX);
    struct stat st {};
    if (stat(j.blob.c_str(), &st) == 0 && int64_t(st.st_size) == j.file.size) return false;
  }
  j.chunks = std::max<int64_t>(1, (j.file.size + j.chunk - 1) / j.chunk);
  j.done.assign(size_t(j.chunks), false);
  // The record: the range size, then the index (int64) of each range written in full.
  if (auto text = std::ifstream(j.parts, std::ios::binary)) {
    int64_t cs = 0, idx = 0;
    struct stat st {};
    const bool have_data = stat(j.incomplete.c_str(), &st) == 0 && int64_t(st.st_size) == j.file.size;
    if (text.read(reinterpret_cast<char*>(&cs), 8) && cs == j.chunk && have_data)
      while (text.read(reinterpret_cast<char*>(&idx), 8))
        if (idx >= 0 && idx < j.chunks) j.done[size_t(idx)] = true;
  }
  j.remaining = std::count(j.done.begin(), j.done.end(), false);
  const bool resume = j.remaining < j.chunks;
  if (!resume) discard_partial(j);
  j.fd = ::open(j.incomplete.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (j.fd < 0) throw Error(str_cat(j.incomplete, ": cannot create (", std::strerror(errno), ")"));
  if (!resume && j.file.size > 0 && ftruncate(j.fd, off_t(j.file.size)) != 0) {
    int e = errno;
    discard_partial(j);
    write_failed(j, e);
  }
  j.parts_fd = ::open(j.parts.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (j.parts_fd < 0) throw Error(str_cat(j.parts, ": cannot create (", std::strerror(errno), ")"));
  if (!resume && !write_all(j.parts_fd, reinterpret_cast<const char*>(&j.chunk), 8, 0)) write_failed(j, errno);
  return true;
}

int retries() {
  const char* v = std::getenv("TRITIUM_HUB_RETRIES");
  return v && *v ? std::max(0, std::atoi(v)) : 4;
}

// Fetches range k of the job; throws Error (fatal) or HttpError (worth a retry).
void fetch_range(Job& j, int64_t k, const RepoRef& r, const std::string& commit, Progress& prog,
                 const std::atomic<bool>& stop) {
  const int64_t a = k * j.chunk, b = std::min(j.file.size, a + j.chunk);  // [a, b)
  HttpRequest q;
  q.url = str_cat(endpoint(), "/", r.repo_id, "/resolve/", commit, "/", url_escape(j.file.path, true));
  q.headers = auth_headers();
  q.headers.push_back(str_cat("Range: bytes=", a, "-", b - 1));
  int64_t pos = a;      // next byte of the file to write
  int64_t skip = -1;    // bytes still to drop before `a` (a server that ignores Range)
  int write_err = 0;
  HttpResponse resp;
  q.sink = [&](long status, const char* data, size_t n) -> bool {
    if (stop) return false;
    if (skip < 0) skip = status == 206 ? 0 : a;  // 200: the whole file from byte 0
    size_t off = 0;
    if (skip > 0) {
      size_t drop = size_t(std::min<int64_t>(skip, int64_t(n)));
      skip -= int64_t(drop);
      off = drop;
    }
    size_t take = size_t(std::min<int64_t>(int64_t(n - off), b - pos));
    if (take && !write_all(j.fd, data + off, take, off_t(pos))) {
      write_err = errno;
      return false;
    }
    pos += int64_t(take);
    prog.add(int64_t(take));
    return off + take == n;  // bytes past the range: stop a server that ignored Range
  };
  try {
    resp = http_request(q);
  } catch (const HttpError& e) {
    if (write_err) write_failed(j, write_err);
    if (!e.aborted || pos < b) {
      prog.add(-(pos - a));
      if (stop) throw Error("stopped");
      throw;
    }
    resp = e.response;  // stopped after the range was complete
  }
  if (resp.status == 401 || resp.status == 403 || resp.status == 404) hub_error(resp.status, r, "downloading " + j.file.path, resp.body);
  if (resp.status >= 500 || resp.status == 429) {
    prog.add(-(pos - a));
    throw HttpError(str_cat(j.file.path, ": the hub answered HTTP ", resp.status));
  }
  if (resp.status != 200 && resp.status != 206) hub_error(resp.status, r, "downloading " + j.file.path, resp.body);
  if (resp.status == 206) {
    std::string cr = resp.header("content-range");  // bytes a-b/size
    if (cr.rfind("bytes " + std::to_string(a) + "-", 0) != 0)
      throw Error(str_cat(j.file.path, ": the server sent range '", cr, "' for bytes ", a, "-", b - 1));
  }
  if (pos < b) {
    prog.add(-(pos - a));
    throw HttpError(str_cat(j.file.path, ": the connection closed after ", pos - a, " of ", b - a, " bytes"));
  }
}

// Complete: fsync, check the sha256 of LFS files, rename into blobs/, drop the range record.
void finish_job(Job& j) {
  if (fsync(j.fd) != 0) write_failed(j, errno);
  if (j.file.lfs) {
    std::string got = sha256_file(j.incomplete);
    if (got != j.file.id) {
      discard_partial(j);
      throw Error(str_cat("checksum mismatch: ", j.file.path, " downloaded with sha256 ", got, ", the hub says ",
                          j.file.id, "; the file was removed: run again to download it anew"));
    }
  } else {
    struct stat st {};
    if (stat(j.incomplete.c_str(), &st) != 0 || int64_t(st.st_size) != j.file.size)
      throw Error(str_cat(j.file.path, ": downloaded ", int64_t(st.st_size), " bytes, the hub says ", j.file.size));
  }
  std::error_code ec;
  fs::rename(j.incomplete, j.blob, ec);
  if (ec) throw Error(str_cat(j.blob, ": cannot rename the download into place (", ec.message(), ")"));
  fs::remove(j.parts, ec);
}

void download(std::vector<std::unique_ptr<Job>>& jobs, const RepoRef& r, const std::string& commit,
              const DownloadOptions& o) {
  std::deque<std::pair<Job*, int64_t>> queue;
  int64_t total = 0, have = 0;
  for (auto& j : jobs) {
    total += j->file.size;
    for (int64_t k = 0; k < j->chunks; ++k) {
      int64_t len = std::min(j->file.size, (k + 1) * j->chunk) - k * j->chunk;
      if (j->done[size_t(k)]) have += len;
      else queue.push_back({j.get(), k});
    }
  }
  Progress prog(o.progress, total, jobs.size());
  prog.add(have);
  std::mutex mu;
  std::atomic<bool> stop{false};
  std::string error;
  const int tries = retries() + 1;
  auto worker = [&] {
    for (;;) {
      std::pair<Job*, int64_t> t;
      {
        std::lock_guard<std::mutex> lk(mu);
        if (stop || queue.empty()) return;
        t = queue.front();
        queue.pop_front();
      }
      Job& j = *t.first;
      try {
        for (int attempt = 1;; ++attempt) {
          try {
            if (j.file.size > 0) fetch_range(j, t.second, r, commit, prog, stop);
            break;
          } catch (const HttpError& e) {
            if (stop) return;
            if (attempt >= tries)
              throw Error(str_cat("downloading ", j.file.path, " from ", endpoint(), " failed after ", attempt,
                                  " attempts: ", e.what(), " (run again to resume)"));
            std::this_thread::sleep_for(std::chrono::milliseconds(250 << std::min(attempt, 5)));
          }
        }
        bool last;
        {
          std::lock_guard<std::mutex> lk(j.mu);
          int64_t idx = t.second;
          if (!write_all(j.parts_fd, reinterpret_cast<const char*>(&idx), 8, 0)) write_failed(j, errno);
          j.done[size_t(idx)] = true;
          last = --j.remaining == 0;
        }
        if (last) {
          finish_job(j);
          prog.file_done(j.file.path, j.file.size);
        }
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lk(mu);
        if (error.empty()) error = e.what();
        stop = true;
        return;
      }
    }
  };
  // Jobs with nothing left to fetch (resumed to completion) are finished here.
  for (auto& j : jobs)
    if (j->remaining == 0) {
      finish_job(*j);
      prog.file_done(j->file.path, j->file.size);
    }
  const int n = std::max(1, std::min<int>(o.parallel, int(queue.size())));
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  prog.finish();
  if (!error.empty()) {
    // Disk full or a checksum mismatch removed their partial files; a cut connection keeps the
    // ranges written so far for the next run.
    for (auto& j : jobs) close_job(*j);
    throw Error(error);
  }
}

}  // namespace

std::string snapshot(const RepoRef& r, const DownloadOptions& o) {
  const std::string dir = repo_folder(r.repo_id);
  const bool offline = o.offline || env_or("HF_HUB_OFFLINE", "0") == "1";
  if (!o.refresh || offline) {
    if (auto c = cached_commit(r)) {
      std::string snap = dir + "/snapshots/" + *c;
      if (snapshot_has(snap, o.include)) return snap;
    }
    if (offline)
      throw Error(str_cat(r.repo_id, "@", r.revision, " is not in the Hugging Face cache (", cache_dir(),
                          ") and downloads are off", o.offline ? "" : " (HF_HUB_OFFLINE=1)"));
  }
  std::string why;
  if (!http_available(&why)) throw Error(str_cat("cannot download ", r.repo_id, ": ", why));
  Listing l;
  try {
    l = list_files(r);
  } catch (const HttpError& e) {
    // The hub is unreachable: a snapshot already in the cache still serves (tritium pull).
    if (auto c = cached_commit(r)) {
      std::string snap = dir + "/snapshots/" + *c;
      if (snapshot_has(snap, o.include)) {
        std::fprintf(stderr, "warning: %s: the hub is unreachable (%s); using the cached snapshot %s\n",
                     r.repo_id.c_str(), e.what(), c->c_str());
        return snap;
      }
    }
    throw Error(str_cat("cannot reach the hub at ", endpoint(), " for ", r.repo_id, ": ", e.what()));
  }
  std::vector<std::string> names;
  for (auto& f : l.files) names.push_back(f.path);
  std::vector<std::string> wanted;
  if (o.include.empty()) {
    wanted = default_files(r, names);
  } else {
    for (auto& p : o.include) {
      size_t before = wanted.size();
      for (auto& n : names)
        if (glob_match(p, n) && std::find(wanted.begin(), wanted.end(), n) == wanted.end()) wanted.push_back(n);
      if (wanted.size() == before)
        throw Error(str_cat(r.repo_id, "@", r.revision, ": no file matches --include '", p, "'"));
    }
  }
  const std::string snap = dir + "/snapshots/" + l.commit, blobs = dir + "/blobs";
  fs::create_directories(blobs);
  fs::create_directories(snap);
  const int64_t chunk = o.chunk_bytes > 0 ? o.chunk_bytes
                        : std::getenv("TRITIUM_HUB_CHUNK_BYTES")
                            ? std::max<int64_t>(1, std::atoll(std::getenv("TRITIUM_HUB_CHUNK_BYTES")))
                            : int64_t(64) << 20;
  std::vector<std::unique_ptr<Job>> jobs;
  int64_t need = 0;
  for (auto& f : l.files) {
    if (std::find(wanted.begin(), wanted.end(), f.path) == wanted.end()) continue;
    auto j = std::make_unique<Job>();
    j->file = f;
    j->blob = blobs + "/" + f.id;
    j->incomplete = j->blob + ".incomplete";
    j->parts = j->incomplete + ".parts";
    j->chunk = chunk;
    struct stat st {};
    if (stat(j->blob.c_str(), &st) == 0 && int64_t(st.st_size) == f.size) continue;  // already in the cache
    need += f.size;
    jobs.push_back(std::move(j));
  }
  struct statvfs vfs {};
  if (need > 0 && statvfs(blobs.c_str(), &vfs) == 0) {
    const int64_t free_bytes = int64_t(vfs.f_bavail) * int64_t(vfs.f_frsize);
    if (need > free_bytes)
      throw Error(str_cat("not enough disk space for ", r.repo_id, ": ", human_bytes(double(need)), " to download, ",
                          human_bytes(double(free_bytes)), " free in ", blobs));
  }
  std::vector<std::unique_ptr<Job>> open;
  try {
    for (auto& j : jobs) {
      if (open_job(*j, cache_dir() + "/.locks/" + fs::path(dir).filename().string())) open.push_back(std::move(j));
      else close_job(*j);
    }
    jobs = std::move(open);
    download(jobs, r, l.commit, o);
  } catch (...) {
    for (auto* list : {&jobs, &open})
      for (auto& j : *list)
        if (j) close_job(*j);
    throw;
  }
  for (auto& j : jobs) close_job(*j);
  for (auto& f : l.files)
    if (std::find(wanted.begin(), wanted.end(), f.path) != wanted.end()) link_into_snapshot(snap, f.path, blobs + "/" + f.id);
  write_ref(r, l.commit);
  return snap;
}

}  // namespace tritium::hub
