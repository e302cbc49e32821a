import Foundation
import VidLMMedia
import VidLMModels
import VidLMTensor

/// Zero-shot classification and embeddings with a CLIP or SigLIP model: pictures through the checkpoint's
/// image processor and image tower, labels through its tokenizer (with an optional prompt
/// template) and text tower, compared in the shared embedding space. A clip is scored frame by
/// frame and the frames' probabilities averaged.
public struct ZeroShot: Sendable {
    public let model: ContrastiveModel
    /// The checkpoint's tokenizer: tokenizer.json (siglip2: rebuilt as transformers'
    /// `Siglip2Tokenizer`) or a SentencePiece `spiece.model`.
    public let tokenizer: any TextIdEncoder
    /// The fixed-size image processor (CLIP, SigLIP); nil for NaFlex.
    public let images: TorchvisionImageProcessor?
    /// SigLIP-2 NaFlex's image processor (patch sequences at each picture's aspect ratio).
    public let naflexImages: NaFlexImageProcessor?
    /// Whether the text tower gets the padding mask: transformers passes the tokenizer's
    /// `attention_mask` when the tokenizer returns one (`ContrastiveModel.masksTextPadding`,
    /// `tokenizerReturnsAttentionMask`).
    public let masksTextPadding: Bool
    /// Frames scored from a clip when the request gives no count.
    public static let defaultFrameCount = 8

    public init(model: ContrastiveModel, tokenizer: any TextIdEncoder, images: TorchvisionImageProcessor?,
                naflexImages: NaFlexImageProcessor? = nil, masksTextPadding: Bool? = nil) {
        self.model = model
        self.tokenizer = tokenizer
        self.images = images
        self.naflexImages = naflexImages
        self.masksTextPadding = masksTextPadding ?? model.masksTextPadding
    }

    /// Loads the model, tokenizer and image processor of `directory`.
    public static func load(directory: URL) throws -> ZeroShot {
        let model = try ContrastiveModel.load(directory: directory)
        let dir = try ModelDirectory(directory)
        let tokenizer = try loadTokenizer(dir, model: model)
        let masks = try model.isNaFlex || (model.isSigmoid && tokenizerReturnsAttentionMask(dir))
        if let tower = model.naflex {
            let naflex: NaFlexImageProcessor
            if let (data, file) = try dir.processorSettings(.image) {
                naflex = try NaFlexImageProcessor(json: data, file: file)
            } else {
                naflex = try NaFlexImageProcessor(patchSize: tower.config.patchSize, normalize: .siglip)
            }
            guard naflex.patchSize == tower.config.patchSize else {
                throw ConfigError(file: directory.path, "its image processor cuts \(naflex.patchSize)-pixel patches but the image tower's patch_size is \(tower.config.patchSize).")
            }
            return ZeroShot(model: model, tokenizer: tokenizer, images: nil, naflexImages: naflex, masksTextPadding: masks)
        }
        guard let vision = model.vision else { throw ConfigError(file: directory.path, "has no image tower.") }
        var preprocess = try dir.preprocessConfig(imageSize: vision.config.imageSize)
        if try dir.processorSettings(.image) == nil { preprocess = model.isSigmoid ? .siglip : .clip }
        let images: TorchvisionImageProcessor
        do { images = try TorchvisionImageProcessor(preprocess) } catch {
            throw ConfigError(file: directory.path, "its image processor settings cannot be used: \(error)")
        }
        return ZeroShot(model: model, tokenizer: tokenizer, images: images, masksTextPadding: masks)
    }

    /// Whether transformers' tokenizer for `dir` returns `attention_mask` (which the zero-shot
    /// pipeline and `model(**processor(...))` then pass to the text tower): the config's
    /// `model_input_names` when it has them (SigLIP's conversion wrote `["input_ids"]`, so its
    /// texts run unmasked, as SigLIP was trained), else the tokenizer classes' default, which
    /// in transformers 5.23 includes it.
    static func tokenizerReturnsAttentionMask(_ dir: ModelDirectory) throws -> Bool {
        let file = dir.url.appendingPathComponent("tokenizer_config.json")
        guard let data = FileManager.default.contents(atPath: file.path) else { return true }
        guard let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ConfigError(file: file.path, "is not a JSON object.")
        }
        guard let names = config["model_input_names"], !(names is NSNull) else { return true }
        guard let list = names as? [String] else {
            throw ConfigError(file: file.path, "'model_input_names' must be a list of strings.")
        }
        return list.contains("attention_mask")
    }

    /// tokenizer.json (siglip2: as `Siglip2Tokenizer`), or for SigLIP a SentencePiece `spiece.model`.
    static func loadTokenizer(_ dir: ModelDirectory, model: ContrastiveModel) throws -> any TextIdEncoder {
        let directory = dir.url
        if FileManager.default.fileExists(atPath: directory.appendingPathComponent("tokenizer.json").path) {
            return model.isNaFlex ? try Tokenizer.siglip2(directory: directory) : try dir.tokenizer()
        }
        let spiece = directory.appendingPathComponent("spiece.model")
        if FileManager.default.fileExists(atPath: spiece.path) {
            guard model.modelType == "siglip" else {
                throw ConfigError(file: directory.path, "has only a SentencePiece model (spiece.model); vidlm reads one for SigLIP (model_type siglip) checkpoints, and this is '\(model.modelType)', which needs a tokenizer.json.")
            }
            return try SiglipSentencePieceTokenizer.load(directory: directory)
        }
        throw ConfigError(file: directory.path, "has no tokenizer.json (or, for SigLIP, spiece.model); the text tower needs one.")
    }

    // MARK: Text

    /// `text` without leading and trailing white space as Python's `str.strip()` sees it: the
    /// scalars with Unicode's White_Space property, and the separators U+001C–U+001F, which
    /// `str.isspace()` counts too. (Foundation's `whitespacesAndNewlines` also takes U+200B ZERO
    /// WIDTH SPACE, a format character that the tokenizer then never sees.)
    public static func trimmed(_ text: String) -> String {
        func space(_ s: Unicode.Scalar) -> Bool { s.properties.isWhitespace || (0x1C...0x1F).contains(s.value) }
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !space($0) }), let last = scalars.lastIndex(where: { !space($0) }) else { return "" }
        return String(scalars[first...last])
    }

    /// The texts the labels become: `template` with "{}" replaced by each label, or the labels;
    /// each label without its surrounding white space (`trimmed`).
    public static func prompts(labels: [String], template: String?) throws -> [String] {
        let cleaned = labels.map(trimmed)
        guard !cleaned.isEmpty, !cleaned.allSatisfy(\.isEmpty) else {
            throw EngineError.invalidOption("give at least one non-empty label")
        }
        if let i = cleaned.firstIndex(of: "") {
            throw EngineError.invalidOption("label \(i + 1) is empty")
        }
        guard let template else { return cleaned }
        guard template.contains("{}") else {
            throw EngineError.invalidOption("the template must contain {} where the label goes (e.g. \"a photo of {}.\")")
        }
        return cleaned.map { template.replacingOccurrences(of: "{}", with: $0) }
    }

    /// The ids and attention mask the text tower reads for a text: the tokenizer's (special
    /// tokens added); for SigLIP truncated and padded to its fixed length as
    /// `tokenizer(text, padding="max_length", max_length=64, truncation=True)` does.
    public func textInput(_ text: String) -> (ids: [Int], mask: [Int]) {
        let ids = tokenizer.encode(text, truncatingTo: model.isSigmoid ? model.paddedTextLength : nil)
        return model.textInput(ids, pad: tokenizer.padTokenId, padLeft: tokenizer.padsLeft)
    }

    /// The ids the text tower reads for a text (see `textInput`).
    public func ids(_ text: String) -> [Int] { textInput(text).ids }

    /// Normalised text embeddings [M, P].
    public func textEmbeddings(_ texts: [String]) throws -> Tensor {
        Tensor.concatenate(try texts.map { text in
            let input = textInput(text)
            return try model.textEmbedding(input.ids, mask: masksTextPadding ? input.mask : nil)
        })
    }

    // MARK: Images

    /// Normalised image embeddings [N, P] of pictures.
    public func imageEmbeddings(_ pictures: [RGBImage]) throws -> Tensor {
        if let naflexImages {
            guard !pictures.isEmpty else { throw PreprocessError.noFrames }
            let patches = try pictures.map { try naflexImages.patches($0) }
            return try model.imageEmbeddings(patches: patches.map { ($0.rows, $0.height, $0.width) })
        }
        guard let images else { throw EngineError.invalidOption("the model has no image processor") }
        return try model.imageEmbeddings(try images.pixels(pictures))
    }

    /// The frames of a file: its one picture, or `frames` (default 8) uniformly spread frames of a
    /// clip; with their indices and times.
    public static func decode(_ path: String, frames count: Int?) async throws -> (kind: MediaKind, frames: [FrameInfo], images: [RGBImage]) {
        if let count, count < 1 { throw EngineError.invalidOption("the frame count must be at least 1, got \(count)") }
        let decoder = try await MediaDecoder.open(path)
        let timeline = try await decoder.timeline()
        let still = try await decoder.probe().isStillImage
        let kind: MediaKind = still || timeline.count == 1 ? .image : .video
        let request = FrameRequest(.uniform(count: kind == .image ? 1 : (count ?? defaultFrameCount)))
        var infos: [FrameInfo] = [], images: [RGBImage] = []
        for try await frame in decoder.frames(request) {
            try Task.checkCancellation()
            infos.append(FrameInfo(index: frame.index, seconds: frame.seconds))
            images.append(frame.image)
        }
        guard !images.isEmpty else { throw EngineError.noFrames(path) }
        return (kind, infos, images)
    }

    // MARK: Classification

    /// Scores of one picture or frame.
    public struct FrameScores: Sendable, Codable, Equatable {
        public let index: Int
        public let seconds: Double
        public let logits: [Float]
        public let probabilities: [Float]
    }

    public struct Classification: Sendable, Codable, Equatable {
        public let kind: MediaKind
        public let labels: [String]
        public let texts: [String]
        /// Per label: the probability for an image, the frames' mean for a clip.
        public let probabilities: [Float]
        public let frames: [FrameScores]

        /// Labels with their probabilities, most likely first.
        public var ranked: [(label: String, probability: Float)] {
            zip(labels, probabilities).sorted { $0.1 > $1.1 }.map { (label: $0.0, probability: $0.1) }
        }
    }

    /// Scores pictures (one image, or a clip's frames) against labels.
    public func classify(_ pictures: [RGBImage], frames: [FrameInfo], kind: MediaKind, labels: [String], template: String?) throws -> Classification {
        let texts = try Self.prompts(labels: labels, template: template)
        return scores(imageEmbeddings: try imageEmbeddings(pictures), frames: frames, kind: kind, labels: labels, texts: texts,
                      textEmbeddings: try textEmbeddings(texts))
    }

    /// The classification of image embeddings [N, P] (one per frame) against embedded labels.
    func scores(imageEmbeddings: Tensor, frames: [FrameInfo], kind: MediaKind, labels: [String], texts: [String],
                textEmbeddings: Tensor) -> Classification {
        let logits = model.logits(images: imageEmbeddings, texts: textEmbeddings)
        let probabilities = model.probabilities(logits)
        let m = texts.count, l = logits.floats(), p = probabilities.floats()
        let scores = frames.enumerated().map { i, f in
            FrameScores(index: f.index, seconds: f.seconds, logits: Array(l[i * m..<(i + 1) * m]), probabilities: Array(p[i * m..<(i + 1) * m]))
        }
        var mean = [Float](repeating: 0, count: m)
        for s in scores { for j in 0..<m { mean[j] += s.probabilities[j] } }
        let count = Float(max(scores.count, 1))
        return Classification(kind: kind, labels: labels.map(Self.trimmed), texts: texts,
                              probabilities: mean.map { $0 / count }, frames: scores)
    }

    /// Decodes `path` and classifies it (see `classify(_:frames:kind:labels:template:)`).
    public func classify(path: String, labels: [String], template: String?, frames count: Int? = nil) async throws -> Classification {
        try await classify(paths: [path], labels: labels, template: template, frames: count)[0]
    }

    /// Classifies several files against the same labels, in order: the labels go through the text
    /// tower once, and consecutive still images through the image tower together
    /// (`ThreadBudget.visionBatch(tokensPerFrame:)` at a time: one pass over the tower's weights
    /// per batch instead of per picture); a clip's frames are one batch of their own.
    public func classify(paths: [String], labels: [String], template: String?, frames count: Int? = nil) async throws -> [Classification] {
        // Labels are checked before any decoding.
        let texts = try Self.prompts(labels: labels, template: template)
        let textEmbeds = try textEmbeddings(texts)
        // A NaFlex picture has at most max_num_patches rows.
        let tokens = model.vision?.config.tokenCount ?? naflexImages?.maxNumPatches ?? 256
        let batch = ThreadBudget.visionBatch(tokensPerFrame: tokens)
        var results: [Classification] = []
        results.reserveCapacity(paths.count)
        var pending: [(frame: FrameInfo, image: RGBImage)] = []
        func flush() throws {
            guard !pending.isEmpty else { return }
            let rows = try imageEmbeddings(pending.map(\.image))
            let p = rows.shape[1], v = rows.floats()
            for (i, item) in pending.enumerated() {
                let row = Tensor(shape: [1, p], values: Array(v[i * p..<(i + 1) * p]))
                results.append(scores(imageEmbeddings: row, frames: [item.frame], kind: .image, labels: labels, texts: texts,
                                      textEmbeddings: textEmbeds))
            }
            pending.removeAll(keepingCapacity: true)
        }
        for path in paths {
            let (kind, infos, pictures) = try await Self.decode(path, frames: count)
            try Task.checkCancellation()
            if kind == .image {
                pending.append((infos[0], pictures[0]))
                if pending.count >= batch { try flush() }
            } else {
                try flush()
                results.append(scores(imageEmbeddings: try imageEmbeddings(pictures), frames: infos, kind: kind, labels: labels,
                                      texts: texts, textEmbeddings: textEmbeds))
            }
        }
        try flush()
        return results
    }
}

extension ZeroShot {
    /// What `embed` made: one row per picture (an image, a clip's frames) or for the text.
    public struct Embeddings: Sendable {
        public struct Frame: Sendable, Codable, Equatable {
            public let index: Int
            public let seconds: Double
        }
        /// "image", "video" or "text".
        public let kind: String
        public let frames: [Frame]?
        /// Normalised embeddings [N, P].
        public let embeddings: Tensor
        /// A clip's frames averaged and normalised again [P] (nil otherwise).
        public let mean: Tensor?
    }

    /// Embeds a media file (its picture, or `frames` frames of a clip) or a text.
    public func embed(path: String?, text: String?, frames count: Int? = nil) async throws -> Embeddings {
        if let text {
            guard !Self.trimmed(text).isEmpty else { throw EngineError.invalidOption("the text to embed is empty") }
            return Embeddings(kind: "text", frames: nil, embeddings: try textEmbeddings([text]), mean: nil)
        }
        guard let path else { throw EngineError.invalidOption("give a media file or a text to embed") }
        let (kind, infos, pictures) = try await Self.decode(path, frames: count)
        let rows = try imageEmbeddings(pictures)
        var mean: Tensor? = nil
        if kind == .video {
            let n = rows.shape[0], p = rows.shape[1], v = rows.floats()
            var sum = [Float](repeating: 0, count: p)
            for i in 0..<n { for k in 0..<p { sum[k] += v[i * p + k] } }
            mean = ContrastiveModel.normalized(Tensor(shape: [1, p], values: sum)).reshaped([p])
        }
        return Embeddings(kind: kind.rawValue, frames: infos.map { Embeddings.Frame(index: $0.index, seconds: $0.seconds) },
                          embeddings: rows, mean: mean)
    }
}
