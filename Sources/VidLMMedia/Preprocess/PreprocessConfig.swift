/// The image-processing half of a Hugging Face `preprocessor_config.json`, for the steps
/// BlipImageProcessor / CLIPImageProcessor / SiglipImageProcessor run (PIL backend):
/// resize -> centre crop -> rescale -> normalize. Decoding lives in `PreprocessConfig+Codable.swift`.
public struct PreprocessConfig: Sendable, Equatable {
    /// `size`: either an exact output (`{"height", "width"}`, aspect ratio not kept) or the length the
    /// shorter side is resized to (`{"shortest_edge"}`, aspect ratio kept).
    public enum Size: Sendable, Equatable {
        case heightWidth(height: Int, width: Int)
        case shortestEdge(Int)
    }

    /// `crop_size`: `{"height", "width"}`.
    public struct CropSize: Sendable, Equatable {
        public var height: Int
        public var width: Int
        public init(height: Int, width: Int) { self.height = height; self.width = width }
    }

    /// Which transformers image processor class supplies the values a config file leaves out.
    /// transformers fills an absent (or `null`) field from the processor class's attribute, so the
    /// same JSON means different things for different classes (a BLIP config omits
    /// `do_center_crop` and means "no crop"; an old CLIP config omits `do_rescale` and means "rescale").
    public enum Family: String, Sendable, CaseIterable {
        /// transformers' `BaseImageProcessor`: every step off, PIL-backend resample BILINEAR.
        case base
        case clip
        case blip
        case siglip

        /// The family for an `image_processor_type` / `feature_extractor_type` string
        /// ("CLIPImageProcessor", "CLIPImageProcessorFast", "CLIPFeatureExtractor", ...); `.base` if unknown.
        public init(processorType: String) {
            var t = processorType
            for suffix in ["Fast", "Pil"] where t.hasSuffix(suffix) { t.removeLast(suffix.count) }
            switch t {
            case "CLIPImageProcessor", "CLIPFeatureExtractor", "LlavaImageProcessor": self = .clip
            case "BlipImageProcessor": self = .blip
            case "SiglipImageProcessor": self = .siglip
            default: self = .base
            }
        }
    }

    public var doResize: Bool
    public var size: Size?
    public var resample: ResampleFilter
    public var doCenterCrop: Bool
    public var cropSize: CropSize?
    public var doRescale: Bool
    public var rescaleFactor: Double
    public var doNormalize: Bool
    public var imageMean: [Double]?
    public var imageStd: [Double]?
    /// Frames are already RGB (`RGBImage`), so this is carried for round-tripping only.
    public var doConvertRGB: Bool
    /// How an integer `size` in a config file is read: `{height: n, width: n}` if true,
    /// `{shortest_edge: n}` if false (transformers' `default_to_square`).
    public var defaultToSquare: Bool

    /// Defaults are those of transformers' `BaseImageProcessor` (every step off).
    public init(doResize: Bool = false, size: Size? = nil, resample: ResampleFilter = .bilinear,
                doCenterCrop: Bool = false, cropSize: CropSize? = nil,
                doRescale: Bool = false, rescaleFactor: Double = 1.0 / 255.0,
                doNormalize: Bool = false, imageMean: [Double]? = nil, imageStd: [Double]? = nil,
                doConvertRGB: Bool = false, defaultToSquare: Bool = true) {
        self.doResize = doResize
        self.size = size
        self.resample = resample
        self.doCenterCrop = doCenterCrop
        self.cropSize = cropSize
        self.doRescale = doRescale
        self.rescaleFactor = rescaleFactor
        self.doNormalize = doNormalize
        self.imageMean = imageMean
        self.imageStd = imageStd
        self.doConvertRGB = doConvertRGB
        self.defaultToSquare = defaultToSquare
    }

    /// transformers' `OPENAI_CLIP_MEAN` / `OPENAI_CLIP_STD` (CLIP, BLIP).
    public static let openAIClipMean = [0.48145466, 0.4578275, 0.40821073]
    public static let openAIClipStd = [0.26862954, 0.26130258, 0.27577711]
    /// transformers' `IMAGENET_STANDARD_MEAN` / `_STD` (SigLIP).
    public static let imagenetStandardMean = [0.5, 0.5, 0.5]
    public static let imagenetStandardStd = [0.5, 0.5, 0.5]

    /// The class attributes of the transformers 5.x image processor for `family`.
    public static func defaults(for family: Family) -> PreprocessConfig {
        switch family {
        case .base:
            return PreprocessConfig()
        case .clip:   // CLIPImageProcessor(Pil)
            return PreprocessConfig(doResize: true, size: .shortestEdge(224), resample: .bicubic,
                                    doCenterCrop: true, cropSize: CropSize(height: 224, width: 224),
                                    doRescale: true, doNormalize: true,
                                    imageMean: openAIClipMean, imageStd: openAIClipStd,
                                    doConvertRGB: true, defaultToSquare: false)
        case .blip:   // BlipImageProcessor(Pil)
            return PreprocessConfig(doResize: true, size: .heightWidth(height: 384, width: 384),
                                    resample: .bicubic, doRescale: true, doNormalize: true,
                                    imageMean: openAIClipMean, imageStd: openAIClipStd,
                                    doConvertRGB: true, defaultToSquare: true)
        case .siglip: // SiglipImageProcessor(Pil)
            return PreprocessConfig(doResize: true, size: .heightWidth(height: 224, width: 224),
                                    resample: .bicubic, doRescale: true, doNormalize: true,
                                    imageMean: imagenetStandardMean, imageStd: imagenetStandardStd,
                                    doConvertRGB: true, defaultToSquare: false)
        }
    }

    public static var clip: PreprocessConfig { defaults(for: .clip) }
    public static var blip: PreprocessConfig { defaults(for: .blip) }
    public static var siglip: PreprocessConfig { defaults(for: .siglip) }

    /// Checks what the enabled steps will use, as transformers does when it runs them (a disabled
    /// step's fields are ignored, there and here).
    public func validate() throws {
        if doResize {
            switch size {
            case nil: throw PreprocessError.missingField("size")
            case let .heightWidth(h, w)?:
                guard h > 0 else { throw PreprocessError.invalidSize("size.height", h) }
                guard w > 0 else { throw PreprocessError.invalidSize("size.width", w) }
            case let .shortestEdge(s)?:
                guard s > 0 else { throw PreprocessError.invalidSize("size.shortest_edge", s) }
            }
        }
        if doCenterCrop {
            guard let c = cropSize else { throw PreprocessError.missingField("crop_size") }
            guard c.height > 0 else { throw PreprocessError.invalidSize("crop_size.height", c.height) }
            guard c.width > 0 else { throw PreprocessError.invalidSize("crop_size.width", c.width) }
        }
        if doRescale && !rescaleFactor.isFinite {
            throw PreprocessError.invalidValue(field: "rescale_factor", value: rescaleFactor)
        }
        if doNormalize {
            guard let mean = imageMean else { throw PreprocessError.missingField("image_mean") }
            guard let std = imageStd else { throw PreprocessError.missingField("image_std") }
            guard mean.count == 3 else { throw PreprocessError.wrongChannelCount(field: "image_mean", count: mean.count) }
            guard std.count == 3 else { throw PreprocessError.wrongChannelCount(field: "image_std", count: std.count) }
            for m in mean where !m.isFinite { throw PreprocessError.invalidValue(field: "image_mean", value: m) }
            // std is a divisor: zero (or a float32 that rounds to zero) would make infinities.
            for s in std where !s.isFinite || Float(s) == 0 {
                throw PreprocessError.invalidValue(field: "image_std", value: s)
            }
        }
    }
}
