import Foundation
import HTTPTypes

/// An error answered in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}` with
/// the matching HTTP status. Messages are about the request at hand only; they never carry
/// server paths or another request's data.
struct APIError: Error, Sendable, Equatable {
    let status: HTTPResponse.Status
    let message: String
    let type: String
    let param: String?
    let code: String?

    static func badRequest(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: .badRequest, message: message, type: "invalid_request_error", param: param, code: code)
    }
    static func unauthorized() -> APIError {
        APIError(status: .unauthorized, message: "Missing or wrong API key: send 'Authorization: Bearer KEY'.",
                 type: "invalid_request_error", param: nil, code: "invalid_api_key")
    }
    static func forbidden(_ message: String, param: String? = nil) -> APIError {
        APIError(status: .forbidden, message: message, type: "permission_error", param: param, code: "media_path_refused")
    }
    static func notFound(_ message: String) -> APIError {
        APIError(status: .notFound, message: message, type: "invalid_request_error", param: nil, code: "not_found")
    }
    static func methodNotAllowed(_ message: String) -> APIError {
        APIError(status: .methodNotAllowed, message: message, type: "invalid_request_error", param: nil, code: nil)
    }
    static func tooLarge(_ message: String) -> APIError {
        APIError(status: .contentTooLarge, message: message, type: "invalid_request_error", param: nil, code: "request_too_large")
    }
    static func busy() -> APIError {
        APIError(status: .tooManyRequests, message: "The server is busy: every slot and the whole queue are taken; retry after the Retry-After seconds.",
                 type: "server_busy", param: nil, code: "queue_full")
    }
    static func timeout(_ seconds: Double) -> APIError {
        APIError(status: .gatewayTimeout, message: "The request ran past the server's deadline of \(Int(seconds)) s and was stopped.",
                 type: "timeout_error", param: nil, code: "deadline_exceeded")
    }
    static func internalError(_ message: String) -> APIError {
        APIError(status: .internalServerError, message: message, type: "server_error", param: nil, code: nil)
    }

    /// The `error` object.
    var object: [String: Any] {
        ["message": message, "type": type, "param": param ?? NSNull(), "code": code ?? NSNull()]
    }

    /// The error body.
    var json: Data {
        (try? JSONSerialization.data(withJSONObject: ["error": object], options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
    }
}
