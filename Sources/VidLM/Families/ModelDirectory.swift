import Foundation
import VidLMMedia
import VidLMModels
import VidLMTensor

/// A Hugging Face-style model directory opened for a family loader: config.json parsed once,
/// nested config objects handed out as JSON for the Codable configs, files found by name.
public struct ModelDirectory: Sendable {
    public let url: URL
    public let configPath: String
    /// config.json as bytes (the Codable configs decode from it).
    public let configData: Data
    /// `model_type` of config.json.
    public let modelType: String

    public init(_ url: URL) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ConfigError(file: url.path, "is not a model directory (it does not exist or is not a folder).")
        }
        self.url = url
        configPath = url.appendingPathComponent("config.json").path
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw ConfigError(file: configPath, "not found; a model directory needs config.json.")
        }
        configData = data
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            struct AnyObject_: Decodable {}
            _ = try ConfigError.decode(AnyObject_.self, from: data, file: configPath)
            throw ConfigError(file: configPath, "is not a JSON object.")
        }
        guard let type = object["model_type"] as? String else {
            throw ConfigError(file: configPath, object["model_type"] == nil
                              ? "the required field 'model_type' is missing."
                              : "'model_type' must be a string.")
        }
        modelType = type
    }

    private var object: [String: Any] {
        (try? JSONSerialization.jsonObject(with: configData) as? [String: Any]) ?? [:]
    }

    /// A top-level value of config.json.
    public func value(_ key: String) -> Any? {
        let v = object[key]
        return v is NSNull ? nil : v
    }

    public func int(_ key: String, default fallback: Int? = nil) throws(ConfigError) -> Int {
        switch value(key) {
        case nil:
            if let fallback { return fallback }
            throw ConfigError(file: configPath, "the required field '\(key)' is missing.")
        case let n as Int:
            return n
        default:
            throw ConfigError(file: configPath, "'\(key)' must be an integer.")
        }
    }

    public func string(_ key: String, default fallback: String) throws(ConfigError) -> String {
        guard let v = value(key) else { return fallback }
        guard let s = v as? String else { throw ConfigError(file: configPath, "'\(key)' must be a string.") }
        return s
    }

    /// A nested config object decoded as `T` (snake_case keys); errors name `key.field`.
    public func nested<T: Decodable>(_ type: T.Type, _ key: String, required: Bool = true) throws(ConfigError) -> T? {
        guard let v = value(key) else {
            if required { throw ConfigError(file: configPath, "the required field '\(key)' is missing.") }
            return nil
        }
        guard let dict = v as? [String: Any], let data = try? JSONSerialization.data(withJSONObject: dict) else {
            throw ConfigError(file: configPath, "'\(key)' must be an object.")
        }
        do {
            return try ConfigError.decode(T.self, from: data, file: configPath)
        } catch {
            var message = error.message
            if let r = message.range(of: "'") { message.replaceSubrange(r, with: "'\(key).") }
            throw ConfigError(file: configPath, message)
        }
    }

    /// The image processor's settings (`processor_config.json`'s `image_processor` section or
    /// `preprocessor_config.json`), or a BLIP-style squash to `imageSize` when the directory has
    /// neither.
    public func preprocessConfig(imageSize: Int) throws -> PreprocessConfig {
        if let (data, file) = try processorSettings(.image) {
            do {
                return try PreprocessConfig.decode(json: data)
            } catch let e as DecodingError {
                throw ConfigError(file: file, ConfigError.describe(e))
            }
        }
        var config = PreprocessConfig.blip
        config.size = .heightWidth(height: imageSize, width: imageSize)
        return config
    }

    /// How a single-tower family makes pixel values: the processor's settings, resampled with
    /// torchvision as the processor transformers 5 builds for them does (`FramePixels`). `.video`
    /// reads the video processor's settings when the checkpoint has them (fields they leave out
    /// from `videoDefaults`), else the image processor's. Without either, a Pillow BLIP-style
    /// squash to `imageSize` (vidlm's own default).
    public func framePixels(imageSize: Int, part: ProcessorPart = .image,
                            videoDefaults: PreprocessConfig.Family = .blip) throws -> FramePixels {
        let video = part == .video ? try processorSettings(.video) : nil
        guard let (data, file) = try video ?? processorSettings(.image) else {
            return .pillow(try preprocessConfig(imageSize: imageSize))
        }
        do {
            let config = try video != nil ? PreprocessConfig.decode(json: data, family: videoDefaults) : PreprocessConfig.decode(json: data)
            return .torchvision(try TorchvisionImageProcessor(config))
        } catch let e as DecodingError {
            throw ConfigError(file: file, ConfigError.describe(e))
        } catch let e as PreprocessError {
            throw ConfigError(file: file, "\(e)")
        }
    }

    /// Which processor's settings to read.
    public enum ProcessorPart: String, Sendable {
        case image = "image_processor"
        case video = "video_processor"

        /// The file published checkpoints carry for this part (transformers < 5 layout).
        var separateFile: String { self == .image ? "preprocessor_config.json" : "video_preprocessor_config.json" }
    }

    /// A processor's settings as JSON, from either layout transformers reads: transformers 5's
    /// `processor_config.json` with nested `image_processor` / `video_processor` sections, or the
    /// separate `preprocessor_config.json` / `video_preprocessor_config.json` most published
    /// checkpoints carry. Nil when the directory has neither. (Returned with its file's path.)
    public func processorSettings(_ part: ProcessorPart) throws(ConfigError) -> (json: Data, file: String)? {
        let combined = url.appendingPathComponent("processor_config.json")
        if let data = FileManager.default.contents(atPath: combined.path) {
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ConfigError(file: combined.path, "is not a JSON object.")
            }
            if let section = object[part.rawValue] {
                guard let dict = section as? [String: Any], let json = try? JSONSerialization.data(withJSONObject: dict) else {
                    throw ConfigError(file: combined.path, "'\(part.rawValue)' must be an object.")
                }
                return (json, combined.path)
            }
        }
        let separate = url.appendingPathComponent(part.separateFile)
        if let data = FileManager.default.contents(atPath: separate.path) { return (data, separate.path) }
        return nil
    }

    /// The directory's tokenizer (or the one in `subfolder`).
    public func tokenizer(subfolder: String? = nil) throws -> Tokenizer {
        try Tokenizer.load(directory: subfolder.map { url.appendingPathComponent($0) } ?? url)
    }
}
