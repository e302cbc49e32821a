import Foundation
import VidLM
import VidLMModels

/// Where a media content part's bytes are: inline (a `data:` URL or llama-server's base64
/// `input_video`), or a path the server opens only under `--media-root`.
enum MediaReference: Sendable, Equatable {
    case inline(mime: String?, base64: Substring, param: String)
    case path(String, param: String)
}

/// A chat completion request, checked: the conversation with media parts still unresolved,
/// the generation settings, the frame sampling, and how to answer.
struct CompletionRequest: Sendable {
    var messages: [ChatMessage]
    var media: [(kind: MediaKind, reference: MediaReference)]
    var maxTokens: Int?
    var temperature: Float
    var topP: Float
    var topK: Int
    var seed: UInt64
    var repetitionPenalty: Float?
    var stops: [String]
    var stream: Bool
    var includeUsage: Bool
    var sampling: FrameOptions

    /// Reads OpenAI's request shape; unknown fields are ignored (clients send many), known ones
    /// of the wrong type or out of range are a 400 naming the field.
    static func parse(_ body: JSONValue, maxFrames: Int) throws(APIError) -> CompletionRequest {
        let f = try JSONFields(body, path: "")
        guard let rawMessages = try f.array("messages"), !rawMessages.isEmpty else {
            throw APIError.badRequest("'messages' must be a non-empty array of messages.", param: "messages")
        }
        if let n = try f.int("n"), n != 1 {
            throw APIError.badRequest("'n' must be 1: this server returns one choice per request.", param: "n")
        }
        var messages: [ChatMessage] = []
        var media: [(MediaKind, MediaReference)] = []
        for (i, raw) in rawMessages.enumerated() {
            messages.append(try parseMessage(raw, path: "messages[\(i)]", media: &media))
        }
        guard messages.contains(where: { $0.role == "user" }) else {
            throw APIError.badRequest("'messages' holds no user message.", param: "messages")
        }
        let maxCompletionTokens = try f.int("max_completion_tokens")
        let maxTokens: Int64?
        if let maxCompletionTokens { maxTokens = maxCompletionTokens } else { maxTokens = try f.int("max_tokens") }
        if let maxTokens, maxTokens < 1 {
            throw APIError.badRequest("'max_tokens' must be at least 1.", param: "max_tokens")
        }
        let temperature = try f.double("temperature") ?? 0
        guard temperature >= 0, temperature <= 2 else {
            throw APIError.badRequest("'temperature' must be between 0 and 2.", param: "temperature")
        }
        let topP = try f.double("top_p") ?? 1
        guard topP > 0, topP <= 1 else { throw APIError.badRequest("'top_p' must be in (0, 1].", param: "top_p") }
        let topK = try f.int("top_k") ?? 0
        guard topK >= 0, topK < 1 << 30 else { throw APIError.badRequest("'top_k' must be 0 (off) or positive.", param: "top_k") }
        let repetitionPenalty = try f.double("repetition_penalty")
        if let p = repetitionPenalty, !(p > 0 && p.isFinite && p < 100) {
            throw APIError.badRequest("'repetition_penalty' must be positive.", param: "repetition_penalty")
        }
        let seed = try f.int("seed").map { UInt64(bitPattern: $0) } ?? 0
        var stops: [String] = []
        switch f.value("stop") {
        case nil: break
        case .string(let s)?: stops = [s]
        case .array(let a)?:
            for (i, v) in a.enumerated() {
                guard case .string(let s) = v else { throw APIError.badRequest("'stop[\(i)]' must be a string.", param: "stop") }
                stops.append(s)
            }
        default: throw f.wrong("stop", "a string or an array of strings")
        }
        stops = stops.filter { !$0.isEmpty }
        guard stops.count <= 4 else { throw APIError.badRequest("'stop' holds at most 4 sequences.", param: "stop") }
        let includeUsage = try f.object("stream_options")?.bool("include_usage") ?? false
        return CompletionRequest(
            messages: messages, media: media.map { (kind: $0.0, reference: $0.1) }, maxTokens: maxTokens.map { Int(clamping: $0) },
            temperature: Float(temperature), topP: Float(topP), topK: Int(topK), seed: seed,
            repetitionPenalty: repetitionPenalty.map(Float.init), stops: stops, stream: try f.bool("stream") ?? false,
            includeUsage: includeUsage, sampling: try parseSampling(f.object("frame_sampling"), maxFrames: maxFrames))
    }

    /// The extension field `frame_sampling`: `{"frames": N, "fps": F, "start": S, "end": E}`.
    static func parseSampling(_ f: JSONFields?, maxFrames: Int) throws(APIError) -> FrameOptions {
        guard let f else { return FrameOptions() }
        let frames = try f.int("frames")
        if let frames, frames < 1 || frames > maxFrames {
            throw APIError.badRequest("'frame_sampling.frames' must be between 1 and \(maxFrames).", param: "frame_sampling.frames")
        }
        let fps = try f.double("fps")
        if let fps, !(fps > 0 && fps <= 120) {
            throw APIError.badRequest("'frame_sampling.fps' must be in (0, 120].", param: "frame_sampling.fps")
        }
        let start = try f.double("start"), end = try f.double("end")
        if let start, !(start >= 0 && start.isFinite) {
            throw APIError.badRequest("'frame_sampling.start' must be a time in seconds ≥ 0.", param: "frame_sampling.start")
        }
        if let end, !(end > 0 && end.isFinite) {
            throw APIError.badRequest("'frame_sampling.end' must be a time in seconds > 0.", param: "frame_sampling.end")
        }
        if let start, let end, end <= start {
            throw APIError.badRequest("'frame_sampling.end' must come after 'frame_sampling.start'.", param: "frame_sampling.end")
        }
        // With fps and no frame cap, a long clip could ask for thousands of frames: cap it.
        let count = frames.map { Int($0) } ?? (fps != nil ? maxFrames : nil)
        return FrameOptions(count: count, fps: fps, start: start, end: end)
    }

    static func parseMessage(_ raw: JSONValue, path: String, media: inout [(MediaKind, MediaReference)]) throws(APIError) -> ChatMessage {
        let f = try JSONFields(raw, path: path)
        guard let role = try f.string("role") else {
            throw APIError.badRequest("'\(path).role' is missing.", param: "\(path).role")
        }
        guard ["system", "developer", "user", "assistant"].contains(role) else {
            throw APIError.badRequest("'\(path).role' must be system, developer, user or assistant, not '\(role)'.", param: "\(path).role")
        }
        let templateRole = role == "developer" ? "system" : role
        switch f.value("content") {
        case nil:
            return ChatMessage(role: templateRole, content: .text(""))
        case .string(let s)?:
            return ChatMessage(role: templateRole, content: .text(s))
        case .array(let rawParts)?:
            var parts: [ChatMessage.Part] = []
            for (i, rawPart) in rawParts.enumerated() {
                let partPath = "\(path).content[\(i)]"
                let p = try JSONFields(rawPart, path: partPath)
                let type = try p.string("type")
                switch type {
                case "text":
                    guard let text = try p.string("text") else { throw p.wrong("text", "a string") }
                    parts.append(.text(text))
                case "image_url", "video_url":
                    guard role == "user" else {
                        throw APIError.badRequest("'\(partPath)': only user messages may carry media.", param: partPath)
                    }
                    let kind: MediaKind = type == "image_url" ? .image : .video
                    let url: String
                    switch p.value(type!) {
                    case .string(let s)?: url = s
                    case .object?:
                        guard let s = try p.object(type!)?.string("url") else {
                            throw APIError.badRequest("'\(partPath).\(type!).url' is missing.", param: "\(partPath).\(type!).url")
                        }
                        url = s
                    default: throw p.wrong(type!, "an object with 'url'")
                    }
                    media.append((kind, try reference(url, param: "\(partPath).\(type!).url")))
                    parts.append(kind == .image ? .image(source: nil) : .video(source: nil))
                case "input_video":
                    // llama-server's shape: {"input_video": {"data": BASE64, "format": "mp4"}} (or a url).
                    guard role == "user" else {
                        throw APIError.badRequest("'\(partPath)': only user messages may carry media.", param: partPath)
                    }
                    guard let v = try p.object("input_video") else { throw p.wrong("input_video", "an object") }
                    if let data = try v.string("data") {
                        let format = try v.string("format") ?? "mp4"
                        media.append((.video, .inline(mime: "video/\(format)", base64: Substring(data), param: "\(partPath).input_video.data")))
                    } else if let url = try v.string("url") {
                        media.append((.video, try reference(url, param: "\(partPath).input_video.url")))
                    } else {
                        throw APIError.badRequest("'\(partPath).input_video' needs 'data' (base64) or 'url'.", param: partPath)
                    }
                    parts.append(.video(source: nil))
                case nil:
                    throw APIError.badRequest("'\(partPath).type' is missing.", param: "\(partPath).type")
                default:
                    throw APIError.badRequest("'\(partPath).type' must be text, image_url, video_url or input_video, not '\(type!)'.",
                                              param: "\(partPath).type")
                }
            }
            return ChatMessage(role: templateRole, content: .parts(parts))
        default:
            throw f.wrong("content", "a string or an array of content parts")
        }
    }

    /// A media URL: `data:MIME;base64,…`, or `file://PATH` / a plain path (opened only under
    /// `--media-root`); other schemes are refused (the server fetches nothing from the network).
    static func reference(_ url: String, param: String) throws(APIError) -> MediaReference {
        if url.hasPrefix("data:") {
            guard let comma = url.firstIndex(of: ",") else {
                throw APIError.badRequest("'\(param)': a data: URL needs ',' before its payload.", param: param)
            }
            let header = url[url.index(url.startIndex, offsetBy: 5)..<comma]
            let fields = header.split(separator: ";")
            guard fields.last == "base64" else {
                throw APIError.badRequest("'\(param)': only base64 data: URLs are accepted (data:MIME;base64,…).", param: param)
            }
            let mime = fields.count > 1 ? String(fields[0]).lowercased() : nil
            return .inline(mime: mime, base64: url[url.index(after: comma)...], param: param)
        }
        if url.hasPrefix("file://") { return .path(String(url.dropFirst(7)), param: param) }
        if let colon = url.firstIndex(of: ":"), url[..<colon].allSatisfy({ $0.isLetter }), url[..<colon].count > 1 {
            throw APIError.badRequest("'\(param)': \(url[..<colon]): URLs are not fetched; send a data: URL or a path under the server's --media-root.",
                                      param: param)
        }
        return .path(url, param: param)
    }
}
