import CFFmpeg

/// Owns one `AVFrame`; freed in `deinit`.
final class Frame {
    let pointer: UnsafeMutablePointer<AVFrame>

    init() throws(AVError) {
        guard let f = av_frame_alloc() else { throw AVError.outOfMemory }
        pointer = f
    }

    deinit {
        var owned: UnsafeMutablePointer<AVFrame>? = pointer
        av_frame_free(&owned)
    }

    var width: Int { Int(pointer.pointee.width) }
    var height: Int { Int(pointer.pointee.height) }
    var pixelFormat: AVPixelFormat { AVPixelFormat(rawValue: pointer.pointee.format) }

    /// The frame's presentation timestamp as its packet stated it (the pts a packet scan sees),
    /// else libav's best-effort guess. `best_effort_timestamp` alone is not used: once it has seen
    /// two frames with the same pts it switches to dts-derived values for the rest of the stream,
    /// which then no longer match the container's timestamps.
    var presentationTimestamp: Int64? {
        let p = pointer.pointee.pts
        return p != vidlm_nopts_value() ? p : bestEffortTimestamp
    }

    /// The presentation timestamp libav trusts most (pts, else guessed from dts).
    var bestEffortTimestamp: Int64? {
        let t = pointer.pointee.best_effort_timestamp
        if t != vidlm_nopts_value() { return t }
        let p = pointer.pointee.pts
        return p == vidlm_nopts_value() ? nil : p
    }

    var isCorrupt: Bool { vidlm_frame_is_corrupt(pointer) != 0 }

    func unref() { av_frame_unref(pointer) }

    /// Moves this frame's buffers into `other` (which must be empty) and leaves this one empty.
    func move(into other: Frame) {
        av_frame_unref(other.pointer)
        av_frame_move_ref(other.pointer, pointer)
    }
}
