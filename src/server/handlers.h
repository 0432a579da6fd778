// The endpoints. Each reads its request on the connection's strand and answers through the
// Responder; they throw ApiError for a client's mistake (the router sends it).
#pragma once
#include <memory>

#include "server/context.h"
#include "server/http.h"

namespace tritium::server {

void handle_chat_completions(Context& ctx, HttpRequest& req, std::shared_ptr<Responder> out);
void handle_completions(Context& ctx, HttpRequest& req, std::shared_ptr<Responder> out);
void handle_responses(Context& ctx, HttpRequest& req, std::shared_ptr<Responder> out);
void handle_get_response(Context& ctx, HttpRequest& req, std::shared_ptr<Responder> out);
void handle_models(Context& ctx, HttpRequest& req, std::shared_ptr<Responder> out);
void handle_tokenize(Context& ctx, HttpRequest& req, std::shared_ptr<Responder> out);
void handle_detokenize(Context& ctx, HttpRequest& req, std::shared_ptr<Responder> out);
void handle_health(Context& ctx, HttpRequest& req, std::shared_ptr<Responder> out);
void handle_metrics(Context& ctx, HttpRequest& req, std::shared_ptr<Responder> out);
void handle_web_page(Context& ctx, HttpRequest& req, std::shared_ptr<Responder> out);

// The embedded chat page (web_page.html, generated into the binary).
extern const char* const kWebPage;

}  // namespace tritium::server
