// Models from the Hugging Face hub, in the hub's cache layout (shared with huggingface_hub, so
// models other tools downloaded are found, and theirs find ours):
//   <cache>/models--ORG--NAME/refs/<revision>          the commit a branch or tag points to
//   <cache>/models--ORG--NAME/snapshots/<commit>/<path> a relative symlink to ../../blobs/<id>
//   <cache>/models--ORG--NAME/blobs/<id>                the bytes; id = LFS sha256 or git blob id
// <cache> is HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub. Downloads come from
// HF_ENDPOINT (default https://huggingface.co) with HF_TOKEN: the file list from the hub API,
// files split into ranges fetched in parallel, resumed after a cut (blobs/<id>.incomplete and its
// .parts record), LFS files checked against their sha256, and a file appears in the snapshot
// only once complete and checked.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tritium::hub {

struct RepoRef {
  std::string repo_id;            // ORG/NAME
  std::string revision = "main";  // branch, tag or commit
};

// "ORG/NAME" or "ORG/NAME@REV"; nullopt when s does not have that form.
std::optional<RepoRef> parse_repo_ref(const std::string& s);

struct DownloadOptions {
  std::vector<std::string> include;  // globs over repo paths ('*' stays within a directory)
  bool progress = true;
  bool offline = false;   // the cache only (also when HF_HUB_OFFLINE=1)
  bool refresh = false;   // ask the hub for the revision's files even when the cache has a snapshot
  int parallel = 8;       // ranges in flight
  int64_t chunk_bytes = 0;  // range size (0: TRITIUM_HUB_CHUNK_BYTES, else 64 MiB)
};

// The hub cache directory (not created).
std::string cache_dir();
// The snapshot directory of repo at its revision, downloading what the cache lacks; errors name
// the repository, the file and the cause (not found, gated, disk full, checksum, network).
std::string snapshot(const RepoRef& repo, const DownloadOptions& opts);

// The files a model needs by default, from a repository's file list: the root's *.json,
// *.safetensors and *.jinja, or, without safetensors, its one .gguf file (several: an error
// asking for --include).
std::vector<std::string> default_files(const RepoRef& repo, const std::vector<std::string>& all);
// fnmatch with FNM_PATHNAME.
bool glob_match(const std::string& pattern, const std::string& path);

}  // namespace tritium::hub
