import Foundation
import VidLM

/// OpenAI's response bodies, built as JSON objects (explicit nulls where OpenAI sends them).
enum OpenAIResponses {
    static func json(_ object: Any) -> Data {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    }

    static func usage(_ outcome: CompletionOutcome) -> [String: Any] {
        ["prompt_tokens": outcome.promptTokens, "completion_tokens": outcome.completionTokens,
         "total_tokens": outcome.promptTokens + outcome.completionTokens]
    }

    static func frames(_ frames: [FrameInfo]) -> [[String: Any]] {
        frames.map { ["index": $0.index, "seconds": $0.seconds] }
    }

    static func completion(id: String, created: Int, model: String, outcome: CompletionOutcome) -> Data {
        json([
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [[
                "index": 0,
                "message": ["role": "assistant", "content": outcome.text] as [String: Any],
                "finish_reason": outcome.finishReason,
                "logprobs": NSNull(),
            ] as [String: Any]],
            "usage": usage(outcome),
            "vidlm": ["frames": frames(outcome.frames), "token_ids": outcome.tokenIds] as [String: Any],
        ] as [String: Any])
    }

    /// One server-sent event carrying a `chat.completion.chunk`.
    static func chunk(id: String, created: Int, model: String, delta: [String: Any], finishReason: String?,
                      extra: [String: Any] = [:]) -> String {
        var object: [String: Any] = [
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [["index": 0, "delta": delta, "finish_reason": finishReason ?? NSNull(), "logprobs": NSNull()] as [String: Any]],
        ]
        for (k, v) in extra { object[k] = v }
        return event(object)
    }

    static func usageChunk(id: String, created: Int, model: String, outcome: CompletionOutcome) -> String {
        event(["id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [] as [Any],
               "usage": usage(outcome)] as [String: Any])
    }

    static func event(_ object: Any) -> String {
        "data: " + String(decoding: json(object), as: UTF8.self) + "\n\n"
    }

    static let done = "data: [DONE]\n\n"

    static func models(_ name: String, created: Int) -> Data {
        json(["object": "list", "data": [["id": name, "object": "model", "created": created, "owned_by": "vidlm"] as [String: Any]]] as [String: Any])
    }
}
