import CFFmpeg
#if canImport(Glibc)
import Glibc
#endif

extension MediaDecoder {
    /// How an H.264 stream's packets frame their NAL units; nil for every other codec.
    var h264ReferenceFlags: H264ReferenceFlags? {
        let par = format.stream(streamIndex).pointee.codecpar!
        guard par.pointee.codec_id == AV_CODEC_ID_H264 else { return nil }
        let size = Int(max(0, par.pointee.extradata_size))
        return H264ReferenceFlags(extradata: UnsafeBufferPointer(start: par.pointee.extradata, count: size))
    }

    /// The frames among `ranges` (timeline positions as `Timeline.bytesBefore` counts them) that
    /// are non-reference H.264 pictures, which a decoder seeking past them skips. For the
    /// decode-cost estimate only; nil where unknown (other codecs, or a timeline another decoder
    /// built). Costs no decoding: a scanned timeline noted them while reading packets, and for an
    /// MP4 sample table the first bytes of each sample in `ranges` are read (a few hundred bytes
    /// for each frame the request will decode anyway).
    func nonReferenceFrames(in ranges: [ClosedRange<Int>]) -> Set<Int>? {
        guard let t = cachedTimeline else { return nil }
        if let scanned = scannedNonReference, scanned.count == t.count {
            var found = Set<Int>()
            for r in ranges { for i in r where i >= 0 && i < scanned.count && scanned[i] { found.insert(i) } }
            return found
        }
        guard timelineFromSampleTable, let flags = h264ReferenceFlags else { return nil }
        let st = format.stream(streamIndex)
        guard Int(avformat_index_get_entries_count(st)) == t.count else { return nil }
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var buffer = [UInt8](repeating: 0, count: H264ReferenceFlags.prefixBytes)
        var found = Set<Int>()
        for r in ranges {
            for i in r where i >= 0 && i < t.count {
                guard let e = avformat_index_get_entry(st, Int32(i)) else { return nil }
                let want = min(Int(vidlm_index_size(e)), buffer.count)
                guard want > 0, e.pointee.pos >= 0 else { continue }
                let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(e.pointee.pos)) }
                guard got > 0 else { return nil }
                if buffer.withUnsafeBytes({ flags.isNonReference(UnsafeRawBufferPointer(rebasing: $0[0..<got])) }) == true {
                    found.insert(i)
                }
            }
        }
        return found
    }

    /// Whether the packet in `packet` is a non-reference H.264 picture (see `H264ReferenceFlags`).
    func packetIsNonReference(_ flags: H264ReferenceFlags) -> Bool {
        guard let data = packet.pointer.pointee.data else { return false }
        let count = min(max(0, packet.size), H264ReferenceFlags.prefixBytes)
        return flags.isNonReference(UnsafeRawBufferPointer(start: data, count: count)) == true
    }
}
