import Foundation

extension CodingUserInfoKey {
    /// Put a `PreprocessConfig.Family` under this key in a decoder's `userInfo` to choose which
    /// processor class supplies absent fields, overriding the file's `image_processor_type`.
    public static let preprocessFamily = CodingUserInfoKey(rawValue: "vidlm.preprocessFamily")!
}

/// Reads and writes `preprocessor_config.json` (snake_case keys).
///
/// Absent or `null` fields take the value of the processor class named by `image_processor_type`
/// (or the older `feature_extractor_type`), as transformers does; see `PreprocessConfig.Family`.
/// `size` may be `{"height","width"}`, `{"shortest_edge"}`, an int (square or shortest edge,
/// per `default_to_square`) or `[height, width]`; `crop_size` the same minus `shortest_edge`, an
/// int meaning a square. `image_mean` / `image_std` may be a list or one number for all channels.
/// Decoding validates (`validate()`), so a decoded config is usable and bad values fail as
/// `PreprocessError`s; malformed JSON fails as `DecodingError`.
extension PreprocessConfig: Codable {
    enum CodingKeys: String, CodingKey {
        case doResize = "do_resize", size, resample
        case doCenterCrop = "do_center_crop", cropSize = "crop_size"
        case doRescale = "do_rescale", rescaleFactor = "rescale_factor"
        case doNormalize = "do_normalize", imageMean = "image_mean", imageStd = "image_std"
        case doConvertRGB = "do_convert_rgb", defaultToSquare = "default_to_square"
        case imageProcessorType = "image_processor_type", featureExtractorType = "feature_extractor_type"
    }

    /// Decodes JSON bytes; `family` overrides the class named in the file.
    public static func decode(json: Data, family: Family? = nil) throws -> PreprocessConfig {
        let decoder = JSONDecoder()
        if let family { decoder.userInfo[.preprocessFamily] = family }
        return try decoder.decode(PreprocessConfig.self, from: json)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let family: Family
        if let chosen = decoder.userInfo[.preprocessFamily] as? Family {
            family = chosen
        } else if let t = try c.decodeIfPresent(String.self, forKey: .imageProcessorType)
                    ?? c.decodeIfPresent(String.self, forKey: .featureExtractorType) {
            family = Family(processorType: t)
        } else {
            family = .base
        }
        var cfg = PreprocessConfig.defaults(for: family)

        if let v = try c.decodeIfPresent(Bool.self, forKey: .defaultToSquare) { cfg.defaultToSquare = v }
        if let v = try c.decodeIfPresent(Bool.self, forKey: .doResize) { cfg.doResize = v }
        if let raw = try c.decodeIfPresent(RawSize.self, forKey: .size) {
            cfg.size = try raw.size(field: "size", intIsSquare: cfg.defaultToSquare)
        }
        if let code = try c.decodeIfPresent(Int.self, forKey: .resample) {
            guard let f = ResampleFilter(rawValue: code) else { throw PreprocessError.unsupportedResample(code) }
            cfg.resample = f
        }
        if let v = try c.decodeIfPresent(Bool.self, forKey: .doCenterCrop) { cfg.doCenterCrop = v }
        if let raw = try c.decodeIfPresent(RawSize.self, forKey: .cropSize) {
            // transformers converts crop_size with get_size_dict's default: an int is a square.
            switch try raw.size(field: "crop_size", intIsSquare: true) {
            case let .heightWidth(h, w): cfg.cropSize = CropSize(height: h, width: w)
            case .shortestEdge:
                throw PreprocessError.unsupportedSizeKeys(field: "crop_size", keys: ["shortest_edge"])
            }
        }
        if let v = try c.decodeIfPresent(Bool.self, forKey: .doRescale) { cfg.doRescale = v }
        if let v = try c.decodeIfPresent(Double.self, forKey: .rescaleFactor) { cfg.rescaleFactor = v }
        if let v = try c.decodeIfPresent(Bool.self, forKey: .doNormalize) { cfg.doNormalize = v }
        if let v = try c.decodeIfPresent(ChannelValues.self, forKey: .imageMean) { cfg.imageMean = v.values }
        if let v = try c.decodeIfPresent(ChannelValues.self, forKey: .imageStd) { cfg.imageStd = v.values }
        if let v = try c.decodeIfPresent(Bool.self, forKey: .doConvertRGB) { cfg.doConvertRGB = v }

        try cfg.validate()
        self = cfg
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(doResize, forKey: .doResize)
        switch size {
        case let .heightWidth(h, w)?: try c.encode(["height": h, "width": w], forKey: .size)
        case let .shortestEdge(s)?: try c.encode(["shortest_edge": s], forKey: .size)
        case nil: break
        }
        try c.encode(resample.rawValue, forKey: .resample)
        try c.encode(doCenterCrop, forKey: .doCenterCrop)
        if let cropSize { try c.encode(["height": cropSize.height, "width": cropSize.width], forKey: .cropSize) }
        try c.encode(doRescale, forKey: .doRescale)
        try c.encode(rescaleFactor, forKey: .rescaleFactor)
        try c.encode(doNormalize, forKey: .doNormalize)
        try c.encodeIfPresent(imageMean, forKey: .imageMean)
        try c.encodeIfPresent(imageStd, forKey: .imageStd)
        try c.encode(doConvertRGB, forKey: .doConvertRGB)
        try c.encode(defaultToSquare, forKey: .defaultToSquare)
    }
}

/// The shapes a `size` / `crop_size` value takes in config files.
private enum RawSize: Decodable {
    case int(Int)
    case list([Int])
    case dict([String: Int])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let v = try? c.decode(Int.self) { self = .int(v) }
        else if let v = try? c.decode([Int].self) { self = .list(v) }
        else { self = .dict(try c.decode([String: Int].self)) }
    }

    func size(field: String, intIsSquare: Bool) throws -> PreprocessConfig.Size {
        switch self {
        case let .int(n):
            return intIsSquare ? .heightWidth(height: n, width: n) : .shortestEdge(n)
        case let .list(v):
            // transformers reads a 2-element sequence as (height, width).
            guard v.count == 2 else { throw PreprocessError.unsupportedSizeKeys(field: field, keys: ["<\(v.count) numbers>"]) }
            return .heightWidth(height: v[0], width: v[1])
        case let .dict(d):
            let keys = Set(d.keys)
            if keys == ["height", "width"], let h = d["height"], let w = d["width"] {
                return .heightWidth(height: h, width: w)
            }
            if keys == ["shortest_edge"], let s = d["shortest_edge"] { return .shortestEdge(s) }
            throw PreprocessError.unsupportedSizeKeys(field: field, keys: keys.sorted())
        }
    }
}

/// `image_mean` / `image_std`: a list, or one number meaning the same value for every channel.
private struct ChannelValues: Decodable {
    let values: [Double]
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let v = try? c.decode(Double.self) { values = [v, v, v] }
        else { values = try c.decode([Double].self) }
    }
}
