import CFFmpeg
import Foundation

/// Encodes RGB pictures as PNG with libavcodec's encoder (no extra image library needed).
public enum PNGEncoder {
    public static func encode(_ image: RGBImage) throws(MediaError) -> Data {
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_PNG) else {
            throw .writeFailed("this libavcodec has no PNG encoder")
        }
        var context = avcodec_alloc_context3(codec)
        defer { avcodec_free_context(&context) }
        var frame = av_frame_alloc()
        defer { av_frame_free(&frame) }
        var packet = av_packet_alloc()
        defer { av_packet_free(&packet) }
        guard let context, let frame, let packet else { throw .writeFailed("out of memory") }
        context.pointee.width = Int32(image.width)
        context.pointee.height = Int32(image.height)
        context.pointee.pix_fmt = AV_PIX_FMT_RGB24
        context.pointee.time_base = AVRational(num: 1, den: 25)
        do {
            try AVError.check(avcodec_open2(context, codec, nil))
            frame.pointee.width = Int32(image.width)
            frame.pointee.height = Int32(image.height)
            frame.pointee.format = AV_PIX_FMT_RGB24.rawValue
            try AVError.check(av_frame_get_buffer(frame, 0))
            let rowBytes = image.width * 3
            let stride = Int(frame.pointee.linesize.0)
            image.pixels.withUnsafeBufferPointer { src in
                for y in 0..<image.height {
                    (frame.pointee.data.0! + y * stride).update(from: src.baseAddress! + y * rowBytes, count: rowBytes)
                }
            }
            try AVError.check(avcodec_send_frame(context, frame))
            try AVError.check(avcodec_send_frame(context, nil))
            var data = Data()
            while true {
                let r = avcodec_receive_packet(context, packet)
                if r == AVError.eof.code || r == AVError.tryAgain.code { break }
                try AVError.check(r)
                data.append(packet.pointee.data, count: Int(packet.pointee.size))
                av_packet_unref(packet)
            }
            guard !data.isEmpty else { throw MediaError.writeFailed("the PNG encoder produced nothing") }
            return data
        } catch let error as AVError {
            throw .writeFailed("PNG encoding: \(error.description)")
        } catch let error as MediaError {
            throw error
        } catch {
            throw .writeFailed("PNG encoding: \(error)")
        }
    }
}
