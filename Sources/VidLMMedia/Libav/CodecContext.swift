import CFFmpeg

/// Owns one opened decoder `AVCodecContext`; freed in `deinit`.
final class CodecContext {
    let pointer: UnsafeMutablePointer<AVCodecContext>

    /// Opens a decoder for `stream` with `threads` decoding threads (0 lets libav choose).
    init(stream: UnsafeMutablePointer<AVStream>, threads: Int) throws(MediaError) {
        let parameters = stream.pointee.codecpar!
        let codecID = parameters.pointee.codec_id
        guard let codec = avcodec_find_decoder(codecID) else {
            throw MediaError.unsupportedCodec(name: CodecContext.codecName(codecID, parameters))
        }
        guard let context = avcodec_alloc_context3(codec) else {
            throw MediaError.decodeFailed(AVError.outOfMemory.description)
        }
        pointer = context
        do {
            try AVError.check(avcodec_parameters_to_context(context, parameters))
            context.pointee.pkt_timebase = stream.pointee.time_base
            context.pointee.thread_count = Int32(threads)
            context.pointee.thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE
            try AVError.check(avcodec_open2(context, codec, nil))
        } catch {
            throw MediaError.unsupportedCodec(
                name: CodecContext.codecName(codecID, parameters) + " (\(error.description))")
        }
    }

    deinit {
        var owned: UnsafeMutablePointer<AVCodecContext>? = pointer
        avcodec_free_context(&owned)
    }

    /// A readable name for a codec id; for codecs libav does not know, the container's fourcc.
    static func codecName(_ id: AVCodecID, _ parameters: UnsafeMutablePointer<AVCodecParameters>) -> String {
        if id != AV_CODEC_ID_NONE, let name = avcodec_get_name(id) {
            return String(cString: name)
        }
        let tag = parameters.pointee.codec_tag
        let bytes = (0..<4).map { UInt8((tag >> (8 * UInt32($0))) & 0xff) }
        if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }), tag != 0 {
            return "'" + String(decoding: bytes, as: UTF8.self) + "'"
        }
        return "unknown"
    }

    /// Sends a packet (nil = drain). Returns false when the decoder's input is full (EAGAIN):
    /// the caller must receive frames first and send the same packet again.
    func send(_ packet: Packet?) throws(AVError) -> Bool {
        let r = avcodec_send_packet(pointer, packet?.pointer)
        if r == AVError.tryAgain.code { return false }
        if r == AVError.eof.code { return true } // already draining: nothing more to accept
        try AVError.check(r)
        return true
    }

    enum Receive { case frame, needInput, endOfStream }

    /// Receives the next decoded frame into `frame`.
    func receive(into frame: Frame) throws(AVError) -> Receive {
        let r = avcodec_receive_frame(pointer, frame.pointer)
        if r == AVError.tryAgain.code { return .needInput }
        if r == AVError.eof.code { return .endOfStream }
        try AVError.check(r)
        return .frame
    }

    /// Drops buffered frames and state, e.g. after a seek.
    func flush() { avcodec_flush_buffers(pointer) }

    /// Which packets the decoder may skip entirely (non-reference frames before a target).
    var skipFrame: AVDiscard {
        get { pointer.pointee.skip_frame }
        set { pointer.pointee.skip_frame = newValue }
    }
}
