import Foundation
import VidLM
import VidLMMedia

/// POST /v1/frames: the frames a completion request with the same media and `frame_sampling`
/// would use, chosen by the model's own sampling rule, as small PNG data URLs with their indices
/// and times (the web page shows them before asking).
enum FramePreview {
    struct Request: Sendable {
        var reference: MediaReference
        var sampling: FrameOptions
        var maxSide: Int
    }

    /// Body: `{"url": "data:…" | PATH, "frame_sampling": {…}, "max_side": 160}`.
    static func parse(_ body: JSONValue, maxFrames: Int) throws(APIError) -> Request {
        let f = try JSONFields(body, path: "")
        guard let url = try f.string("url") else { throw APIError.badRequest("'url' is missing.", param: "url") }
        let maxSide = try f.int("max_side") ?? 160
        guard maxSide >= 16, maxSide <= 512 else {
            throw APIError.badRequest("'max_side' must be between 16 and 512.", param: "max_side")
        }
        return Request(reference: try CompletionRequest.reference(url, param: "url"),
                       sampling: try CompletionRequest.parseSampling(f.object("frame_sampling"), maxFrames: maxFrames),
                       maxSide: Int(maxSide))
    }

    static func run(_ request: Request, path: String, model: any VisionLanguageModel) async throws -> Data {
        let decoder = try await MediaDecoder.open(path)
        let timeline = try await decoder.timeline()
        let info = try await decoder.probe()
        let kind: MediaKind = info.isStillImage || timeline.count == 1 ? .image : .video
        let clip = ClipInfo(kind: kind, frameCount: timeline.count, durationSeconds: timeline.sampledDurationSeconds)
        // The same choice the engine makes for a completion with these options.
        let selection = try model.frameSelection(for: clip, options: request.sampling)
        var size: PixelSize?
        if let video = info.video {
            let w = max(1, video.displayWidth), h = max(1, video.displayHeight)
            let scale = min(1, Double(request.maxSide) / Double(max(w, h)))
            size = PixelSize(width: max(2, Int((Double(w) * scale).rounded())), height: max(2, Int((Double(h) * scale).rounded())))
        }
        let frameRequest = FrameRequest(selection, start: request.sampling.start, end: request.sampling.end, mode: .exact, size: size)
        var frames: [[String: Any]] = []
        for try await frame in decoder.frames(frameRequest) {
            try Task.checkCancellation()
            let png = try PNGEncoder.encode(frame.image)
            frames.append(["index": frame.index, "seconds": frame.seconds,
                           "image": "data:image/png;base64," + png.base64EncodedString()])
        }
        return OpenAIResponses.json([
            "kind": kind.rawValue, "duration_seconds": kind == .image ? 0 : timeline.durationSeconds,
            "frame_count": timeline.count, "frames": frames,
        ] as [String: Any])
    }
}
