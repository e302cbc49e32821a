import Foundation
import VidLMMedia
import VidLMModels

/// SmolVLM's image and video processor settings (transformers' `SmolVLMImageProcessor` /
/// `SmolVLMVideoProcessor`), with their defaults, read from either processor-config layout.
public struct SmolVLMProcessorConfig: Sendable, Equatable {
    public struct Pixels: Sendable, Equatable {
        /// The longest edge images are first resized to (`size.longest_edge`).
        public var longestEdge: Int
        /// The side of the square tiles the vision tower takes (`max_image_size.longest_edge`).
        public var tileSize: Int
        public var resample: ResampleFilter
        public var doResize: Bool
        public var rescaleFactor: Double?
        public var mean: [Double]?
        public var std: [Double]?
    }

    public var image: Pixels
    public var video: Pixels
    /// `do_image_splitting`: tiles plus a global image (else the image squashed to one tile).
    public var splitImages: Bool
    /// `video_sampling.fps` and `.max_frames` (nil where the checkpoint gives none).
    public var videoFPS: Double?
    public var videoMaxFrames: Int?

    /// Reads the directory's processor settings (`processor_config.json` sections, or
    /// `preprocessor_config.json` + `video_preprocessor_config.json`; older SmolVLM2 checkpoints
    /// keep `video_sampling` in the image processor's file).
    public init(directory: ModelDirectory) throws {
        let imageSource = try directory.processorSettings(.image)
        let videoSource = try directory.processorSettings(.video) ?? imageSource
        let imageObject = try Self.object(imageSource)
        let videoObject = try Self.object(videoSource)
        image = try Self.pixels(imageObject, file: imageSource?.file)
        var video = try Self.pixels(videoObject, file: videoSource?.file)
        splitImages = try Self.bool(imageObject, "do_image_splitting", file: imageSource?.file) ?? true
        videoFPS = nil
        videoMaxFrames = nil
        if let sampling = videoObject["video_sampling"] {
            guard let s = sampling as? [String: Any] else {
                throw ConfigError(file: videoSource?.file ?? "processor config", "'video_sampling' must be an object.")
            }
            videoFPS = (s["fps"] as? NSNumber)?.doubleValue
            videoMaxFrames = (s["max_frames"] as? NSNumber)?.intValue
            if let size = s["video_size"] as? [String: Any], let edge = (size["longest_edge"] as? NSNumber)?.intValue {
                video.longestEdge = edge
            }
        }
        // transformers 5 also writes them as the video processor's own fields.
        if videoFPS == nil, let fps = (videoObject["fps"] as? NSNumber)?.doubleValue { videoFPS = fps }
        if videoMaxFrames == nil, let n = (videoObject["num_frames"] as? NSNumber)?.intValue { videoMaxFrames = n }
        self.video = video
        for (name, p) in [("image", image), ("video", video)] where p.longestEdge < 1 || p.tileSize < 1 {
            throw ConfigError(file: imageSource?.file ?? "processor config", "the \(name) processor's sizes must be positive.")
        }
    }

    private static func object(_ source: (json: Data, file: String)?) throws -> [String: Any] {
        guard let source else { return [:] }
        guard let object = try? JSONSerialization.jsonObject(with: source.json) as? [String: Any] else {
            throw ConfigError(file: source.file, "is not a JSON object.")
        }
        return object
    }

    private static func bool(_ o: [String: Any], _ key: String, file: String?) throws -> Bool? {
        guard let v = o[key], !(v is NSNull) else { return nil }
        guard let b = v as? Bool else { throw ConfigError(file: file ?? "processor config", "'\(key)' must be true or false.") }
        return b
    }

    private static func edge(_ o: [String: Any], _ key: String, default value: Int, file: String?) throws -> Int {
        guard let v = o[key], !(v is NSNull) else { return value }
        if let d = v as? [String: Any], let n = (d["longest_edge"] as? NSNumber)?.intValue { return n }
        if let n = (v as? NSNumber)?.intValue { return n }
        throw ConfigError(file: file ?? "processor config", "'\(key)' must be {\"longest_edge\": N}.")
    }

    private static func pixels(_ o: [String: Any], file: String?) throws -> Pixels {
        let resampleCode = (o["resample"] as? NSNumber)?.intValue ?? ResampleFilter.lanczos.rawValue
        guard let resample = ResampleFilter(rawValue: resampleCode) else {
            throw ConfigError(file: file ?? "processor config", "'resample' \(resampleCode) is not a PIL filter code.")
        }
        func triple(_ key: String) throws -> [Double]? {
            guard let v = o[key], !(v is NSNull) else { return nil }
            if let n = (v as? NSNumber)?.doubleValue { return [n, n, n] }
            guard let a = v as? [NSNumber], a.count == 3 else {
                throw ConfigError(file: file ?? "processor config", "'\(key)' must be a number or three numbers.")
            }
            return a.map(\.doubleValue)
        }
        let rescale = try bool(o, "do_rescale", file: file) ?? true
        let normalize = try bool(o, "do_normalize", file: file) ?? true
        return Pixels(longestEdge: try edge(o, "size", default: 4 * 364, file: file),
                      tileSize: try edge(o, "max_image_size", default: 364, file: file),
                      resample: resample, doResize: try bool(o, "do_resize", file: file) ?? true,
                      rescaleFactor: rescale ? ((o["rescale_factor"] as? NSNumber)?.doubleValue ?? 1.0 / 255) : nil,
                      mean: normalize ? (try triple("image_mean") ?? [0.5, 0.5, 0.5]) : nil,
                      std: normalize ? (try triple("image_std") ?? [0.5, 0.5, 0.5]) : nil)
    }
}
