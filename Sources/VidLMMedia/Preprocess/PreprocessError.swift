/// Everything preprocessing can reject. Sizes and configs come from users and model files, so bad
/// values surface as these errors, never as traps.
public enum PreprocessError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A width, height, edge length or crop size that is zero or negative (the name says which).
    case invalidSize(String, Int)
    /// `image_mean` / `image_std` without exactly one value per RGB channel.
    case wrongChannelCount(field: String, count: Int)
    /// A `image_std` entry that is zero or not finite, or a non-finite mean / rescale factor.
    case invalidValue(field: String, value: Double)
    /// A step is enabled but the value it needs is absent (e.g. `do_center_crop` without `crop_size`).
    case missingField(String)
    /// A `size` / `crop_size` dictionary whose keys are not one of the supported sets.
    case unsupportedSizeKeys(field: String, keys: [String])
    /// A `resample` code that is not a PIL filter code (0...5).
    case unsupportedResample(Int)
    /// A resize plan applied to an image of another size.
    case imageSizeMismatch(expectedWidth: Int, expectedHeight: Int, width: Int, height: Int)
    /// Preprocessing an empty frame list.
    case noFrames
    /// Frames that came out of the pipeline with different sizes cannot share one tensor
    /// (only possible with `shortest_edge` resizing and no centre crop).
    case inconsistentFrameSizes(first: [Int], other: [Int], frameIndex: Int)
    /// A tensor shape whose element count does not match the values.
    case shapeMismatch(shape: [Int], valueCount: Int)

    public var description: String {
        switch self {
        case let .invalidSize(name, v): return "\(name) must be positive, got \(v)"
        case let .wrongChannelCount(field, n): return "\(field) needs 3 values (one per RGB channel), got \(n)"
        case let .invalidValue(field, v): return "\(field) has an invalid value \(v)"
        case let .missingField(f): return "\(f) is required by the enabled preprocessing steps but absent"
        case let .unsupportedSizeKeys(field, keys):
            return "\(field) keys \(keys) are not supported (use {height, width} or {shortest_edge})"
        case let .unsupportedResample(c): return "resample code \(c) is not a PIL filter (0...5)"
        case let .imageSizeMismatch(ew, eh, w, h): return "resize plan is for \(ew)x\(eh), image is \(w)x\(h)"
        case .noFrames: return "no frames to preprocess"
        case let .inconsistentFrameSizes(first, other, i):
            return "frame \(i) preprocesses to \(other), frame 0 to \(first); they cannot share a tensor"
        case let .shapeMismatch(shape, n): return "shape \(shape) does not hold \(n) values"
        }
    }
}
