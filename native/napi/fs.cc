// Binding: file locks and the atomic path exchange (rewardlens/fs.h). Only descriptors this
// binding opened can be unlocked, so JS cannot close an arbitrary descriptor of the process.
#include <napi.h>

#include <mutex>
#include <set>
#include <string>

#include "napi_util.h"
#include "rewardlens/fs.h"

namespace rl_napi {

namespace {

std::mutex g_mu;
std::set<int> g_locks;  // descriptors returned by tryLockFile and not yet unlocked

std::string GetPath(const Napi::Value& v, const char* name) {
  if (!v.IsString()) ThrowType(v.Env(), std::string("Expected string for ") + name + " but received " + Describe(v));
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.empty() || s.find('\0') != std::string::npos) {
    ThrowType(v.Env(), std::string("Expected a non-empty path without NUL bytes for ") + name);
  }
  return s;
}

// tryLockFile(path): the lock's descriptor, or null when another process holds the lock.
Napi::Value TryLockFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string path = GetPath(info[0], "path");
  int fd = -1;
  ThrowIfError(env, rl::try_lock_file(path, &fd));
  if (fd < 0) return env.Null();
  std::lock_guard<std::mutex> lock(g_mu);
  g_locks.insert(fd);
  return Napi::Number::New(env, fd);
}

// unlockFile(fd): releases a lock taken by tryLockFile.
Napi::Value UnlockFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = static_cast<int>(GetInt(info[0], "fd", 0, INT32_MAX));
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_locks.erase(fd) == 0) ThrowRange(env, "unlockFile: " + std::to_string(fd) + " is not a lock taken by tryLockFile");
  }
  ThrowIfError(env, rl::unlock_file(fd));
  return env.Undefined();
}

// exchangePaths(a, b): true when the two paths were swapped atomically, false where unsupported.
Napi::Value ExchangePaths(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string a = GetPath(info[0], "a");
  const std::string b = GetPath(info[1], "b");
  bool supported = false;
  ThrowIfError(env, rl::exchange_paths(a, b, &supported));
  return Napi::Boolean::New(env, supported);
}

}  // namespace

void InitFs(Napi::Env env, Napi::Object exports) {
  exports.Set("tryLockFile", Napi::Function::New(env, TryLockFile));
  exports.Set("unlockFile", Napi::Function::New(env, UnlockFile));
  exports.Set("exchangePaths", Napi::Function::New(env, ExchangePaths));
}

}  // namespace rl_napi
