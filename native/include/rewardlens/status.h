// rewardlens: status codes returned by every function of the C++ API.
// No function of the API throws across its boundary or aborts the process: each returns a
// Status, and a caller decides what to do with it (the Node binding turns it into a JS error).
#pragma once
#include <string>
#include <utility>

namespace rl {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument = 1,  // a shape, size, option or pointer that the op cannot accept
  kOutOfMemory = 2,      // an allocation failed
  kInternal = 3,         // anything else (a bug: please report it)
};

struct Status {
  StatusCode code = StatusCode::kOk;
  std::string message;

  bool ok() const { return code == StatusCode::kOk; }
  static Status Ok() { return {}; }
  static Status Invalid(std::string msg) { return {StatusCode::kInvalidArgument, std::move(msg)}; }
  static Status OutOfMemory(std::string msg) { return {StatusCode::kOutOfMemory, std::move(msg)}; }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }
};

// Return early from the enclosing function when an expression yields a non-ok Status.
#define RL_RETURN_IF_ERROR(expr)              \
  do {                                        \
    ::rl::Status rl_status_ = (expr);         \
    if (!rl_status_.ok()) return rl_status_;  \
  } while (0)

// Return Status::Invalid(msg) from the enclosing function when cond is false.
#define RL_CHECK_ARG(cond, msg)                      \
  do {                                               \
    if (!(cond)) return ::rl::Status::Invalid(msg);  \
  } while (0)

}  // namespace rl
