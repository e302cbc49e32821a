import CFFmpeg

/// Owns one `AVPacket`; its payload is unreferenced after every use, the packet freed in `deinit`.
final class Packet {
    let pointer: UnsafeMutablePointer<AVPacket>

    init() throws(AVError) {
        guard let p = av_packet_alloc() else { throw AVError.outOfMemory }
        pointer = p
    }

    deinit {
        var owned: UnsafeMutablePointer<AVPacket>? = pointer
        av_packet_free(&owned)
    }

    var streamIndex: Int { Int(pointer.pointee.stream_index) }
    var pts: Int64? { pointer.pointee.pts == vidlm_nopts_value() ? nil : pointer.pointee.pts }
    var dts: Int64? { pointer.pointee.dts == vidlm_nopts_value() ? nil : pointer.pointee.dts }
    var duration: Int64 { pointer.pointee.duration }
    var size: Int { Int(pointer.pointee.size) }
    var position: Int64 { pointer.pointee.pos }
    var isKey: Bool { pointer.pointee.flags & vidlm_pkt_flag_key() != 0 }
    var isDiscard: Bool { pointer.pointee.flags & vidlm_pkt_flag_discard() != 0 }

    func unref() { av_packet_unref(pointer) }
}
