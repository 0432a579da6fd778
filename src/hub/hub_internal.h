// Shared between the hub cache and the downloader.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "hub/hub.h"

namespace tritium::hub {

std::string repo_folder(const std::string& repo_id);  // <cache>/models--ORG--NAME
bool is_commit_hash(const std::string& rev);
// The commit the cache has for the revision (refs/<rev>, or the revision itself when it is a
// commit with a snapshot).
std::optional<std::string> cached_commit(const RepoRef& r);
void write_ref(const RepoRef& r, const std::string& commit);
// The snapshot holds every include pattern (at least one file each), or, with none, a model.
bool snapshot_has(const std::string& snap, const std::vector<std::string>& include);
// snapshots/<commit>/<rfilename> -> the blob, as a relative symlink.
void link_into_snapshot(const std::string& snap, const std::string& rfilename, const std::string& blob);

}  // namespace tritium::hub
