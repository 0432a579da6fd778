// The hub cache layout: where a repository's refs, snapshots and blobs live, and whether a
// snapshot already holds what a model needs.
#include <fnmatch.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include "core/error.h"
#include "core/file.h"
#include "hub/hub.h"
#include "hub/hub_internal.h"

namespace tritium::hub {

namespace fs = std::filesystem;

std::optional<RepoRef> parse_repo_ref(const std::string& s) {
  static const std::regex re(R"(^([A-Za-z0-9][A-Za-z0-9._-]{0,95})/([A-Za-z0-9][A-Za-z0-9._-]{0,95})(?:@([A-Za-z0-9._/-]{1,255}))?$)");
  std::smatch m;
  if (!std::regex_match(s, m, re)) return std::nullopt;
  std::string org = m[1], name = m[2];
  if (org.find("..") != std::string::npos || name.find("..") != std::string::npos) return std::nullopt;
  if (name.size() > 5 && name.compare(name.size() - 5, 5, ".gguf") == 0) return std::nullopt;  // a relative path
  RepoRef r;
  r.repo_id = org + "/" + name;
  if (m[3].matched) {
    r.revision = m[3];
    if (r.revision.find("..") != std::string::npos) return std::nullopt;
  }
  return r;
}

std::string cache_dir() {
  auto env = [](const char* k) -> std::string {
    const char* v = std::getenv(k);
    return v && *v ? v : "";
  };
  if (auto v = env("HF_HUB_CACHE"); !v.empty()) return v;
  if (auto v = env("HUGGINGFACE_HUB_CACHE"); !v.empty()) return v;
  if (auto v = env("HF_HOME"); !v.empty()) return v + "/hub";
  if (auto v = env("XDG_CACHE_HOME"); !v.empty()) return v + "/huggingface/hub";
  std::string home = env("HOME");
  if (home.empty()) throw Error("cannot find the Hugging Face cache: set HF_HUB_CACHE or HOME");
  return home + "/.cache/huggingface/hub";
}

std::string repo_folder(const std::string& repo_id) {
  std::string r = "models--" + repo_id;
  size_t p = r.find('/');
  r.replace(p, 1, "--");
  return cache_dir() + "/" + r;
}

bool is_commit_hash(const std::string& rev) {
  return rev.size() == 40 && std::all_of(rev.begin(), rev.end(), [](char c) { return std::isxdigit(uint8_t(c)); });
}

std::optional<std::string> cached_commit(const RepoRef& r) {
  const std::string dir = repo_folder(r.repo_id);
  if (is_commit_hash(r.revision)) {
    if (fs::is_directory(dir + "/snapshots/" + r.revision)) return r.revision;
    return std::nullopt;
  }
  auto text = try_read_file(dir + "/refs/" + r.revision);
  if (!text) return std::nullopt;
  std::string c = *text;
  while (!c.empty() && (c.back() == '\n' || c.back() == '\r' || c.back() == ' ')) c.pop_back();
  if (!is_commit_hash(c)) return std::nullopt;
  return c;
}

void write_ref(const RepoRef& r, const std::string& commit) {
  if (is_commit_hash(r.revision)) return;
  const fs::path p = fs::path(repo_folder(r.repo_id)) / "refs" / r.revision;
  fs::create_directories(p.parent_path());
  const std::string tmp = p.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << commit;
    if (!out) throw Error(str_cat(tmp, ": cannot write"));
  }
  fs::rename(tmp, p);
}

bool glob_match(const std::string& pattern, const std::string& path) {
  return fnmatch(pattern.c_str(), path.c_str(), FNM_PATHNAME) == 0;
}

std::vector<std::string> default_files(const RepoRef& repo, const std::vector<std::string>& all) {
  std::vector<std::string> out, ggufs;
  bool safetensors = false;
  for (auto& f : all) {
    if (f.find('/') != std::string::npos) continue;  // the root only
    if (glob_match("*.safetensors", f)) safetensors = true;
    if (glob_match("*.gguf", f)) ggufs.push_back(f);
  }
  for (auto& f : all) {
    if (f.find('/') != std::string::npos) continue;
    if (glob_match("*.json", f) || glob_match("*.jinja", f) || (safetensors && glob_match("*.safetensors", f)))
      out.push_back(f);
  }
  if (!safetensors) {
    if (ggufs.size() == 1) {
      out.push_back(ggufs[0]);
    } else if (ggufs.size() > 1) {
      std::string list;
      for (auto& g : ggufs) list += (list.empty() ? "" : ", ") + g;
      throw Error(str_cat(repo.repo_id, " holds ", ggufs.size(), " GGUF files (", list,
                          "): choose one with --include FILE (tritium pull) or --model ", repo.repo_id, "/FILE.gguf"));
    } else {
      throw Error(str_cat(repo.repo_id, ": no *.safetensors and no *.gguf files at the top of the repository"));
    }
  }
  return out;
}

// What a model needs is present: a checkpoint (config.json and its safetensors) or one GGUF file.
bool snapshot_has_model(const std::string& snap) {
  std::error_code ec;
  const fs::path d(snap);
  if (!fs::is_directory(d, ec)) return false;
  if (fs::exists(d / "config.json", ec)) {
    if (fs::exists(d / "model.safetensors.index.json", ec)) {
      auto text = try_read_file((d / "model.safetensors.index.json").string());
      if (!text) return false;
      // every shard the index names must be present
      for (size_t p = text->find(".safetensors\""); p != std::string::npos; p = text->find(".safetensors\"", p + 1)) {
        size_t q = text->rfind('"', p);
        if (q == std::string::npos) return false;
        std::string shard = text->substr(q + 1, p + 12 - q - 1);
        if (shard.find('/') == std::string::npos && !fs::exists(d / shard, ec)) return false;
      }
      return true;
    }
    for (auto& e : fs::directory_iterator(d, ec))
      if (e.path().extension() == ".safetensors" && fs::exists(e.path(), ec)) return true;
    return false;
  }
  int ggufs = 0;
  for (auto& e : fs::directory_iterator(d, ec))
    if (e.path().extension() == ".gguf" && fs::exists(e.path(), ec)) ++ggufs;
  return ggufs == 1;
}

bool snapshot_has(const std::string& snap, const std::vector<std::string>& include) {
  std::error_code ec;
  if (include.empty()) return snapshot_has_model(snap);
  std::vector<std::string> present;
  for (auto it = fs::recursive_directory_iterator(snap, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return false;
    if (fs::exists(it->path(), ec) && !fs::is_directory(it->path(), ec))
      present.push_back(fs::relative(it->path(), snap, ec).string());
  }
  for (auto& pat : include)
    if (std::none_of(present.begin(), present.end(), [&](const std::string& p) { return glob_match(pat, p); }))
      return false;
  return true;
}

void link_into_snapshot(const std::string& snap, const std::string& rfilename, const std::string& blob) {
  const fs::path link = fs::path(snap) / rfilename;
  fs::create_directories(link.parent_path());
  const fs::path target = fs::relative(blob, link.parent_path());
  std::error_code ec;
  fs::remove(link, ec);
  fs::create_symlink(target, link, ec);
  if (ec) {  // file systems without symlinks: copy, as huggingface_hub does
    fs::copy_file(blob, link, fs::copy_options::overwrite_existing, ec);
    if (ec) throw Error(str_cat(link.string(), ": cannot link or copy the downloaded file (", ec.message(), ")"));
  }
}

}  // namespace tritium::hub
