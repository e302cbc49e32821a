import Foundation
import FuzzSupport
import VidLM
import VidLMMedia
import VidLMModels

// The input is a model directory's config.json. It goes through the path `vidlm` takes
// (ModelRegistry.load: ModelDirectory, then the family's typed configs; the directory holds no
// tokenizer or weights, so loading always ends in an error after the configs are read), and
// through each typed config decoder directly (vision, Q-Former, token merger, text decoders,
// and the preprocessor config, whose JSON the same bytes stand in for). Every failure must be
// a thrown error, never a trap.

private let directory = FuzzSupport.folder("model")
private let config = directory.appendingPathComponent("config.json")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = Data(bytes: bytes, count: size)
    FuzzSupport.write(data, to: config)
    let file = config.path

    // The CLI's path: config.json → family → typed configs → (missing tokenizer) error.
    do {
        _ = try ModelRegistry.load(directory)
        fatalError("fuzz: a directory with only config.json loaded a model")
    } catch {
        FuzzSupport.note(String(describing: error))
    }
    if let dir = try? ModelDirectory(directory) {
        _ = try? dir.int("num_query_tokens", default: 32)
        _ = try? dir.string("prompt_template", default: "")
        _ = try? dir.nested(QFormerConfig.self, "qformer_config", required: false)
        _ = try? dir.nested(QFormerConfig.self, "video_qformer_config", required: false)
        _ = try? dir.nested(VisionConfig.self, "vision_config", required: false)
        _ = try? dir.preprocessConfig(imageSize: 224)
    }

    // Each typed decoder on the whole file.
    _ = try? VisionLoader.visionConfig(from: data, file: file)
    _ = try? LanguageModelLoader.textConfig(from: data, file: file)
    _ = try? MergerConfig.fromModelConfig(data, file: file)
    _ = try? ConfigError.decode(VisionConfig.self, from: data, file: file)
    _ = try? ConfigError.decode(QFormerConfig.self, from: data, file: file)
    _ = try? ConfigError.decode(LlamaConfig.self, from: data, file: file)
    _ = try? ConfigError.decode(OPTConfig.self, from: data, file: file)
    _ = try? ConfigError.decode(MergerConfig.self, from: data, file: file)
    if let pre = try? PreprocessConfig.decode(json: data) {
        // A decoded config must encode and decode to itself.
        if let encoded = try? JSONEncoder().encode(pre) {
            _ = try? PreprocessConfig.decode(json: encoded)
        }
    }
    for family in PreprocessConfig.Family.allCases {
        _ = try? PreprocessConfig.decode(json: data, family: family)
    }
    return 0
}
