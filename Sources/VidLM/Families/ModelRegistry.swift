import Foundation
import VidLMModels

/// model_type → family loader. One entry per family file; `load` fails with the list of known
/// types for anything else.
public enum ModelRegistry {
    public typealias Loader = @Sendable (ModelDirectory) throws -> any VisionLanguageModel

    public static let families: [String: Loader] = {
        var table: [String: Loader] = [:]
        for type in Blip2Family.modelTypes { table[type] = { try Blip2Family(directory: $0) } }
        for type in InstructBlipVideoFamily.modelTypes { table[type] = { try InstructBlipVideoFamily(directory: $0) } }
        for type in VidLMFamily.modelTypes { table[type] = { try VidLMFamily(directory: $0) } }
        for type in SmolVLMFamily.modelTypes { table[type] = { try SmolVLMFamily(directory: $0) } }
        for type in LlavaFamily.modelTypes { table[type] = { try LlavaFamily(directory: $0) } }
        for type in LlavaNextFamily.modelTypes { table[type] = { try LlavaNextFamily(directory: $0) } }
        for type in LlavaOneVisionFamily.modelTypes { table[type] = { try LlavaOneVisionFamily(directory: $0) } }
        for type in QwenVLFamily.modelTypes { table[type] = { try QwenVLFamily(directory: $0) } }
        for type in Qwen3VLFamily.modelTypes { table[type] = { try Qwen3VLFamily(directory: $0) } }
        for type in VideoLlavaFamily.modelTypes { table[type] = { try VideoLlavaFamily(directory: $0) } }
        return table
    }()

    public static var knownModelTypes: [String] { families.keys.sorted() }

    /// Loads the model in `url` with the family its config.json names.
    public static func load(_ url: URL) throws -> any VisionLanguageModel {
        let dir = try ModelDirectory(url)
        guard let loader = families[dir.modelType] else {
            throw EngineError.unknownModelType(dir.modelType, known: knownModelTypes)
        }
        return try loader(dir)
    }
}
