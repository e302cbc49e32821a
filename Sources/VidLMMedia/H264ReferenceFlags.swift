/// Tells from the first bytes of an H.264 packet whether no other frame may refer to its picture
/// (every slice NAL has `nal_ref_idc` 0). libavcodec skips such frames outright when asked to
/// (`AVDISCARD_NONREF`), so they cost almost nothing to pass over while seeking to a wanted
/// frame. Only the decode-cost estimate (`DecodeSchedule`) uses this: a wrong answer can make a
/// schedule slower, never a frame wrong.
struct H264ReferenceFlags: Sendable, Equatable {
    /// How NAL units are delimited in the stream's packets.
    enum Framing: Sendable, Equatable {
        /// MP4 / Matroska ("avcC"): each NAL unit follows its big-endian length of this many bytes.
        case lengthPrefixed(Int)
        /// MPEG-TS and raw streams (Annex B): each NAL unit follows a 00 00 01 start code.
        case annexB
    }

    let framing: Framing

    /// The framing the stream's extradata declares: an avcC record (version byte 1) gives the
    /// length size in its fifth byte; anything else means start codes.
    init(extradata: UnsafeBufferPointer<UInt8>) {
        if extradata.count >= 5, extradata[0] == 1 {
            framing = .lengthPrefixed(Int(extradata[4] & 3) + 1)
        } else {
            framing = .annexB
        }
    }

    init(framing: Framing) { self.framing = framing }

    /// Bytes of a packet's start that are read to find its first slice: parameter sets, SEI and
    /// access-unit delimiters usually come before it, and are short except on key frames (which
    /// are references anyway).
    static let prefixBytes = 256

    /// Whether the packet beginning with `bytes` is a non-reference picture: true when its first
    /// slice NAL has `nal_ref_idc` 0, false when it is a reference, nil when no slice starts in
    /// these bytes.
    func isNonReference(_ bytes: UnsafeRawBufferPointer) -> Bool? {
        switch framing {
        case .lengthPrefixed(let size): return Self.firstSliceNonReference(lengthPrefixed: bytes, lengthSize: size)
        case .annexB: return Self.firstSliceNonReference(annexB: bytes)
        }
    }

    /// The answer for one NAL header byte: nil when it is not a slice (types 1-5).
    private static func sliceNonReference(header: UInt8) -> Bool? {
        let type = header & 0x1F
        guard (1...5).contains(type) else { return nil }
        return header & 0x60 == 0
    }

    private static func firstSliceNonReference(lengthPrefixed bytes: UnsafeRawBufferPointer, lengthSize: Int) -> Bool? {
        var offset = 0
        while offset + lengthSize < bytes.count {
            var length = 0
            for i in 0..<lengthSize { length = length << 8 | Int(bytes[offset + i]) }
            guard length > 0 else { return nil }
            if let answer = sliceNonReference(header: bytes[offset + lengthSize]) { return answer }
            offset += lengthSize + length
        }
        return nil
    }

    private static func firstSliceNonReference(annexB bytes: UnsafeRawBufferPointer) -> Bool? {
        var i = 0
        while i + 3 < bytes.count {
            if bytes[i] == 0, bytes[i + 1] == 0, bytes[i + 2] == 1 {
                if let answer = sliceNonReference(header: bytes[i + 3]) { return answer }
                i += 3
            } else {
                i += 1
            }
        }
        return nil
    }
}
