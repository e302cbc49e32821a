/// One decoded frame, upright, as it leaves the decoder actor.
public struct VideoFrame: Sendable {
    /// Presentation-order frame number (0 = first displayed frame).
    public let index: Int
    /// Presentation timestamp in the stream's time base.
    public let pts: Int64
    /// Seconds from the first displayed frame.
    public let seconds: Double
    public let image: RGBImage
}

/// Counters a decoder keeps, so tests and benchmarks can see how much work a request cost.
public struct DecodeStatistics: Sendable, Equatable {
    public var packetsRead = 0
    public var framesDecoded = 0
    public var seeks = 0
    public var corruptPackets = 0
    public init() {}
}
