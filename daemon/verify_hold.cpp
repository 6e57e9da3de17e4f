#include "daemon/verify_hold.h"

#include <nlohmann/json.hpp>
#include <thread>

namespace shardcast {

namespace {

bool Success(const AdminResponse& r) {
  return r.status >= 200 && r.status < 300;
}

Status Refused(const AdminClient& client, const std::string& what, const AdminResponse& r) {
  return Unavailable("the daemon at " + client.listen() + " (admin.listen) refused " + what + ": HTTP " +
                     std::to_string(r.status) + " " + r.body);
}

}  // namespace

StatusOr<std::unique_ptr<VerifyHold>> VerifyHold::Begin(const Config& config) {
  std::unique_ptr<VerifyHold> hold(new VerifyHold());
  SC_ASSIGN_OR_RETURN(AdminClient client, AdminClient::FromConfig(config));
  auto response = client.Post("/hold", "{}");
  if (!response.ok()) {
    if (response.status().code() == Code::kUnavailable) return hold;  // no daemon: nothing to hold
    return response.status().Prefixed("holding the daemon");
  }
  if (!Success(*response)) return Refused(client, "the hold (POST /hold)", *response);
  hold->client_ = std::move(client);
  return hold;
}

VerifyHold::~VerifyHold() {
  (void)Release();
}

Status VerifyHold::HoldAt(Lsn lsn, std::chrono::milliseconds timeout) {
  if (!client_) return Status::Ok();
  const std::string at = FormatLsn(lsn);
  nlohmann::json body = {{"lsn", at}, {"ttl_s", 600}};
  SC_ASSIGN_OR_RETURN(AdminResponse posted, client_->Post("/hold", body.dump()));
  if (!Success(posted)) return Refused(*client_, "the hold at " + at + " (POST /hold)", posted);

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    SC_ASSIGN_OR_RETURN(AdminResponse got, client_->Get("/hold"));
    if (!Success(got)) return Refused(*client_, "GET /hold", got);
    // No exceptions from the parser: a malformed answer is a Status.
    auto state = nlohmann::json::parse(got.body, nullptr, /*allow_exceptions=*/false);
    if (state.is_discarded() || !state.is_object())
      return Unavailable("the daemon at " + client_->listen() +
                         " answered GET /hold with malformed JSON: " + got.body);
    auto ready = state.find("ready");
    if (ready != state.end() && ready->is_boolean() && ready->get<bool>()) return Status::Ok();
    if (std::chrono::steady_clock::now() >= deadline)
      return Unavailable("the daemon at " + client_->listen() + " did not reach the verify hold at " + at +
                         " within " + std::to_string(timeout.count() / 1000) +
                         " s (GET /hold still not ready): are its shards reachable?");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

Status VerifyHold::Release() {
  if (!client_) return Status::Ok();
  auto response = client_->Delete("/hold");
  const std::string listen = client_->listen();
  client_.reset();
  if (!response.ok()) return response.status().Prefixed("releasing the verify hold");
  if (!Success(*response))
    return Unavailable("the daemon at " + listen +
                       " refused to release the verify hold (DELETE /hold): HTTP " +
                       std::to_string(response->status));
  return Status::Ok();
}

}  // namespace shardcast
